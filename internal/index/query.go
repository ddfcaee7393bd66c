package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
)

// Filter selects changes of one table. Zero fields do not filter.
type Filter struct {
	Schema, Table string
	// PK is the primary key as the user typed it, one part per key column
	// ("123", or "a|b" split into "a" and "b").
	PK            []string
	Since, Until  time.Time // commit time window, both ends included
	GTID          string
	Types         []string // insert, update, delete
	ChangedColumn string
	// WhereColumn/WhereValue match changes whose before or after image has
	// this value in this column, written as bintap writes it (numbers with
	// their exact digits, binary as hex).
	WhereColumn, WhereValue string
	Limit                   int
	Oldest                  bool // oldest first; newest first by default
	// BeforeTx/UntilTx limit the changes to transactions up to (and including) this id.
	UntilTx int64
}

// Change is one indexed row change.
type Change struct {
	ID           int64
	TxID         int64
	EventNumber  uint64
	DefinitionID int64
	Schema       string
	Table        string
	PK           string // canonical key text (JSON array), "" when the table has no key
	OldPK        string // the key before an update that changed it, else ""
	Type         string // insert, update, delete
	Before       string // JSON object, "" when none
	After        string
	Changed      string // JSON array of column names (updates), "" otherwise
	GTID         string
	File         string
	Pos          uint32
	CommitTime   time.Time
}

// TableRef is a table known to the index with its newest definition.
type TableRef struct {
	ID     int64
	Latest *change.Table
}

// ErrNoTable is returned when the index holds nothing of a table.
var ErrNoTable = errors.New("table not in the change index")

// LookupTable finds a table and its newest definition.
func (s *Store) LookupTable(ctx context.Context, schema, name string) (TableRef, error) {
	var ref TableRef
	err := s.db.QueryRowContext(ctx, `SELECT table_id FROM tables WHERE schema_name = ? AND table_name = ?`, schema, name).Scan(&ref.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return ref, fmt.Errorf("%w: %s.%s has no indexed changes (check the name, and --schemas/--tables of the stream)", ErrNoTable, schema, name)
	}
	if err != nil {
		return ref, err
	}
	var def string
	if err := s.db.QueryRowContext(ctx, `SELECT definition FROM table_versions WHERE table_id = ? ORDER BY version DESC, definition_id DESC LIMIT 1`, ref.ID).Scan(&def); err != nil {
		return ref, fmt.Errorf("definition of %s.%s: %w", schema, name, err)
	}
	ref.Latest = new(change.Table)
	if err := json.Unmarshal([]byte(def), ref.Latest); err != nil {
		return ref, fmt.Errorf("definition of %s.%s: %w", schema, name, err)
	}
	return ref, nil
}

// Definition returns a stored table definition.
func (s *Store) Definition(ctx context.Context, id int64) (*change.Table, error) {
	var def string
	if err := s.db.QueryRowContext(ctx, `SELECT definition FROM table_versions WHERE definition_id = ?`, id).Scan(&def); err != nil {
		return nil, fmt.Errorf("table definition %d: %w", id, err)
	}
	t := new(change.Table)
	if err := json.Unmarshal([]byte(def), t); err != nil {
		return nil, fmt.Errorf("table definition %d: %w", id, err)
	}
	return t, nil
}

// KeyError is a --pk value that does not fit the table's key.
type KeyError struct{ Msg string }

func (e KeyError) Error() string { return e.Msg }

// KeyText turns the key parts a user typed into the canonical key text the
// index stores, using the key columns of t.
func KeyText(t *change.Table, parts []string) (string, error) {
	if len(t.PrimaryKey) == 0 {
		return "", KeyError{fmt.Sprintf("table %s has no primary key, so its changes cannot be looked up by --pk; use --where-column COLUMN=VALUE", t.FullName())}
	}
	if len(parts) != len(t.PrimaryKey) {
		names := make([]string, len(t.PrimaryKey))
		for i, c := range t.PrimaryKey {
			names[i] = t.Columns[c].Name
		}
		return "", KeyError{fmt.Sprintf("invalid --pk: table %s has a primary key of %d column(s) (%s): give %d value(s) separated by |", t.FullName(), len(names), strings.Join(names, ", "), len(names))}
	}
	b := []byte{'['}
	for i, ci := range t.PrimaryKey {
		if i > 0 {
			b = append(b, ',')
		}
		v, err := keyValue(&t.Columns[ci], parts[i])
		if err != nil {
			return "", err
		}
		b = append(b, v...)
	}
	return string(append(b, ']')), nil
}

