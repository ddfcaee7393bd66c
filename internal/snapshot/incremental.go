package snapshot

// Incremental snapshots re-read tables chunk by chunk while the stream runs
// (the watermark idea of Netflix's DBLog, as Debezium and Flink CDC use it).
//
// Each chunk is read in its own START TRANSACTION WITH CONSISTENT SNAPSHOT,
// whose binlog_snapshot_position W names exactly the binlog point the chunk
// is consistent with (MariaDB makes the view and the position atomic): W is
// the chunk's watermark, and no rows need to be written to the source for
// it. The observer records the primary keys of the table's row changes the
// stream sees, with the position of their commit, from the moment the
// chunk's window opens, before the view starts; and the view is started
// again until W reaches the binlog end read after the window opened, so a
// change the observer saw too early to record is in the view. Once the
// stream has passed W, the chunk's rows go into the stream at that
// point as snapshot reads, except the rows whose key changed after W: the
// stream has already delivered (or will deliver) those changes, which are
// newer than the chunk's copy. So every row the consumer ends with is the
// newest, without locks. Read-only servers (replicas) need nothing else;
// the signal table is read for signals only.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/schema"
	"github.com/bintap/bintap/internal/source"
)

// IncrementalFileName holds incremental snapshot progress in the state dir.
const IncrementalFileName = "incremental-snapshot.json"

// incState is the persisted state of incremental snapshots.
type incState struct {
	Tables []*TableState `json:"tables"` // queued, the first is being read
	Paused bool          `json:"paused,omitempty"`
	// Signals already handled (ids), so a signal replayed after a restart
	// is not executed twice.
	Signals []string `json:"signals,omitempty"`
}

// Incremental runs incremental snapshots requested through the signal table
// or Request. It is the stream's Observer.
type Incremental struct {
	opt    Options
	signal [2]string // signal table: db, table ("" when none)
	db     *sql.DB

	mu    sync.Mutex
	state incState // guarded by mu: what is durable (saved by Durable)
	dirty bool
	// cursor is where reading continues, ahead of the durable state by the
	// chunks not yet flushed (guarded by mu).
	cursor  map[string]*cursor
	signals []signal // received, not yet handled (guarded by mu)
	wake    chan struct{}
	window  atomic.Pointer[window]
	prog    *Progress
	emitted atomic.Uint64
	// limit is the rows of the next chunk: ChunkSize, growing up to
	// maxGrowth times that while the source is idle (reader goroutine only).
	limit int
}

// maxGrowth bounds how far chunks grow on an idle source, where each chunk
// waits for the next heartbeat (a second) to be emitted.
const maxGrowth = 8

type cursor struct {
	lastKey []string
	done    bool
}

// window is the chunk being read: shared by the reader (which fills the
// rows and the watermark) and the stream goroutine (which records changed
// keys and emits the rows).
type window struct {
	schema, name string
	table        *change.Table
	key          []int
	// Stream goroutine only: keys changed by the open transaction, and the
	// latest commit position of each changed key.
	txKeys  []string
	changed map[string]position.Checkpoint

	ready   atomic.Bool // rows and at are set
	rows    [][]change.Value
	keys    []string
	at      position.Checkpoint // the chunk's watermark
	lastKey []string
	done    chan struct{} // closed once emitted or abandoned
	limit   int           // the chunk's LIMIT
	dropped int
	aborted atomic.Bool
}

