package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
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

// Query returns the changes of a table that match f, newest first unless
// f.Oldest.
//
// The candidates come from the narrowest index the filter allows: the key
// tables for --pk, the transactions' time or GTID index for a window, else
// the blocks holding changes of the table, newest (or oldest) first. The
// other conditions are checked on each candidate.
func (s *Store) Query(ctx context.Context, f Filter) ([]Change, error) {
	ref, err := s.LookupTable(ctx, f.Schema, f.Table)
	if err != nil {
		return nil, err
	}
	q := &query{s: s, f: f, table: ref.ID, blocks: blockReader{q: s.db}, txs: map[int64]*txInfo{}, defs: map[int64]*columns{}}
	switch {
	case f.PK != nil:
		key, err := KeyText(ref.Latest, f.PK)
		if err != nil {
			return nil, err
		}
		err = q.byKey(ctx, key)
	case !f.Since.IsZero() || !f.Until.IsZero() || f.GTID != "":
		err = q.byWindow(ctx)
	default:
		err = q.byTable(ctx)
	}
	if errors.Is(err, errEnough) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("query index: %w", err)
	}
	return q.out, nil
}

// errEnough ends a query that has its Limit of changes.
var errEnough = errors.New("enough changes")

type query struct {
	s      *Store
	f      Filter
	table  int64
	blocks blockReader
	txs    map[int64]*txInfo
	defs   map[int64]*columns // definitions of binary elements read
	out    []Change
}

// txInfo is a transactions row.
type txInfo struct {
	gtid        string
	file        string
	pos         uint32
	commitTime  int64
	first, last int64
}