// keyValue renders one typed key value exactly as the writer does.
func keyValue(c *change.Column, v string) ([]byte, error) {
	bad := func(what string) error {
		return KeyError{fmt.Sprintf("invalid --pk: key column %s (%s): %q is not %s", c.Name, c.Type, v, what)}
	}
	switch c.Type {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year":
		if c.Unsigned {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, bad("an unsigned integer")
			}
			return strconv.AppendUint(nil, n, 10), nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, bad("an integer")
		}
		return strconv.AppendInt(nil, n, 10), nil
	case "bit":
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, bad("an unsigned integer")
		}
		return strconv.AppendUint(nil, n, 10), nil
	case "decimal", "numeric":
		r, ok := new(big.Rat).SetString(v)
		if !ok {
			return nil, bad("a decimal number")
		}
		return []byte(r.FloatString(c.Scale)), nil
	case "float", "double", "real":
		bits := 64
		if c.Type == "float" {
			bits = 32
		}
		f, err := strconv.ParseFloat(v, bits)
		if err != nil {
			return nil, bad("a number")
		}
		kind := change.KindDouble
		if bits == 32 {
			kind = change.KindFloat
		}
		return format.AppendValue(nil, &change.Value{Kind: kind, Float: f}, format.BinaryHex), nil
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		v = strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(v, "0x"), "0X"))
		for _, r := range v {
			if !strings.ContainsRune("0123456789abcdef", r) {
				return nil, bad("hex digits (binary keys are given in hex)")
			}
		}
		if len(v)%2 == 1 {
			return nil, bad("an even number of hex digits")
		}
		return format.AppendJSONString(nil, v), nil
	}
	return format.AppendJSONString(nil, v), nil
}