// OpenIncremental loads the incremental snapshot state. signalTable is
// "db.table" or empty.
func OpenIncremental(opt Options, signalTable string) (*Incremental, error) {
	if opt.ChunkSize <= 0 {
		opt.ChunkSize = 10000
	}
	inc := &Incremental{opt: opt, wake: make(chan struct{}, 1), cursor: map[string]*cursor{}}
	if signalTable != "" {
		db, tbl, ok := strings.Cut(signalTable, ".")
		if !ok || db == "" || tbl == "" {
			return nil, fmt.Errorf("signal table %q is not db.table", signalTable)
		}
		inc.signal = [2]string{db, tbl}
	}
	src := opt.Source
	db, err := openDB(src, 3) // connects on first use
	if err != nil {
		return nil, err
	}
	inc.db = db
	raw, err := os.ReadFile(filepath.Join(opt.StateDir, IncrementalFileName))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read incremental snapshot state: %w", err)
	default:
		err := json.Unmarshal(raw, &inc.state)
		if err == nil {
			err = checkTables(inc.state.Tables)
		}
		if err != nil {
			return nil, fmt.Errorf("incremental snapshot state %s is damaged (%v): remove it or use --reset", filepath.Join(opt.StateDir, IncrementalFileName), err)
		}
	}
	var names []string
	for _, t := range inc.state.Tables {
		names = append(names, t.Name)
		inc.cursor[t.Name] = &cursor{lastKey: t.LastKey, done: t.Done}
	}
	inc.prog = newProgress(names, opt.Log, nil)
	return inc, nil
}

// Request queues incremental snapshots of tables ("db.table"), as the
// execute-snapshot signal does. Unknown or not captured tables are an error
// naming them; the others are queued.
func (inc *Incremental) Request(tables []string) error {
	var bad []string
	var ok []string
	for _, t := range tables {
		if reason := inc.checkTable(t); reason != "" {
			bad = append(bad, t+": "+reason)
			continue
		}
		ok = append(ok, t)
	}
	inc.enqueue(ok)
	if len(bad) > 0 {
		return fmt.Errorf("not snapshotted: %s", strings.Join(bad, "; "))
	}
	return nil
}

// Status returns the progress figures of the queued tables.
func (inc *Incremental) Status() []TableProgress { return inc.prog.Status() }

// Paused reports whether incremental snapshots are paused.
func (inc *Incremental) Paused() bool {
	inc.mu.Lock()
	defer inc.mu.Unlock()
	return inc.state.Paused
}

func (inc *Incremental) checkTable(name string) string {
	if inc.opt.Flavor != "mariadb" {
		return "incremental snapshots need MariaDB (its consistent-snapshot binlog position is the chunk watermark); not supported on MySQL"
	}
	db, tbl, ok := strings.Cut(name, ".")
	if !ok || db == "" || tbl == "" {
		return "not db.table"
	}
	if e := inc.opt.Filter.Engine(db, tbl); e != "" {
		return "a " + e + " table, never captured: " + config.UncapturedEngine(e)
	}
	if !inc.opt.Filter.Captured(db, tbl) {
		return "not captured (see --schemas, --tables, --match, --exclude)"
	}
	var n int
	err := inc.db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')", db, tbl).Scan(&n)
	if err == nil && n == 0 {
		return "no such table"
	}
	return ""
}

func (inc *Incremental) enqueue(tables []string) {
	if len(tables) == 0 {
		return
	}
	inc.mu.Lock()
	for _, t := range tables {
		if slices.ContainsFunc(inc.state.Tables, func(ts *TableState) bool { return ts.Name == t }) {
			continue
		}
		inc.state.Tables = append(inc.state.Tables, &TableState{Name: t})
		inc.cursor[t] = &cursor{}
		inc.prog.addTable(t)
		inc.opt.Log.Info("incremental snapshot queued", "table", t)
	}
	inc.dirty = true
	// Saved now: a request through the API is not in the binlog, so it
	// must survive a crash before the next checkpoint.
	if err := inc.saveLocked(); err != nil {
		inc.opt.Log.Warn("could not save the incremental snapshot queue; it is saved at the next checkpoint", "err", err)
	}
	inc.mu.Unlock()
	inc.poke()
}

func (inc *Incremental) poke() {
	select {
	case inc.wake <- struct{}{}:
	default:
	}
}

// Durable saves the state (the pipeline's Durable hook).
func (inc *Incremental) Durable() error {
	inc.mu.Lock()
	defer inc.mu.Unlock()
	return inc.saveLocked()
}

func (inc *Incremental) saveLocked() error {
	if !inc.dirty {
		return nil
	}
	raw, err := json.MarshalIndent(&inc.state, "", "  ")
	if err != nil {
		return err
	}
	if err := position.WriteFileAtomic(filepath.Join(inc.opt.StateDir, IncrementalFileName), append(raw, '\n')); err != nil {
		return fmt.Errorf("save incremental snapshot state: %w", err)
	}
	inc.dirty = false
	return nil
}

