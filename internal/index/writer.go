package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
)

// writerCacheKiB is the writer connection's SQLite page cache (32 MiB):
// the peak RSS of a stream into the index is about 60 MB plus this (make
// bench: 75 MB with 16 MiB, 96 MB with 32, 115 MB with 48, 204 MB with
// 128 before the key index was ordered by length). Changes of random keys
// dirty a page of the key index each; a cache too small for those pages
// spills them to the log mid-transaction, again and again: 5,000,000
// changes over 500,000 random keys (the key-history index of make bench)
// were built at ~22,000 changes/s with 16 MiB, 32,000 with 32 MiB, 43,000
// with 48 MiB and 45,000 with 128 MiB.
const writerCacheKiB = 32 << 10

// Writer stores the Batches of its Assembler inside one open SQLite
// transaction, which Commit closes together with the checkpoint that covers
// them. One Writer per index; it is not safe for concurrent use, but its
// Assembler may run on another goroutine than Store and Commit (the stream
// does so: encoding and compressing the next changes overlaps inserting
// the previous ones).
type Writer struct {
	s    *Store
	conn connq
	// inTx: a BEGIN is open on conn. The writer issues BEGIN/COMMIT itself
	// rather than through sql.Tx so that its prepared statements live on
	// the connection across transactions instead of being prepared again.
	inTx  bool
	named map[string]*sql.Stmt // prepared statements, by text
	asm   *Assembler

	stopCheckpoints context.CancelFunc
	checkpointsDone chan struct{}

	broken error  // set by a failed write: ids no longer match the file
	epoch  uint64 // HA group: commits check the index still has this epoch (0: no check)
}

// NewWriter returns the index's writer, its Assembler continuing the ids
// stored.
func (s *Store) NewWriter(ctx context.Context) (*Writer, error) {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	conn := connq{c, s.dialect}
	if err := s.dialect.lockWriter(ctx, c); err != nil {
		conn.Close()
		return nil, err
	}
	w := &Writer{s: s, conn: conn, named: map[string]*sql.Stmt{}}
	if w.asm, err = newAssembler(ctx, conn); err != nil {
		conn.Close()
		return nil, err
	}
	w.asm.jsonKeys = s.dialect == sqliteDB
	if s.dialect != sqliteDB {
		return w, nil
	}
	// The page cache is bounded (writerCacheKiB): keys inserted in order
	// append to the key index (see change_keys_by_key) and need little of
	// it; changes of random keys need more as the index grows.
	// The writer's own autocheckpoint finishes the log's checkpoint when
	// the log passes its limit (see checkpointLoop).
	// A multi-row INSERT (the keys of a block) keeps a statement journal
	// (the pages it changes, to undo just that statement). Past 64 KiB
	// SQLite spills it to a temporary file, a write system call per page;
	// in memory it is a copy.
	for _, q := range []string{
		fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheKiB),
		fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", walLimitPages),
		"PRAGMA temp_store = MEMORY",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.Close()
			return nil, err
		}
	}
	// Checkpoints (copying the write-ahead log into the database file, with
	// an fsync) run on another connection, so the writer rarely waits for
	// the disk.
	cctx, cancel := context.WithCancel(context.Background())
	w.stopCheckpoints, w.checkpointsDone = cancel, make(chan struct{})
	go func() {
		defer close(w.checkpointsDone)
		s.checkpointLoop(cctx)
	}()
	return w, nil
}

