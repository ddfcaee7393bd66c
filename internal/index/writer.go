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

// writerCacheKiB is the writer connection's SQLite page cache (128 MiB).
const writerCacheKiB = 128 << 10

// changeColumns is the number of bound values per change row.
const changeColumns = 11

// Writer appends changes to the index inside one open SQLite transaction,
// which Commit closes together with the checkpoint that covers them. One
// Writer per index; it is not safe for concurrent use.
type Writer struct {
	s    *Store
	conn *sql.Conn
	// inTx: a BEGIN is open on conn. The writer issues BEGIN/COMMIT itself
	// rather than through sql.Tx so that its prepared statements live on
	// the connection across transactions instead of being prepared again.
	inTx bool
	// stmts caches the multi-row INSERT of each row count.
	stmts map[int]*sql.Stmt
	named map[string]*sql.Stmt // other statements, by text

	args    []any // bound values of the rows not yet inserted
	pending int   // changes added since the last Commit

	tableIDs map[string]int64        // "schema.name" → table_id
	defs     map[*change.Table]int64 // table version → definition_id

	lastTx    *change.Tx
	lastTxID  int64
	lastTxKey txKey
	cur       *txRec // the transaction changes are being added to
	nextTx    int64
	nextID    int64

	stopCheckpoints context.CancelFunc
	checkpointsDone chan struct{}

	sinceSet bool // covered_since is recorded

	enc    *Encoder // for Add
	broken error    // set by a failed commit: ids and caches no longer match the file
}