// Run reads chunks of the queued tables until ctx ends.
func (inc *Incremental) Run(ctx context.Context) error {
	defer inc.db.Close()
	stop := inc.prog.run(ctx)
	defer stop()
	inc.poke()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-inc.wake:
		}
		inc.handleSignals()
		for ctx.Err() == nil {
			ts := inc.next()
			if ts == nil {
				break
			}
			err := inc.chunk(ctx, ts)
			if err != nil && ctx.Err() == nil {
				inc.opt.Log.Error("incremental snapshot chunk failed; retrying in 5s", "table", ts.Name, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
				}
			}
		}
	}
}

// next is the table to read a chunk of, nil when none or paused.
func (inc *Incremental) next() *TableState {
	inc.mu.Lock()
	defer inc.mu.Unlock()
	if inc.state.Paused {
		return nil
	}
	for _, ts := range inc.state.Tables {
		if c := inc.cursor[ts.Name]; c != nil && !c.done {
			return &TableState{Name: ts.Name, LastKey: c.lastKey}
		}
	}
	return nil
}

// chunk reads and hands over one chunk of a table, and waits until the
// stream has emitted it.
func (inc *Incremental) chunk(ctx context.Context, ts *TableState) error {
	dbName, tblName, _ := strings.Cut(ts.Name, ".")
	t := inc.opt.Hist.Get(dbName, tblName)
	if t == nil {
		var n, create string
		err := inc.db.QueryRowContext(ctx, "SHOW CREATE TABLE "+quoteIdent(dbName)+"."+quoteIdent(tblName)).Scan(&n, &create)
		if err != nil {
			if strings.Contains(err.Error(), "1146") {
				inc.finishTable(ts.Name, "the table no longer exists")
				return nil
			}
			return err
		}
		def, err := schema.ParseCreateTable(dbName, create)
		if err != nil {
			return err
		}
		file, pos := "", uint32(0)
		if row, err := source.BinlogStatus(ctx, inc.db); err == nil && len(row) >= 2 {
			p, _ := strconv.ParseUint(row[1], 10, 32)
			file, pos = row[0], uint32(p)
		}
		t = inc.opt.Hist.Define(def, schema.Mark{File: file, Pos: pos})
		if err := inc.opt.Hist.Save(); err != nil {
			return err
		}
	}
	key := t.PrimaryKey
	for _, k := range key {
		if !keyable(&t.Columns[k]) {
			key = nil
		}
	}
	if len(key) == 0 {
		inc.finishTable(ts.Name, "no primary key usable for chunks: incremental snapshots need one")
		return nil
	}
	if ts.LastKey == nil {
		var est sql.NullInt64
		_ = inc.db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", dbName, tblName).Scan(&est)
		inc.prog.setTotal(ts.Name, est.Int64, 0)
	}
	w := &window{schema: dbName, name: tblName, table: t, key: key, changed: map[string]position.Checkpoint{}, done: make(chan struct{})}
	// Publish before the view starts: every change the view may miss is
	// recorded (and a few it has, which only drops rows the stream carries).
	inc.window.Store(w)
	defer inc.window.CompareAndSwap(w, nil)
	conn, err := inc.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range sessionSQL {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	// The view must hold every transaction written to the binlog before the
	// window was published: those are the ones whose changes the observer
	// may have missed. MariaDB writes the binlog before the engine commits,
	// so a view started right now can still lack one; retry until its
	// position reaches the binlog end read after publishing (transactions
	// after that end are all seen by the observer).
	row, err := source.BinlogStatus(ctx, conn)
	if err != nil || len(row) < 2 {
		return fmt.Errorf("SHOW MASTER STATUS: %v", err)
	}
	end, _ := strconv.ParseUint(row[1], 10, 32)
	s := &Initial{opt: inc.opt}
	var at position.Checkpoint
	for attempt := 0; ; attempt++ {
		if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			return err
		}
		if at, err = s.mariaDBSnapshotPos(ctx, conn); err != nil {
			return err
		}
		if position.Compare(at.File, at.Pos, row[0], uint32(end)) >= 0 {
			break
		}
		if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			return err
		}
		if attempt == 1000 {
			return fmt.Errorf("the consistent view stays behind the binlog end %s:%d", row[0], end)
		}
		time.Sleep(time.Millisecond)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	cv := &converter{convs: make([]conv, len(t.Columns))}
	if inc.opt.TimeZone != nil && inc.opt.TimeZone.String() != "UTC" {
		cv.loc = inc.opt.TimeZone
	}
	sel := make([]string, len(t.Columns))
	for i := range t.Columns {
		expr, c, err := columnConv(&t.Columns[i])
		if err != nil {
			return err
		}
		sel[i], cv.convs[i] = expr, c
	}
	var order []string
	for _, k := range key {
		order = append(order, quoteIdent(t.Columns[k].Name))
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(dbName) + "." + quoteIdent(tblName)
	if ts.LastKey != nil {
		q += " WHERE " + after(t, ts.LastKey)
	}
	if inc.limit == 0 {
		inc.limit = inc.opt.ChunkSize
	}
	w.limit = inc.limit
	q += " ORDER BY " + strings.Join(order, ", ") + " LIMIT " + strconv.Itoa(w.limit)
	var lastRaw [][]byte
	err = conn.Raw(func(dc any) error {
		rows, err := dc.(driver.QueryerContext).QueryContext(ctx, q, nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]driver.Value, len(t.Columns))
		for {
			if err := rows.Next(dest); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			cv.arena = cv.arena[:0]
			row := make([]change.Value, len(t.Columns))
			for i := range dest {
				if err := cv.value(i, dest[i], &row[i]); err != nil {
					return fmt.Errorf("column %s: %w", t.Columns[i].Name, err)
				}
				if row[i].Text != nil {
					row[i].Text = append([]byte(nil), row[i].Text...) // the driver reuses its buffer
				}
			}
			lastRaw = lastRaw[:0]
			for _, k := range key {
				lastRaw = append(lastRaw, appendRaw(nil, dest[k]))
			}
			w.rows = append(w.rows, row)
			w.keys = append(w.keys, rowKey(row, key))
		}
	})
	if err != nil {
		return err
	}
	if len(w.rows) > 0 {
		for i, k := range key {
			lit, ok := keyLiteral(&t.Columns[k], lastRaw[i])
			if !ok {
				return fmt.Errorf("primary key column %s cannot be paged", t.Columns[k].Name)
			}
			w.lastKey = append(w.lastKey, lit)
		}
	}
	w.at = at
	readyAt := time.Now()
	w.ready.Store(true)
	inc.opt.Log.Debug("incremental snapshot chunk read", "table", ts.Name, "rows", len(w.rows), "watermark", at.String())
	for {
		select {
		case <-w.done:
			// An idle source emits only at heartbeats: read more per chunk.
			switch waited := time.Since(readyAt); {
			case waited > 250*time.Millisecond && inc.limit < maxGrowth*inc.opt.ChunkSize:
				inc.limit *= 2
			case waited < 50*time.Millisecond && inc.limit > inc.opt.ChunkSize:
				inc.limit /= 2
			}
			return nil
		case <-inc.wake:
			inc.handleSignals() // may abort this window (stop-snapshot)
		case <-ctx.Done():
			w.aborted.Store(true)
			return ctx.Err()
		}
	}
}