// Query returns the changes of a table that match f.
func (s *Store) Query(ctx context.Context, f Filter) ([]Change, error) {
	query, args, err := s.buildQuery(ctx, f)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query index: %w", err)
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		c := Change{Schema: f.Schema, Table: f.Table}
		var pk, oldPK, before, after, changed, gtid sql.NullString
		var ts int64
		var pos int64
		if err := rows.Scan(&c.ID, &c.TxID, &c.EventNumber, &c.DefinitionID, &pk, &oldPK, &c.Type,
			&before, &after, &changed, &gtid, &c.File, &pos, &ts); err != nil {
			return nil, fmt.Errorf("query index: %w", err)
		}
		c.PK, c.OldPK, c.Before, c.After, c.Changed, c.GTID = pk.String, oldPK.String, before.String, after.String, changed.String, gtid.String
		c.Pos = uint32(pos)
		c.CommitTime = time.Unix(ts, 0).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// buildQuery is the SQL of a filter.
func (s *Store) buildQuery(ctx context.Context, f Filter) (string, []any, error) {
	ref, err := s.LookupTable(ctx, f.Schema, f.Table)
	if err != nil {
		return "", nil, err
	}
	window := !f.Since.IsZero() || !f.Until.IsZero() || f.GTID != ""
	q := strings.Builder{}
	q.WriteString(`SELECT c.change_id, c.tx_id, c.event_number, c.definition_id, c.pk, c.old_pk, c.event_type,
		c.before_image, c.after_image, c.changed_columns, x.gtid, x.binlog_file, x.binlog_pos, x.commit_time`)
	var args []any
	switch {
	case f.PK != nil:
		// Key history: the (table, key, order) index.
		key, err := KeyText(ref.Latest, f.PK)
		if err != nil {
			return "", nil, err
		}
		// Each of the two key columns through its own index (an OR would
		// make SQLite read every change of the table).
		q.WriteString(` FROM changes c JOIN transactions x ON x.tx_id = c.tx_id WHERE c.change_id IN (
			SELECT change_id FROM changes WHERE table_id = ? AND pk = ?
			UNION ALL SELECT change_id FROM changes WHERE table_id = ? AND old_pk = ?)`)
		args = append(args, ref.ID, key, ref.ID, key)
	case window:
		// Transactions in the window by their indexes (CROSS JOIN keeps
		// them the outer loop), then each one's range of changes.
		q.WriteString(` FROM transactions x CROSS JOIN changes c ON c.change_id BETWEEN x.first_change AND x.last_change WHERE +c.table_id = ?`)
		args = append(args, ref.ID)
	default:
		// The newest (or oldest) changes of the table: walk the changes in
		// order ("+" keeps SQLite from sorting the whole table's key index).
		q.WriteString(` FROM changes c JOIN transactions x ON x.tx_id = c.tx_id WHERE +c.table_id = ?`)
		args = append(args, ref.ID)
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		since, until := int64(0), int64(1<<62)
		if !f.Since.IsZero() {
			since = f.Since.Unix()
		}
		if !f.Until.IsZero() {
			until = f.Until.Unix()
		}
		q.WriteString(` AND x.commit_time BETWEEN ? AND ?`)
		args = append(args, since, until)
	}
	if f.GTID != "" {
		q.WriteString(` AND x.gtid = ?`)
		args = append(args, f.GTID)
	}
	if f.UntilTx > 0 {
		q.WriteString(` AND c.tx_id <= ?`)
		args = append(args, f.UntilTx)
	}
	if len(f.Types) > 0 {
		q.WriteString(` AND c.event_type IN (?` + strings.Repeat(",?", len(f.Types)-1) + `)`)
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if f.ChangedColumn != "" {
		q.WriteString(` AND EXISTS (SELECT 1 FROM json_each(c.changed_columns) WHERE value = ?)`)
		args = append(args, f.ChangedColumn)
	}
	if f.WhereColumn != "" {
		path := `$."` + f.WhereColumn + `"`
		// Strings compare as their text; numbers as the JSON text, which
		// keeps the exact digits (1.50 is not 1.5).
		m := `(CASE json_type(%[1]s, ?) WHEN 'text' THEN json_extract(%[1]s, ?) WHEN 'null' THEN NULL ELSE %[1]s -> ? END) = ?`
		q.WriteString(` AND (` + fmt.Sprintf(m, "c.before_image") + ` OR ` + fmt.Sprintf(m, "c.after_image") + `)`)
		args = append(args, path, path, path, f.WhereValue, path, path, path, f.WhereValue)
	}
	if f.Oldest {
		q.WriteString(` ORDER BY c.change_id`)
	} else {
		q.WriteString(` ORDER BY c.change_id DESC`)
	}
	if f.Limit > 0 {
		q.WriteString(` LIMIT ?`)
		args = append(args, f.Limit)
	}
	return q.String(), args, nil
}

// TxOfGTID returns the index's transaction id of a GTID (0 when unknown).
func (s *Store) TxOfGTID(ctx context.Context, gtid string) (int64, time.Time, error) {
	var id, ts int64
	err := s.db.QueryRowContext(ctx, `SELECT tx_id, commit_time FROM transactions WHERE gtid = ? ORDER BY tx_id DESC LIMIT 1`, gtid).Scan(&id, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	return id, time.Unix(ts, 0).UTC(), err
}

// CoveredSince is the time from which the index holds every change (its
// first transaction, or the retention cutoff); zero when it holds none.
func (s *Store) CoveredSince(ctx context.Context) (time.Time, error) {
	v, err := s.Meta("covered_since")
	if err != nil || v == "" {
		return time.Time{}, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("meta covered_since %q: %w", v, err)
	}
	return time.Unix(n, 0).UTC(), nil
}