// txRec is a transaction row, written when the transaction ends or at a
// commit (then updated if it goes on), so most transactions cost one insert.
type txRec struct {
	id          int64
	gtid        any
	file        string
	pos         uint32
	ts          uint32
	first, last int64
	dirty       bool
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
	w := &Writer{s: s, conn: conn, stmts: map[int]*sql.Stmt{}, named: map[string]*sql.Stmt{}, tableIDs: map[string]int64{}, defs: map[*change.Table]int64{}, enc: NewEncoder()}
	var maxChange, maxTx sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT (SELECT max(change_id) FROM changes), (SELECT max(tx_id) FROM transactions)`).Scan(&maxChange, &maxTx); err != nil {
		conn.Close()
		return nil, err
	}
	w.nextID, w.nextTx = maxChange.Int64+1, maxTx.Int64+1
	if maxTx.Valid {
		var gtid sql.NullString
		var ts int64
		rec := &txRec{id: maxTx.Int64}
		err := conn.QueryRowContext(ctx, `SELECT gtid, binlog_file, binlog_pos, commit_time, first_change, last_change FROM transactions WHERE tx_id = ?`, maxTx.Int64).
			Scan(&gtid, &rec.file, &rec.pos, &ts, &rec.first, &rec.last)
		if err != nil {
			conn.Close()
			return nil, err
		}
		if gtid.Valid {
			rec.gtid = gtid.String
		}
		rec.ts = uint32(ts)
		w.cur = rec
		w.lastTxKey = txKey{gtid: gtid.String, file: rec.file, pos: rec.pos}
		w.lastTxID = maxTx.Int64
	}
	// Checkpoints (copying the write-ahead log into the database file, with
	// an fsync) run on another connection, so the writer never waits for
	// the disk.
	// Changes of random keys insert all over the key index; a page cache
	// that holds more of it keeps ingest fast as the index grows (34,000
	// against 21,000 random-key changes/s at 1,000,000 changes). At most
	// this much memory is used, only as the index grows.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheKiB)); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
		conn.Close()
		return nil, err
	}
	// A multi-row INSERT keeps a statement journal (the pages it changes,
	// to undo just that statement). Past 64 KiB SQLite spills it to a
	// temporary file, a write system call per page; in memory it is a copy.
	if _, err := conn.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err != nil {
		conn.Close()
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	w.stopCheckpoints, w.checkpointsDone = cancel, make(chan struct{})
	go func() {
		defer close(w.checkpointsDone)
		s.checkpointLoop(cctx)
	}()
	return w, nil
}

// Pending is the number of changes added since the last Commit.
func (w *Writer) Pending() int { return w.pending }

func (w *Writer) begin() error {
	if w.broken != nil {
		return fmt.Errorf("the index writer stopped after an earlier error: %w", w.broken)
	}
	if w.inTx {
		return nil
	}
	if _, err := w.conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	w.inTx = true
	return nil
}

// Add appends one event. Inserts, updates and deletes are indexed; other
// operations (schema records, heartbeats, snapshot reads) are not changes
// and are skipped. After an error the writer refuses further work.
func (w *Writer) Add(ev *change.Event) error {
	r, ok, err := w.enc.Encode(ev)
	if err != nil || !ok {
		return err
	}
	return w.AddRow(&r)
}

// AddRow appends one encoded change. After an error the writer refuses
// further work.
func (w *Writer) AddRow(r *Row) error {
	if err := w.addRow(r); err != nil {
		return w.abort(err)
	}
	return nil
}

func (w *Writer) addRow(r *Row) error {
	if err := w.begin(); err != nil {
		return err
	}
	txID, err := w.txID(r.Tx)
	if err != nil {
		return err
	}
	tableID, defID, err := w.table(r.Table)
	if err != nil {
		return err
	}
	w.cur.last, w.cur.dirty = w.nextID, true
	w.args = append(w.args, w.nextID, txID, int64(r.EventNumber), tableID, defID, r.pk, r.oldPK, r.typ, r.before, r.after, r.changed)
	w.nextID++
	w.pending++
	if len(w.args) == rowsPerInsert*changeColumns {
		return w.insertRows()
	}
	return nil
}

// Row is one change encoded for the index: everything the event's values
// become, so that it outlives the event (whose values are only valid while
// the stream's batch is).
type Row struct {
	Table       *change.Table
	Tx          *change.Tx
	EventNumber uint64
	typ         string
	// pk, oldPK, before, after, changed are string or nil (SQL NULL).
	pk, oldPK, before, after, changed any
}

// Encoder turns events into Rows. It is separate from the Writer so that
// encoding can run on another goroutine than the SQLite inserts.
type Encoder struct {
	names map[*change.Table][][]byte // table version → its columns' `"name":` JSON prefixes
	buf   []byte
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder { return &Encoder{names: map[*change.Table][][]byte{}} }

// Encode encodes an insert, update or delete; ok is false for other events.
func (e *Encoder) Encode(ev *change.Event) (r Row, ok bool, err error) {
	switch ev.Op {
	case change.OpInsert:
		r.typ = "insert"
	case change.OpUpdate:
		r.typ = "update"
	case change.OpDelete:
		r.typ = "delete"
	default:
		return r, false, nil
	}
	if ev.Table == nil || ev.Tx == nil {
		return r, false, fmt.Errorf("%s event without table or transaction", r.typ)
	}
	t := ev.Table
	r.Table, r.Tx, r.EventNumber = t, ev.Tx, ev.EventNumber
	keyRow := ev.After
	if ev.Op == change.OpDelete {
		keyRow = ev.Before
	}
	if pk := e.key(t, keyRow); pk != nil {
		r.pk = *pk
		if ev.Op == change.OpUpdate {
			if before := e.key(t, ev.Before); *before != *pk {
				r.oldPK = *before
			}
		}
	}
	if ev.Before != nil {
		e.buf = e.appendImage(e.buf[:0], t, ev.Before)
		r.before = string(e.buf)
	}
	if ev.After != nil {
		e.buf = e.appendImage(e.buf[:0], t, ev.After)
		r.after = string(e.buf)
	}
	if ev.Op == change.OpUpdate {
		r.changed = changedColumns(e.buf[:0], t.Columns, ev.Before, ev.After)
	}
	return r, true, nil
}

// appendImage writes a row image as format.AppendRowObject does, with the
// column names encoded once per table version rather than once per row.
func (e *Encoder) appendImage(dst []byte, t *change.Table, row []change.Value) []byte {
	names, ok := e.names[t]
	if !ok {
		names = make([][]byte, len(t.Columns))
		for i := range t.Columns {
			names[i] = append(format.AppendJSONString(nil, t.Columns[i].Name), ':')
		}
		e.names[t] = names
	}
	dst = append(dst, '{')
	first := true
	for i := range row {
		if row[i].Kind == change.KindMissing || i >= len(names) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, names[i]...)
		dst = format.AppendValue(dst, &row[i], format.BinaryHex)
	}
	return append(dst, '}')
}

// key renders the primary key of row as the index stores it: a JSON array
// of the key values, written exactly. nil when the table has no key.
func (e *Encoder) key(t *change.Table, row []change.Value) *string {
	if len(t.PrimaryKey) == 0 || row == nil {
		return nil
	}
	b := AppendKey(e.buf[:0], t, row)
	e.buf = b
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

// txID returns the id of the event's transaction, starting a new
// transaction record when it is new. A transaction cut by a restart
// arrives again with a new Tx value: the same GTID and position mean the
// same transaction.
func (w *Writer) txID(t *change.Tx) (int64, error) {
	if t == w.lastTx {
		return w.lastTxID, nil
	}
	k := txKey{gtid: t.GTID, file: t.File, pos: t.Pos}
	if k == w.lastTxKey && w.lastTxID != 0 {
		w.lastTx = t
		return w.lastTxID, nil
	}
	if err := w.storeTx(); err != nil {
		return 0, err
	}
	if !w.sinceSet {
		// The index is complete from its first transaction on (reconstruct
		// relies on it); retention moves this forward.
		if _, err := w.exec(`INSERT OR IGNORE INTO meta (key, value) VALUES ('covered_since', ?)`, strconv.FormatInt(int64(t.Timestamp), 10)); err != nil {
			return 0, err
		}
		w.sinceSet = true
	}
	rec := &txRec{id: w.nextTx, file: t.File, pos: t.Pos, ts: t.Timestamp, first: w.nextID, last: w.nextID}
	if t.GTID != "" {
		rec.gtid = t.GTID
	}
	w.nextTx++
	w.cur = rec
	w.lastTx, w.lastTxID, w.lastTxKey = t, rec.id, k
	return rec.id, nil
}

// storeTx writes the current transaction's record if it changed.
func (w *Writer) storeTx() error {
	r := w.cur
	if r == nil || !r.dirty {
		return nil
	}
	_, err := w.exec(`INSERT INTO transactions (tx_id, gtid, binlog_file, binlog_pos, commit_time, first_change, last_change)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tx_id) DO UPDATE SET last_change = excluded.last_change`,
		r.id, r.gtid, r.file, int64(r.pos), int64(r.ts), r.first, r.last)
	if err != nil {
		return fmt.Errorf("record transaction: %w", err)
	}
	r.dirty = false
	return nil
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
		err := w.conn.QueryRowContext(context.Background(), `SELECT table_id FROM tables WHERE schema_name = ? AND table_name = ?`, t.Schema, t.Name).Scan(&tableID)
		if errors.Is(err, sql.ErrNoRows) {
			var res sql.Result
			res, err = w.exec(`INSERT INTO tables (schema_name, table_name) VALUES (?, ?)`, t.Schema, t.Name)
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
	err = w.conn.QueryRowContext(context.Background(), `SELECT definition_id FROM table_versions WHERE table_id = ? AND version = ? AND definition = ?`, tableID, t.Version, def).Scan(&defID)
	if errors.Is(err, sql.ErrNoRows) {
		var res sql.Result
		res, err = w.exec(`INSERT INTO table_versions (table_id, version, definition) VALUES (?, ?, ?)`, tableID, t.Version, def)
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

func (w *Writer) exec(q string, args ...any) (sql.Result, error) {
	st, ok := w.named[q]
	if !ok {
		var err error
		if st, err = w.conn.PrepareContext(context.Background(), q); err != nil {
			return nil, err
		}
		w.named[q] = st
	}
	return st.Exec(args...)
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
	if _, err := st.Exec(w.args...); err != nil {
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
	if err := w.storeTx(); err != nil {
		return w.abort(err)
	}
	_, err := w.exec(`INSERT INTO stream_state (id, flavor, binlog_file, binlog_pos, skip, gtid, gtid_state, updated_at)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET flavor = excluded.flavor, binlog_file = excluded.binlog_file,
			binlog_pos = excluded.binlog_pos, skip = excluded.skip, gtid = excluded.gtid,
			gtid_state = excluded.gtid_state, updated_at = excluded.updated_at`,
		cp.Flavor, cp.File, int64(cp.Pos), int64(cp.Skip), cp.GTID, cp.GTIDState, time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return w.abort(fmt.Errorf("write stream_state: %w", err))
	}
	_, err = w.conn.ExecContext(context.Background(), "COMMIT")
	w.inTx = false
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
	if w.inTx {
		w.conn.ExecContext(context.Background(), "ROLLBACK")
		w.inTx = false
	}
	return err
}

// Close rolls back anything not committed and releases the connection.
func (w *Writer) Close() error {
	w.abort(nil)
	if w.stopCheckpoints != nil {
		w.stopCheckpoints()
		<-w.checkpointsDone
		w.stopCheckpoints = nil
	}
	for _, st := range w.stmts {
		st.Close()
	}
	for _, st := range w.named {
		st.Close()
	}
	return w.conn.Close()
}