func (inc *Incremental) finishTable(name, why string) {
	inc.mu.Lock()
	inc.state.Tables = slices.DeleteFunc(inc.state.Tables, func(ts *TableState) bool { return ts.Name == name })
	delete(inc.cursor, name)
	inc.dirty = true
	inc.mu.Unlock()
	inc.prog.finish(name)
	inc.opt.Log.Warn("incremental snapshot of a table ended", "table", name, "why", why)
}

// rowKey is the text of a row's primary-key values, unambiguous for map use.
func rowKey(row []change.Value, key []int) string { return string(change.AppendKey(nil, row, key)) }

// Watch makes the stream decode the signal table even when not captured.
func (inc *Incremental) Watch(db, table string) bool {
	return inc.signal[0] != "" && db == inc.signal[0] && table == inc.signal[1]
}

// Row records changed keys of the table being read and takes signals.
func (inc *Incremental) Row(t *change.Table, op change.Op, before, after []change.Value) {
	if inc.signal[0] != "" && op == change.OpInsert && t.Schema == inc.signal[0] && t.Name == inc.signal[1] {
		inc.signalRow(t, after)
		return
	}
	w := inc.window.Load()
	if w == nil || t.Name != w.name || t.Schema != w.schema {
		return
	}
	if len(t.Columns) != len(w.table.Columns) {
		w.txKeys = append(w.txKeys, "\x00any") // a new definition: the chunk cannot be trusted
		return
	}
	if before != nil {
		w.txKeys = append(w.txKeys, rowKey(before, w.key))
	}
	if after != nil {
		w.txKeys = append(w.txKeys, rowKey(after, w.key))
	}
}