// appendIDs appends the change ids the query sel answers.
func (q *query) appendIDs(ctx context.Context, ids []int64, sel string, args ...any) ([]int64, error) {
	rows, err := q.s.db.QueryContext(ctx, sel, args...)
	if err != nil {
		return ids, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// byKey reads the changes listed under the key (or, for updates that
// changed it, under the old key), in change order.
func (q *query) byKey(ctx context.Context, key string) error {
	var ids []int64
	var err error
	for _, sel := range []string{sqlKeyChanges, sqlOldKeyChanges} {
		if ids, err = q.appendIDs(ctx, ids, sel, q.table, key, key); err != nil {
			return err
		}
	}
	if k, ok := intKey([]byte(key)); ok && q.s.keyRuns {
		if ids, err = q.appendIDs(ctx, ids, sqlKeyRuns, k, q.table, k-(maxRunChanges-1), k, k); err != nil {
			return err
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if !q.f.Oldest {
		slices.Reverse(ids)
	}
	for _, id := range ids {
		if err := q.change(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// The statements behind the queries (plan_test.go checks they use indexes).
const (
	sqlKeyChanges    = `SELECT change_id FROM change_keys WHERE table_id = ? AND length(pk) = length(?) AND pk = ?`
	sqlOldKeyChanges = `SELECT change_id FROM change_old_keys WHERE table_id = ? AND length(old_pk) = length(?) AND old_pk = ?`
	// sqlKeyRuns: the change of key K (the first argument, again the last
	// two) in the runs that hold it; a run lies within a block, so it
	// starts at most maxRunChanges-1 keys before K (the third).
	sqlKeyRuns = `SELECT first_change + (? - first_key) FROM change_key_runs WHERE table_id = ? AND first_key BETWEEN ? AND ? AND first_key + n > ?`
	sqlTx      = `SELECT tx_id, gtid, binlog_file, binlog_pos, commit_time, first_change, last_change FROM transactions WHERE tx_id = ?`
	sqlBlockOf = `SELECT first_change, last_change, changes, offsets FROM change_blocks WHERE first_change <= ? ORDER BY first_change DESC LIMIT 1`
)

// byWindow reads the changes of the transactions in the time or GTID
// window, found through the transactions' indexes.
func (q *query) byWindow(ctx context.Context) error {
	query, args := q.s.dialect.windowSQL(q.f)
	rows, err := q.s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	var txs []int64
	for rows.Next() {
		id, t, err := scanTx(rows)
		if err != nil {
			rows.Close()
			return err
		}
		q.txs[id] = t
		txs = append(txs, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range txs {
		if err := q.span(ctx, q.txs[id].first, q.txs[id].last); err != nil {
			return err
		}
	}
	return nil
}

// span checks the changes first..last, in the query's order.
func (q *query) span(ctx context.Context, first, last int64) error {
	for i := int64(0); i <= last-first; i++ {
		c := first + i
		if !q.f.Oldest {
			c = last - i
		}
		if err := q.change(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// windowSQL selects the transactions of a time or GTID window.
func (d dialect) windowSQL(f Filter) (string, []any) {
	var where []string
	var args []any
	index := "transactions_by_time"
	if !f.Since.IsZero() || !f.Until.IsZero() {
		since, until := int64(0), int64(1<<62)
		if !f.Since.IsZero() {
			since = f.Since.Unix()
		}
		if !f.Until.IsZero() {
			until = f.Until.Unix()
		}
		where = append(where, `commit_time BETWEEN ? AND ?`)
		args = append(args, since, until)
	}
	if f.GTID != "" {
		index = "transactions_by_gtid"
		where = append(where, `gtid = ?`)
		args = append(args, f.GTID)
	}
	if f.UntilTx > 0 {
		where = append(where, `tx_id <= ?`)
		args = append(args, f.UntilTx)
	}
	order := "tx_id DESC"
	if f.Oldest {
		order = "tx_id"
	}
	// INDEXED BY: without statistics SQLite may prefer walking every
	// transaction in tx_id order to sorting the few in the window.
	from := "transactions"
	if d == sqliteDB {
		from += " INDEXED BY " + index
	}
	return `SELECT tx_id, gtid, binlog_file, binlog_pos, commit_time, first_change, last_change
		FROM ` + from + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order, args
}

// byTable reads the blocks that hold changes of the table.
func (q *query) byTable(ctx context.Context) error {
	order := "DESC"
	if q.f.Oldest {
		order = ""
	}
	rows, err := q.s.db.QueryContext(ctx, `SELECT first_change, last_change, table_ids FROM change_blocks ORDER BY first_change `+order)
	if err != nil {
		return err
	}
	type span struct{ first, last int64 }
	var spans []span
	for rows.Next() {
		var sp span
		var tables string
		if err := rows.Scan(&sp.first, &sp.last, &tables); err != nil {
			rows.Close()
			return err
		}
		if holdsTable(tables, q.table) {
			spans = append(spans, sp)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, sp := range spans {
		if err := q.span(ctx, sp.first, sp.last); err != nil {
			return err
		}
	}
	return nil
}

// holdsTable reports whether the JSON array of table ids holds id.
func holdsTable(list string, id int64) bool {
	want := strconv.FormatInt(id, 10)
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == '[' || r == ']' || r == ',' }) {
		if f == want {
			return true
		}
	}
	return false
}

// change checks change id against the filter and keeps it when it
// matches; errEnough once Limit changes are kept.
func (q *query) change(ctx context.Context, id int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := q.blocks.block(ctx, id)
	if err != nil || b == nil {
		return err // nil: removed by retention meanwhile
	}
	e := b.element(id)
	if e == nil {
		return fmt.Errorf("change %d: %w", id, errElement)
	}
	h, err := parseHeader(e)
	if err != nil {
		return fmt.Errorf("change %d: %w", id, err)
	}
	f := &q.f
	if h.table != q.table || (f.UntilTx > 0 && h.tx > f.UntilTx) || (len(f.Types) > 0 && !slices.Contains(f.Types, h.typ)) {
		return nil
	}
	t, err := q.tx(ctx, h.tx)
	if err != nil || t == nil {
		return err
	}
	if (!f.Since.IsZero() && t.commitTime < f.Since.Unix()) || (!f.Until.IsZero() && t.commitTime > f.Until.Unix()) ||
		(f.GTID != "" && t.gtid != f.GTID) {
		return nil
	}
	bd, err := q.body(ctx, &h)
	if err != nil {
		return fmt.Errorf("change %d: %w", id, err)
	}
	if f.ChangedColumn != "" {
		var cols []string
		if len(bd.Changed) > 0 {
			if err := json.Unmarshal(bd.Changed, &cols); err != nil {
				return fmt.Errorf("change %d: %w", id, err)
			}
		}
		if !slices.Contains(cols, f.ChangedColumn) {
			return nil
		}
	}
	if f.WhereColumn != "" {
		match, err := imageHas(bd.Before, f.WhereColumn, f.WhereValue)
		if err == nil && !match {
			match, err = imageHas(bd.After, f.WhereColumn, f.WhereValue)
		}
		if err != nil {
			return fmt.Errorf("change %d: %w", id, err)
		}
		if !match {
			return nil
		}
	}
	q.out = append(q.out, Change{ID: id, TxID: h.tx, EventNumber: uint64(h.n), DefinitionID: h.def,
		Schema: f.Schema, Table: f.Table, PK: bd.PK, OldPK: bd.OldPK, Type: h.typ,
		Before: string(bd.Before), After: string(bd.After), Changed: string(bd.Changed),
		GTID: t.gtid, File: t.file, Pos: t.pos, CommitTime: time.Unix(t.commitTime, 0).UTC()})
	if f.Limit > 0 && len(q.out) >= f.Limit {
		return errEnough
	}
	return nil
}

// body decodes the rest of an element, JSON or binary (with the columns of
// its table definition).
func (q *query) body(ctx context.Context, h *header) (body, error) {
	if !h.bin {
		return parseBody(h.rest)
	}
	cols, ok := q.defs[h.def]
	if !ok {
		t, err := q.s.Definition(ctx, h.def)
		if err != nil {
			return body{}, err
		}
		cols = newColumns(t)
		q.defs[h.def] = cols
	}
	return parseBinaryBody(h, cols)
}

// imageHas reports whether a row image has value in column: strings
// compare as their text, numbers as their JSON text, which keeps the exact
// digits (1.50 is not 1.5); NULL matches nothing.
func imageHas(image json.RawMessage, column, value string) (bool, error) {
	if len(image) == 0 {
		return false, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(image, &m); err != nil {
		return false, err
	}
	v, ok := m[column]
	if !ok || string(v) == "null" {
		return false, nil
	}
	if v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return false, err
		}
		return s == value, nil
	}
	return string(v) == value, nil
}

// tx returns a transaction's row, nil when retention removed it.
func (q *query) tx(ctx context.Context, id int64) (*txInfo, error) {
	if t, ok := q.txs[id]; ok {
		return t, nil
	}
	rows, err := q.s.db.QueryContext(ctx, sqlTx, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var t *txInfo
	if rows.Next() {
		if _, t, err = scanTx(rows); err != nil {
			return nil, err
		}
	}
	q.txs[id] = t
	return t, rows.Err()
}

func scanTx(rows *sql.Rows) (int64, *txInfo, error) {
	var id, pos int64
	var gtid sql.NullString
	t := &txInfo{}
	if err := rows.Scan(&id, &gtid, &t.file, &pos, &t.commitTime, &t.first, &t.last); err != nil {
		return 0, nil, err
	}
	t.gtid, t.pos = gtid.String, uint32(pos)
	return id, t, nil
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
