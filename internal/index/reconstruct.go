package index

import (
	"context"
	"fmt"
	"time"
)

// RowStatus says what Reconstruct could establish.
type RowStatus string

const (
	RowExists   RowStatus = "exists"    // Row holds the row as it was
	RowDeleted  RowStatus = "deleted"   // the row had been deleted (by Change)
	RowAbsent   RowStatus = "absent"    // the row did not exist yet: its first change is its insert
	RowUnknown  RowStatus = "unknown"   // the index does not hold what is needed to tell
	RowTooEarly RowStatus = "too_early" // the point is before what the index covers
)

// RowState is a row at a point in time.
type RowState struct {
	Status RowStatus
	Row    string  // JSON object when Status is RowExists
	Change *Change // the change that left the row so (or the next one, see Note)
	Note   string  // how the answer was found, in words
}

// Point is a moment in the stream: a commit time, or a GTID (the state
// right after that transaction).
type Point struct {
	Time time.Time
	GTID string
}

// Reconstruct returns the row of the given key as it was at p.
func (s *Store) Reconstruct(ctx context.Context, schema, table string, pk []string, p Point) (RowState, error) {
	f := Filter{Schema: schema, Table: table, PK: pk, Limit: 1}
	at := p.Time
	if p.GTID != "" {
		tx, ts, err := s.TxOfGTID(ctx, p.GTID)
		if err != nil {
			return RowState{}, err
		}
		if tx == 0 {
			return RowState{}, fmt.Errorf("GTID %s is not in the change index (no indexed change of any table in that transaction)", p.GTID)
		}
		f.UntilTx, at = tx, ts
	} else {
		f.Until = p.Time
	}
	last, err := s.Query(ctx, f)
	if err != nil {
		return RowState{}, err
	}
	if len(last) == 1 {
		c := &last[0]
		if c.Type == "delete" {
			return RowState{Status: RowDeleted, Change: c, Note: "deleted by the change shown"}, nil
		}
		return RowState{Status: RowExists, Row: c.After, Change: c, Note: "as written by the change shown"}, nil
	}
	// Nothing at or before the point: look at the first change after it.
	next, err := s.Query(ctx, Filter{Schema: schema, Table: table, PK: pk, Limit: 1, Oldest: true})
	if err != nil {
		return RowState{}, err
	}
	since, err := s.CoveredSince(ctx)
	if err != nil {
		return RowState{}, err
	}
	var first *Change
	if len(next) == 1 {
		first = &next[0]
	}
	if since.IsZero() || at.Before(since) {
		st := RowState{Status: RowTooEarly, Change: first,
			Note: fmt.Sprintf("the change index does not reach back to %s: it holds every change since %s", at.Format(time.DateTime), fmtSince(since))}
		if first != nil && first.Type == "insert" {
			st.Note += fmt.Sprintf("; the first change it knows of this key is its insert at %s", first.CommitTime.Format(time.DateTime))
		}
		return st, nil
	}
	switch {
	case first == nil:
		return RowState{Status: RowUnknown, Note: fmt.Sprintf("no change of this key is indexed since %s: the row was not changed, and the index cannot tell whether it existed", fmtSince(since))}, nil
	case first.Type == "insert":
		return RowState{Status: RowAbsent, Change: first, Note: "the row did not exist yet: it was inserted by the change shown"}, nil
	}
	return RowState{Status: RowExists, Row: first.Before, Change: first,
		Note: "unchanged since the index began; this is the before image of the next change, shown"}, nil
}

func fmtSince(t time.Time) string {
	if t.IsZero() {
		return "(nothing indexed yet)"
	}
	return t.Format(time.DateTime) + " UTC"
}