// Commit dates the open transaction's changed keys and emits a ready chunk
// once the stream has passed its watermark.
func (inc *Incremental) Commit(tx *change.Tx, em source.Emitter) {
	w := inc.window.Load()
	if w == nil {
		return
	}
	file, pos := em.Position()
	if len(w.txKeys) > 0 {
		at := position.Checkpoint{File: file, Pos: pos}
		for _, k := range w.txKeys {
			w.changed[k] = at
		}
		w.txKeys = w.txKeys[:0]
	}
	if !w.ready.Load() {
		return
	}
	if w.aborted.Load() {
		inc.window.CompareAndSwap(w, nil)
		close(w.done)
		return
	}
	if position.Compare(file, pos, w.at.File, w.at.Pos) < 0 {
		return
	}
	inc.window.CompareAndSwap(w, nil)
	defer close(w.done)
	name := w.schema + "." + w.name
	if cur := inc.opt.Hist.Get(w.schema, w.name); cur != w.table {
		inc.opt.Log.Info("table definition changed while a chunk was read; reading it again", "table", name)
		return
	}
	if _, ok := w.changed["\x00any"]; ok {
		return
	}
	// The rows sit after the transaction that just ended: its position and
	// GTID, event numbers after its own row images.
	etx := &change.Tx{File: file, Pos: pos, Timestamp: uint32(time.Now().Unix())}
	if tx != nil {
		c := *tx
		etx = &c
	}
	var n uint64
	for i, row := range w.rows {
		if at, ok := w.changed[w.keys[i]]; ok && position.Compare(at.File, at.Pos, w.at.File, w.at.Pos) > 0 {
			w.dropped++ // changed after the chunk's view: the stream's event is newer
			continue
		}
		n++
		if err := em.Add(change.Event{Op: change.OpRead, Table: w.table, After: row, Tx: etx, EventNumber: em.Last + n, Snapshot: true}); err != nil {
			return // the stream is stopping; the chunk is read again after a restart
		}
	}
	inc.prog.add(name, int64(len(w.rows)))
	lastKey, count, done := w.lastKey, int64(n), len(w.rows) < w.limit
	_ = em.OnDurable(func() {
		inc.mu.Lock()
		defer inc.mu.Unlock()
		for _, ts := range inc.state.Tables {
			if ts.Name == name {
				if lastKey != nil {
					ts.LastKey = lastKey
				}
				ts.Rows += count
				ts.Done = ts.Done || done
			}
		}
		inc.state.Tables = slices.DeleteFunc(inc.state.Tables, func(ts *TableState) bool { return ts.Done })
		inc.dirty = true
	})
	inc.mu.Lock()
	if c := inc.cursor[name]; c != nil {
		if lastKey != nil {
			c.lastKey = lastKey
		}
		c.done = done
	}
	inc.mu.Unlock()
	if done {
		inc.prog.finish(name)
		inc.opt.Log.Info("incremental snapshot of a table complete", "table", name)
	}
	inc.opt.Log.Debug("incremental snapshot chunk emitted", "table", name, "rows", n, "dropped_changed", w.dropped, "at", file+":"+strconv.FormatUint(uint64(pos), 10))
}
