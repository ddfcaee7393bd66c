package index

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
	"github.com/bintap/bintap/internal/position"
)

// rowsPerInsert is how many changes one INSERT statement carries: one
// statement per row spends most of its time in the driver's per-call work.
const rowsPerInsert = 64

// changeColumns is the number of bound values per change row.
const changeColumns = 11

// Writer appends changes to the index inside one open SQLite transaction,
// which Commit closes together with the checkpoint that covers them. One
// Writer per index; it is not safe for concurrent use.
type Writer struct {
	s    *Store
	conn *sql.Conn
	tx   *sql.Tx
	// stmts caches the multi-row INSERT of each row count.
	stmts map[int]*sql.Stmt

	args    []any // bound values of the rows not yet inserted
	pending int   // changes added since the last Commit

	tableIDs map[string]int64        // "schema.name" → table_id
	defs     map[*change.Table]int64 // table version → definition_id

	lastTx    *change.Tx
	lastTxID  int64
	lastTxKey txKey
	nextTx    int64
	nextID    int64

	sinceSet bool // covered_since is recorded

	buf    []byte
	broken error // set by a failed commit: ids and caches no longer match the file
}

type txKey struct {
	gtid string
	file string
	pos  uint32
}

// NewWriter returns the index's writer.
func (s *Store) NewWriter(ctx context.Context) (*Writer, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &Writer{s: s, conn: conn, stmts: map[int]*sql.Stmt{}, tableIDs: map[string]int64{}, defs: map[*change.Table]int64{}}
	var maxChange, maxTx sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT (SELECT max(change_id) FROM changes), (SELECT max(tx_id) FROM transactions)`).Scan(&maxChange, &maxTx); err != nil {
		conn.Close()
		return nil, err
	}
	w.nextID, w.nextTx = maxChange.Int64+1, maxTx.Int64+1
	if maxTx.Valid {
		var gtid sql.NullString
		err := conn.QueryRowContext(ctx, `SELECT gtid, binlog_file, binlog_pos FROM transactions WHERE tx_id = ?`, maxTx.Int64).
			Scan(&gtid, &w.lastTxKey.file, &w.lastTxKey.pos)
		if err != nil {
			conn.Close()
			return nil, err
		}
		w.lastTxKey.gtid, w.lastTxID = gtid.String, maxTx.Int64
	}
	return w, nil
}

// Pending is the number of changes added since the last Commit.
func (w *Writer) Pending() int { return w.pending }

func (w *Writer) begin() error {
	if w.broken != nil {
		return fmt.Errorf("the index writer stopped after an earlier error: %w", w.broken)
	}
	if w.tx != nil {
		return nil
	}
	tx, err := w.conn.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	w.tx = tx
	return nil
}

// Add appends one event. Inserts, updates and deletes are indexed; other
// operations (schema records, heartbeats, snapshot reads) are not changes
// and are skipped. After an error the writer refuses further work.
func (w *Writer) Add(ev *change.Event) error {
	if err := w.add(ev); err != nil {
		return w.abort(err)
	}
	return nil
}

func (w *Writer) add(ev *change.Event) error {
	var typ string
	switch ev.Op {
	case change.OpInsert:
		typ = "insert"
	case change.OpUpdate:
		typ = "update"
	case change.OpDelete:
		typ = "delete"
	default:
		return nil
	}
	if ev.Table == nil || ev.Tx == nil {
		return fmt.Errorf("%s event without table or transaction", typ)
	}
	if err := w.begin(); err != nil {
		return err
	}
	txID, err := w.txID(ev.Tx)
	if err != nil {
		return err
	}
	tableID, defID, err := w.table(ev.Table)
	if err != nil {
		return err
	}
	t := ev.Table
	keyRow := ev.After
	if ev.Op == change.OpDelete {
		keyRow = ev.Before
	}
	pk := w.key(t, keyRow)
	var oldPK any
	if ev.Op == change.OpUpdate && pk != nil {
		if before := w.key(t, ev.Before); *before != *pk {
			oldPK = *before
		}
	}
	var before, after, changed any
	if ev.Before != nil {
		w.buf = format.AppendRowObject(w.buf[:0], t.Columns, ev.Before, format.BinaryHex)
		before = string(w.buf)
	}
	if ev.After != nil {
		w.buf = format.AppendRowObject(w.buf[:0], t.Columns, ev.After, format.BinaryHex)
		after = string(w.buf)
	}
	if ev.Op == change.OpUpdate {
		changed = changedColumns(w.buf[:0], t.Columns, ev.Before, ev.After)
	}
	var pkArg any
	if pk != nil {
		pkArg = *pk
	}
	w.args = append(w.args, w.nextID, txID, int64(ev.EventNumber), tableID, defID, pkArg, oldPK, typ, before, after, changed)
	w.nextID++
	w.pending++
	if len(w.args) == rowsPerInsert*changeColumns {
		return w.insertRows()
	}
	return nil
}

// key renders the primary key of row as the index stores it: a JSON array
// of the key values, written exactly. nil when the table has no key.
func (w *Writer) key(t *change.Table, row []change.Value) *string {
	if len(t.PrimaryKey) == 0 || row == nil {
		return nil
	}
	b := AppendKey(w.buf[:0], t, row)
	w.buf = b
	s := string(b)
	return &s
}

// AppendKey appends the canonical key text of row: a JSON array of its
// primary key values in key order, such as [42] or ["a",7].
func AppendKey(dst []byte, t *change.Table, row []change.Value) []byte {
	dst = append(dst, '[')
	for i, c := range t.PrimaryKey {
		if i > 0 {
			dst = append(dst, ',')
		}
		if c < len(row) {
			dst = format.AppendValue(dst, &row[c], format.BinaryHex)
		}
	}
	return append(dst, ']')
}

// changedColumns is the JSON array of the names of the columns whose value
// differs between the images (columns missing from either are left out).
func changedColumns(buf []byte, cols []change.Column, before, after []change.Value) string {
	buf = append(buf, '[')
	n := 0
	for i := range before {
		if i >= len(after) || i >= len(cols) {
			break
		}
		b, a := &before[i], &after[i]
		if b.Kind == change.KindMissing || a.Kind == change.KindMissing || sameValue(b, a) {
			continue
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		n++
		buf = format.AppendJSONString(buf, cols[i].Name)
	}
	return string(append(buf, ']'))
}

func sameValue(a, b *change.Value) bool {
	return a.Kind == b.Kind && a.Int == b.Int && a.Uint == b.Uint &&
		math.Float64bits(a.Float) == math.Float64bits(b.Float) && bytes.Equal(a.Text, b.Text)
}

// txID returns the id of the event's transaction, recording it when new.
// A transaction cut by a restart arrives again with a new Tx value: the same
// GTID and position mean the same transaction.
func (w *Writer) txID(t *change.Tx) (int64, error) {
	if t == w.lastTx {
		return w.lastTxID, nil
	}
	k := txKey{gtid: t.GTID, file: t.File, pos: t.Pos}
	if k == w.lastTxKey && w.lastTxID != 0 {
		w.lastTx = t
		return w.lastTxID, nil
	}
	var gtid any
	if t.GTID != "" {
		gtid = t.GTID
	}
	id := w.nextTx
	if _, err := w.tx.Exec(`INSERT INTO transactions (tx_id, gtid, binlog_file, binlog_pos, commit_time) VALUES (?, ?, ?, ?, ?)`,
		id, gtid, t.File, int64(t.Pos), int64(t.Timestamp)); err != nil {
		return 0, fmt.Errorf("insert transaction: %w", err)
	}
	if !w.sinceSet {
		// The index is complete from its first transaction on (reconstruct
		// relies on it); retention moves this forward.
		if _, err := w.tx.Exec(`INSERT OR IGNORE INTO meta (key, value) VALUES ('covered_since', ?)`, strconv.FormatInt(int64(t.Timestamp), 10)); err != nil {
			return 0, err
		}
		w.sinceSet = true
	}
	w.nextTx++
	w.lastTx, w.lastTxID, w.lastTxKey = t, id, k
	return id, nil
}

// table returns the ids of a table and of this version of its definition,
// recording them when new.
func (w *Writer) table(t *change.Table) (tableID, defID int64, err error) {
	if id, ok := w.defs[t]; ok {
		return w.tableIDs[t.FullName()], id, nil
	}
	name := t.FullName()
	tableID, ok := w.tableIDs[name]
	if !ok {
		err := w.tx.QueryRow(`SELECT table_id FROM tables WHERE schema_name = ? AND table_name = ?`, t.Schema, t.Name).Scan(&tableID)
		if errors.Is(err, sql.ErrNoRows) {
			var res sql.Result
			res, err = w.tx.Exec(`INSERT INTO tables (schema_name, table_name) VALUES (?, ?)`, t.Schema, t.Name)
			if err == nil {
				tableID, err = res.LastInsertId()
			}
		}
		if err != nil {
			return 0, 0, fmt.Errorf("record table %s: %w", name, err)
		}
		w.tableIDs[name] = tableID
	}
	def, err := definitionJSON(t)
	if err != nil {
		return 0, 0, err
	}
	err = w.tx.QueryRow(`SELECT definition_id FROM table_versions WHERE table_id = ? AND version = ? AND definition = ?`, tableID, t.Version, def).Scan(&defID)
	if errors.Is(err, sql.ErrNoRows) {
		var res sql.Result
		res, err = w.tx.Exec(`INSERT INTO table_versions (table_id, version, definition) VALUES (?, ?, ?)`, tableID, t.Version, def)
		if err == nil {
			defID, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("record definition of %s: %w", name, err)
	}
	w.defs[t] = defID
	return tableID, defID, nil
}

// insertRows inserts the buffered rows with one statement.
func (w *Writer) insertRows() error {
	n := len(w.args) / changeColumns
	if n == 0 {
		return nil
	}
	st, ok := w.stmts[n]
	if !ok {
		var b strings.Builder
		b.WriteString(`INSERT INTO changes (change_id, tx_id, event_number, table_id, definition_id, pk, old_pk, event_type, before_image, after_image, changed_columns) VALUES `)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
		}
		var err error
		if st, err = w.conn.PrepareContext(context.Background(), b.String()); err != nil {
			return fmt.Errorf("prepare insert: %w", err)
		}
		w.stmts[n] = st
	}
	if _, err := w.tx.Stmt(st).Exec(w.args...); err != nil {
		return fmt.Errorf("insert changes: %w", err)
	}
	clear(w.args)
	w.args = w.args[:0]
	return nil
}

// Commit inserts what is buffered and commits it together with cp, the
// checkpoint that covers every change added so far.
func (w *Writer) Commit(cp position.Checkpoint) error {
	if cp.File == "" {
		return errors.New("commit without a checkpoint")
	}
	if err := w.begin(); err != nil {
		return err
	}
	if err := w.insertRows(); err != nil {
		return w.abort(err)
	}
	_, err := w.tx.Exec(`INSERT INTO stream_state (id, flavor, binlog_file, binlog_pos, skip, gtid, gtid_state, updated_at)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET flavor = excluded.flavor, binlog_file = excluded.binlog_file,
			binlog_pos = excluded.binlog_pos, skip = excluded.skip, gtid = excluded.gtid,
			gtid_state = excluded.gtid_state, updated_at = excluded.updated_at`,
		cp.Flavor, cp.File, int64(cp.Pos), int64(cp.Skip), cp.GTID, cp.GTIDState, time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return w.abort(fmt.Errorf("write stream_state: %w", err))
	}
	err = w.tx.Commit()
	w.tx = nil
	if err != nil {
		w.broken = err
		return fmt.Errorf("commit: %w", err)
	}
	w.pending = 0
	return nil
}

// abort rolls back after a failure: the writer cannot continue, because its
// ids no longer match what is stored.
func (w *Writer) abort(err error) error {
	if err != nil && w.broken == nil {
		w.broken = err
	}
	if w.tx != nil {
		w.tx.Rollback()
		w.tx = nil
	}
	return err
}

// Close rolls back anything not committed and releases the connection.
func (w *Writer) Close() error {
	w.abort(nil)
	for _, st := range w.stmts {
		st.Close()
	}
	return w.conn.Close()
}
