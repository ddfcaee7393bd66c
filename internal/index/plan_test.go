package index

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The queries behind --pk and windows must use the indexes, never a scan of
// every change (a regression here makes queries on a large index slow).
func TestQueryPlansUseIndexes(t *testing.T) {
	s, _ := openTemp(t)
	w, err := s.NewWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(writeTx(t, w, 1, 1000, 1, 5)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for _, c := range []struct {
		f    Filter
		want []string // plan steps that must appear
	}{
		{Filter{Schema: "s", Table: "t", PK: []string{"1"}}, []string{"changes_by_pk (table_id=? AND pk=?)", "changes_by_old_pk (table_id=? AND old_pk=?)"}},
		{Filter{Schema: "s", Table: "t", PK: []string{"1"}, Limit: 1, UntilTx: 3, Until: testTime(2000)}, []string{"changes_by_pk (table_id=? AND pk=?)"}},
		{Filter{Schema: "s", Table: "t", GTID: "0-1-1"}, []string{"SEARCH x USING INDEX transactions_by_gtid (gtid=?)", "SEARCH c USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"}},
		{Filter{Schema: "s", Table: "t", Since: testTime(900), Until: testTime(2000)}, []string{"SEARCH x USING INDEX transactions_by_time", "SEARCH c USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"}},
	} {
		f := c.f
		q, args, err := s.buildQuery(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.db.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		for _, d := range plan {
			if strings.HasPrefix(d, "SCAN c") || strings.HasPrefix(d, "SCAN x") {
				t.Errorf("filter %+v scans a table: %s", f, p)
			}
		}
		for _, w := range c.want {
			if !strings.Contains(p, w) {
				t.Errorf("filter %+v: plan %q lacks %q", f, p, w)
			}
		}
	}
}

func testTime(sec int64) time.Time { return time.Unix(sec, 0) }