// newAssembler reads the ids the index holds.
func newAssembler(ctx context.Context, conn connq) (*Assembler, error) {
	a := &Assembler{tables: map[string]int64{}, defs: map[defKey]int64{}, versions: map[*change.Table]ids{}, enc: NewEncoder(),
		free: make(chan []byte, freeBuffers), zfree: make(chan []byte, freeBuffers)}
	var maxChange, maxTx sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT (SELECT max(last_change) FROM change_blocks), (SELECT max(tx_id) FROM transactions)`).Scan(&maxChange, &maxTx); err != nil {
		return nil, err
	}
	a.nextID, a.nextTx = maxChange.Int64+1, maxTx.Int64+1
	if maxTx.Valid {
		var gtid sql.NullString
		var ts int64
		rec := &txRec{id: maxTx.Int64}
		err := conn.QueryRowContext(ctx, `SELECT gtid, binlog_file, binlog_pos, commit_time, first_change, last_change FROM transactions WHERE tx_id = ?`, maxTx.Int64).
			Scan(&gtid, &rec.file, &rec.pos, &ts, &rec.first, &rec.last)
		if err != nil {
			return nil, err
		}
		if gtid.Valid {
			rec.gtid = gtid.String
		}
		rec.ts = uint32(ts)
		a.cur = rec
		a.lastTxKey = txKey{gtid: gtid.String, file: rec.file, pos: rec.pos}
		a.lastTxID = maxTx.Int64
	}
	var since sql.NullString
	if err := conn.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'covered_since'`).Scan(&since); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	a.sinceSet = since.Valid
	rows, err := conn.QueryContext(ctx, `SELECT table_id, schema_name, table_name FROM tables`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id int64
		var schema, name string
		if err := rows.Scan(&id, &schema, &name); err != nil {
			rows.Close()
			return nil, err
		}
		a.tables[schema+"\x00"+name] = id
		a.maxTable = max(a.maxTable, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = conn.QueryContext(ctx, `SELECT definition_id, table_id, version, definition FROM table_versions`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var k defKey
		if err := rows.Scan(&id, &k.table, &k.version, &k.def); err != nil {
			return nil, err
		}
		a.defs[k] = id
		a.maxDef = max(a.maxDef, id)
	}
	return a, rows.Err()
}

// Assembler is the writer's Assembler.
func (w *Writer) Assembler() *Assembler { return w.asm }

// Add encodes and appends one event. Inserts, updates and deletes are
// indexed; other operations (schema records, heartbeats, snapshot reads)
// are not changes and are skipped.
func (w *Writer) Add(ev *change.Event) error {
	e := w.asm.enc
	e.Reset() // the row is copied into the block before the next Add
	r, ok, err := e.Encode(ev)
	if err != nil || !ok {
		return err
	}
	return w.AddRow(&r)
}

// AddRow appends one encoded change, storing the blocks it fills.
func (w *Writer) AddRow(r *Row) error {
	if err := w.asm.Add(r); err != nil {
		return err
	}
	if len(w.asm.out.blocks) == 0 {
		return nil
	}
	b := w.asm.Take(false)
	return w.Store(&b)
}

func (w *Writer) begin() error {
	if w.broken != nil {
		return fmt.Errorf("the index writer stopped after an earlier error: %w", w.broken)
	}
	if w.inTx {
		return nil
	}
	if _, err := w.conn.ExecContext(context.Background(), w.s.dialect.begin()); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	w.inTx = true
	return nil
}

// Store inserts a Batch in the open transaction. After an error the writer
// refuses further work.
func (w *Writer) Store(b *Batch) error {
	if err := w.begin(); err != nil {
		return err
	}
	if err := w.store(b); err != nil {
		return w.abort(err)
	}
	b.release()
	return nil
}

func (w *Writer) store(b *Batch) error {
	b.Compress()
	for _, t := range b.tables {
		if _, err := w.exec(`INSERT INTO tables (table_id, schema_name, table_name) VALUES (?, ?, ?)`, t.id, t.schema, t.name); err != nil {
			return fmt.Errorf("record table %s.%s: %w", t.schema, t.name, err)
		}
	}
	for _, d := range b.defs {
		if _, err := w.exec(`INSERT INTO table_versions (definition_id, table_id, version, definition) VALUES (?, ?, ?, ?)`, d.id, d.table, d.version, d.def); err != nil {
			return fmt.Errorf("record table definition: %w", err)
		}
	}
	if b.hasSince {
		if _, err := w.exec(w.s.dialect.upsert("meta", "name", []string{"name", "value"}, nil), "covered_since", fmt.Sprint(b.since)); err != nil {
			return err
		}
	}
	for i := range b.blocks {
		k := &b.blocks[i]
		if _, err := w.exec(`INSERT INTO change_blocks (first_change, last_change, table_ids, changes, offsets) VALUES (?, ?, ?, ?, ?)`,
			k.first, k.last, k.tables, k.data, k.offsets); err != nil {
			return fmt.Errorf("insert changes: %w", err)
		}
		for _, tk := range k.keys {
			// One statement for the keys of a table in the block: SQLite
			// reads them from one JSON array, instead of three bound values
			// per change. (An array of [offset, table, key] arrays cost
			// twice the JSON work: each element was parsed again.)
			if _, err := w.exec(`INSERT INTO change_keys (change_id, table_id, pk)
				SELECT ? + j.key, ?, j.value FROM json_each(?) j WHERE j.type = 'text'`, k.first, tk.table, tk.keys); err != nil {
				return fmt.Errorf("insert change keys: %w", err)
			}
		}
		for _, r := range k.runs {
			if _, err := w.exec(`INSERT INTO change_key_runs (first_change, table_id, first_key, n) VALUES (?, ?, ?, ?)`, r.first, r.table, r.key, r.n); err != nil {
				return fmt.Errorf("insert change keys: %w", err)
			}
		}
		if err := w.insertKeyRows(k.keyRows); err != nil {
			return err
		}
		for _, o := range k.oldKeys {
			if _, err := w.exec(`INSERT INTO change_old_keys (change_id, table_id, old_pk) VALUES (?, ?, ?)`, o.id, o.table, o.pk); err != nil {
				return fmt.Errorf("insert change keys: %w", err)
			}
		}
	}
	txSQL := w.s.dialect.upsert("transactions", "tx_id", []string{"tx_id", "gtid", "binlog_file", "binlog_pos", "commit_time", "first_change", "last_change"}, []string{"last_change"})
	for _, r := range b.txs {
		_, err := w.exec(txSQL, r.id, r.gtid, r.file, int64(r.pos), int64(r.ts), r.first, r.last)
		if err != nil {
			return fmt.Errorf("record transaction: %w", err)
		}
	}
	return nil
}

// insertKeyRows inserts key rows with multi-row INSERTs (servers: SQLite
// takes them as JSON).
func (w *Writer) insertKeyRows(rows []keyRow) error {
	const perInsert = 256
	for len(rows) > 0 {
		n := min(len(rows), perInsert)
		args := make([]any, 0, 3*n)
		for _, r := range rows[:n] {
			args = append(args, r.id, r.table, r.pk)
		}
		q := "INSERT INTO change_keys (change_id, table_id, pk) VALUES (?, ?, ?)" + strings.Repeat(", (?, ?, ?)", n-1)
		if _, err := w.exec(q, args...); err != nil {
			return fmt.Errorf("insert change keys: %w", err)
		}
		rows = rows[n:]
	}
	return nil
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

// Commit stores what the Assembler holds and commits it together with cp,
// the checkpoint that covers every change added so far. Callers that run
// the Assembler themselves Store its Take(true) first.
func (w *Writer) Commit(cp position.Checkpoint) error {
	b := w.asm.Take(true)
	return w.CommitBatch(&b, cp)
}

// CommitBatch stores b (a Take(true) of the Assembler) and commits it with
// cp.
func (w *Writer) CommitBatch(b *Batch, cp position.Checkpoint) error {
	if cp.File == "" {
		return errors.New("commit without a checkpoint")
	}
	if err := w.Store(b); err != nil {
		return err
	}
	if err := w.checkEpoch(); err != nil {
		return w.abort(err)
	}
	cols := []string{"id", "flavor", "binlog_file", "binlog_pos", "skip", "gtid", "gtid_state", "updated_at"}
	_, err := w.exec(w.s.dialect.upsert("stream_state", "id", cols, cols[1:]),
		1, cp.Flavor, cp.File, int64(cp.Pos), int64(cp.Skip), cp.GTID, cp.GTIDState, time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return w.abort(fmt.Errorf("write stream_state: %w", err))
	}
	_, err = w.conn.ExecContext(context.Background(), "COMMIT")
	w.inTx = false
	if err != nil {
		w.broken = err
		return fmt.Errorf("commit: %w", err)
	}
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
	for _, st := range w.named {
		st.Close()
	}
	return w.conn.Close()
}
