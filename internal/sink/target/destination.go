package target

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bintap/bintap/internal/backoff"
	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
)

// Table statuses, kept in the target's bintap_tables state table.
const (
	statusWaiting   = "waiting_for_migration" // the initial snapshot will load it
	statusMigrating = "migrating"             // the initial snapshot is loading it
	statusStreaming = "streaming"             // binlog changes are merged into it
)

// snapshotBatch is how many initial-snapshot rows go in one transaction:
// more than a stream batch, as a bulk load wants.
const snapshotBatch = 20000

// maxParams bounds the bind parameters of one statement (PostgreSQL and
// MySQL allow 65535).
const maxParams = 60000

// Destination mirrors tables into a database. Write, Flush and Close run on
// the pipeline's goroutine; Health and Status on any.
type Destination struct {
	db       *sql.DB
	d        dialect
	opt      Options
	name     string // the target's redacted URL
	database string // the URL's database: MySQL's default schema
	stream   string // this stream's key in the position table
	log      *slog.Logger

	targets    map[string]*target // by "schema.table"
	versions   map[*change.Table]*version
	steps      []step        // what the next transaction does, in order
	rows       int           // pending changes
	work       chan work     // transactions for the writer goroutine
	written    chan struct{} // closed when the writer goroutine ends
	stopWriter context.CancelFunc
	// streaming: a batch with a position arrived, the initial snapshot is
	// over. Before, every change is a snapshot row, and those may commit
	// without a position (they are idempotent upserts).
	streaming bool
	last      position.Checkpoint // newest position handed in
	sent      position.Checkpoint // newest position handed to the writer
	keyBuf    []byte
	// marks: a load's progress in each table (load.go), committed with the
	// next transaction, by target and source table.
	marks map[[2]string]Mark
	fence fencing // HA group (fence.go)

	mu      sync.Mutex // guards what Health and Status read
	down    error      // the target is unreachable: the last error
	failed  error
	applied uint64 // changes committed
	commits uint64
	status  map[string]string // target table → status
}

func newDestination(db *sql.DB, d dialect, opt Options, name, source string, log *slog.Logger) *Destination {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.BatchSize < 1 {
		opt.BatchSize = 1000
	}
	return &Destination{db: db, d: d, opt: opt, name: name, stream: source + "|" + opt.Table, log: log,
		targets: map[string]*target{}, versions: map[*change.Table]*version{}, status: map[string]string{}}
}

// connect checks the target answers and creates the state tables.
func (t *Destination) connect(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := t.db.PingContext(cctx); err != nil {
		return fmt.Errorf("target %s: cannot connect: %w", t.name, err)
	}
	if m, ok := t.d.(mysql); ok {
		var v string
		if err := t.db.QueryRowContext(cctx, "SELECT VERSION()").Scan(&v); err != nil {
			return fmt.Errorf("target %s: %w", t.name, err)
		}
		m.mariaDB = strings.Contains(strings.ToLower(v), "mariadb")
		fmt.Sscanf(v, "%d.%d", &m.version[0], &m.version[1])
		t.d = m
	}
	for _, q := range stateDDL(t.d) {
		if _, err := t.db.ExecContext(cctx, q); err != nil {
			return fmt.Errorf("target %s: create bintap's state tables (the user needs CREATE there): %s: %w", t.name, q, err)
		}
	}
	rows, err := t.db.QueryContext(cctx, "SELECT target_table, status FROM "+stateTable(t.d, "tables"))
	if err != nil {
		return fmt.Errorf("target %s: read table states: %w", t.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, status string
		if err := rows.Scan(&name, &status); err != nil {
			return err
		}
		t.status[name] = status
	}
	return rows.Err()
}

// stateTable is the quoted name of one of bintap's state tables.
func stateTable(d dialect, name string) string { return d.quote("bintap") + "." + d.quote(name) }

func stateDDL(d dialect) []string {
	text := "TEXT"
	key := "VARCHAR(255)"
	schema := "CREATE SCHEMA IF NOT EXISTS " + d.quote("bintap")
	if _, ok := d.(mysql); ok {
		schema = "CREATE DATABASE IF NOT EXISTS " + d.quote("bintap") + " CHARACTER SET utf8mb4"
		text = "LONGTEXT"
	}
	return []string{
		schema,
		"CREATE TABLE IF NOT EXISTS " + stateTable(d, "positions") + " (stream " + key + " PRIMARY KEY, position " + text + " NOT NULL, updated_at VARCHAR(40) NOT NULL)",
		"CREATE TABLE IF NOT EXISTS " + stateTable(d, "tables") + " (target_table " + key + " PRIMARY KEY, source_table " + key + " NOT NULL, status VARCHAR(32) NOT NULL, columns " + text + " NOT NULL, updated_at VARCHAR(40) NOT NULL)",
	}
}

// SnapshotPlanned marks the tables an initial snapshot is about to copy
// as waiting for migration (those it is not migrating already).
func (t *Destination) SnapshotPlanned(ctx context.Context, tables []string) error {
	update := "UPDATE " + stateTable(t.d, "tables") + " SET status = " + t.ph(1) + ", updated_at = " + t.ph(2) + " WHERE target_table = " + t.ph(3)
	insert := t.upsertSQL(stateTable(t.d, "tables"), []string{"target_table", "source_table", "status", "columns", "updated_at"}, []string{"target_table"}, 1, nil)
	for _, name := range tables {
		db, table, _ := strings.Cut(name, ".")
		schema, tname := t.targetName(&change.Table{Schema: db, Name: table})
		full := schema + "." + tname
		if t.status[full] == statusMigrating {
			continue
		}
		now := time.Now().UTC().Format(time.RFC3339Nano)
		res, err := t.db.ExecContext(ctx, update, statusWaiting, now, full)
		if n, _ := rowsAffected(res, err); err == nil && n == 0 {
			_, err = t.db.ExecContext(ctx, insert, full, name, statusWaiting, "{}", now)
		}
		if err != nil {
			return fmt.Errorf("target %s: record table %s as waiting for migration: %w", t.name, full, err)
		}
		t.setStatus(full, statusWaiting)
	}
	return nil
}

func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Position returns the position stored with the target's data.
func (t *Destination) Position(ctx context.Context) (*position.Checkpoint, error) {
	var raw string
	var err error
	if _, ok := t.d.(postgres); ok {
		raw, err = t.pgPosition(ctx)
	} else {
		q := "SELECT position FROM " + stateTable(t.d, "positions") + " WHERE stream = " + t.ph(1)
		if _, ok := t.d.(mysql); ok {
			// A locking read waits for a transaction that stored a position
			// and is still committing (see pgPosition); a plain one would
			// read the snapshot before it.
			q += " LOCK IN SHARE MODE"
		}
		err = t.db.QueryRowContext(ctx, q, t.stream).Scan(&raw)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("target %s: read the position: %w", t.name, err)
	}
	var cp position.Checkpoint
	if err := json.Unmarshal([]byte(raw), &cp); err != nil || cp.File == "" {
		return nil, fmt.Errorf("target %s: the stored position %q is not a bintap position: delete its row in %s.positions or use --reset", t.name, raw, "bintap")
	}
	return &cp, nil
}

// pgPosition reads the stored position once no transaction that writes
// one is in flight. A killed bintap's last COMMIT may still be running in
// its server session when the next bintap starts: reading the position
// before it commits would hand its changes over again (twice in the _log
// tables; found by the torture test). Every writing transaction locks the
// positions table in ROW EXCLUSIVE mode first (see transaction); SHARE
// mode waits for them.
func (t *Destination) pgPosition(ctx context.Context) (string, error) {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "LOCK TABLE "+stateTable(t.d, "positions")+" IN SHARE MODE"); err != nil {
		return "", err
	}
	var raw string
	if err := tx.QueryRowContext(ctx, "SELECT position FROM "+stateTable(t.d, "positions")+" WHERE stream = "+t.ph(1), t.stream).Scan(&raw); err != nil {
		return "", err
	}
	return raw, tx.Commit()
}

// Reset forgets the stored position and the table states (--reset): the
// stream starts over and an initial snapshot loads every table again.
func (t *Destination) Reset(ctx context.Context) error {
	for _, q := range []string{"DELETE FROM " + stateTable(t.d, "positions") + " WHERE stream = " + t.ph(1), "DELETE FROM " + stateTable(t.d, "tables")} {
		args := []any{t.stream}
		if !strings.Contains(q, "stream =") {
			args = nil
		}
		if _, err := t.db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("target %s: %w", t.name, err)
		}
	}
	clear(t.status)
	return nil
}

// ph is the n-th bind parameter of a plain statement.
func (t *Destination) ph(n int) string {
	if _, ok := t.d.(postgres); ok {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// Write adds the changes of one batch; it commits when the batch size is
// reached at a position (or, during the initial snapshot, without one).
func (t *Destination) Write(ctx context.Context, events []change.Event, cp position.Checkpoint) error {
	if err := t.err(); err != nil {
		return err
	}
	if cp.File != "" && !t.streaming {
		// The initial snapshot (if one ran) is over: its tables stream now.
		t.streaming = true
		for _, tg := range t.targets {
			if t.status[tg.full] == statusMigrating {
				t.touch(tg).status = statusStreaming
				t.setStatus(tg.full, statusStreaming)
			}
		}
	}
	for i := range events {
		ev := &events[i]
		if ev.Table == nil || ev.Tx == nil {
			continue
		}
		v, err := t.version(ctx, ev.Table)
		if err != nil {
			return err
		}
		if err := t.add(v, ev); err != nil {
			return err
		}
	}
	if cp.File != "" {
		t.last = cp
	}
	switch {
	case t.rows >= t.opt.BatchSize && cp.File != "":
		return t.apply(ctx, cp)
	case t.rows >= snapshotBatch && !t.streaming:
		return t.apply(ctx, position.Checkpoint{})
	}
	return nil
}

// Flush commits what is pending with the newest position.
func (t *Destination) Flush(ctx context.Context) error {
	if err := t.err(); err != nil {
		return err
	}
	cp := t.last
	if cp.File == t.sent.File && cp.Pos == t.sent.Pos && cp.Skip == t.sent.Skip {
		cp = position.Checkpoint{} // stored already
	}
	if t.rows == 0 && len(t.steps) == 0 && cp.File == "" && t.work == nil {
		return nil
	}
	// Also when nothing is pending: what was handed to the writer must be
	// committed before the pipeline's checkpoint (and the snapshot's
	// progress) covers it.
	return t.wait(ctx, cp)
}

// Close commits what is pending and disconnects.
func (t *Destination) Close(ctx context.Context) error {
	var err error
	if t.err() == nil && (t.rows > 0 || len(t.steps) > 0) {
		err = t.Flush(ctx)
	}
	if t.work != nil {
		if err != nil {
			t.stopWriter() // a writer still retrying gives up
		}
		close(t.work)
		<-t.written
		t.stopWriter()
	}
	if cerr := t.db.Close(); err == nil {
		err = cerr
	}
	return err
}

func (t *Destination) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *Destination) fail(err error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed == nil {
		t.failed = err
	}
	return err
}

// Health is "retrying" while the target is unreachable, "failed" after a
// permanent error.
func (t *Destination) Health() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.failed != nil:
		return "failed", t.failed
	case t.down != nil:
		return "retrying", t.down
	}
	return "ok", nil
}

// Counts are the changes committed and the transactions.
func (t *Destination) Counts() (messages, bytes uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.applied, 0
}

// Status is the target's section of /status: each table's status.
func (t *Destination) Status() any {
	t.mu.Lock()
	defer t.mu.Unlock()
	tables := make(map[string]string, len(t.status))
	for k, v := range t.status {
		tables[k] = v
	}
	return map[string]any{"tables": tables, "changes": t.applied, "transactions": t.commits}
}

// work is one transaction handed to the writer goroutine.
type work struct {
	steps []step
	rows  int
	cp    position.Checkpoint
	marks []Mark     // a load's progress, stored with the data
	done  chan error // answered when set (Flush waits)
}

// apply hands every pending change, with cp for the position table when it
// is set, to the writer goroutine as one transaction, and starts a new
// batch: converting the next changes overlaps writing these. It waits only
// when the writer is a transaction behind.
func (t *Destination) apply(ctx context.Context, cp position.Checkpoint) error {
	return t.submit(ctx, cp, nil)
}

func (t *Destination) submit(ctx context.Context, cp position.Checkpoint, done chan error) error {
	if t.work == nil {
		t.work, t.written = make(chan work, 1), make(chan struct{})
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		t.stopWriter = cancel
		go t.writer(wctx)
	}
	for i := range t.steps {
		if b := t.steps[i].b; b != nil && b.status != "" {
			raw, _ := json.Marshal(t.steps[i].tg.types)
			b.types = string(raw)
		}
	}
	w := work{steps: t.steps, rows: t.rows, cp: cp, done: done}
	for _, m := range t.marks {
		w.marks = append(w.marks, m)
	}
	clear(t.marks)
	if cp.File != "" {
		t.sent = cp
	}
	for _, st := range t.steps {
		st.tg.cur = nil
	}
	t.steps, t.rows = nil, 0
	select {
	case t.work <- w:
	case <-ctx.Done():
		return t.fail(fmt.Errorf("target %s: %w", t.name, context.Cause(ctx)))
	}
	return t.err()
}

// wait hands what is pending to the writer and waits until everything
// handed before is committed.
func (t *Destination) wait(ctx context.Context, cp position.Checkpoint) error {
	done := make(chan error, 1)
	if err := t.submit(ctx, cp, done); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return t.fail(fmt.Errorf("target %s: gave up waiting for the commit: %w", t.name, context.Cause(ctx)))
	}
}

// writer commits the transactions handed to it, in order, until the work
// channel closes. A target that is unreachable is retried with backoff (the
// binlog reader waits meanwhile, as the channel fills); any other error
// fails the destination without a position past it.
func (t *Destination) writer(ctx context.Context) {
	defer close(t.written)
	for w := range t.work {
		err := t.err()
		if err == nil && (len(w.steps) > 0 || w.cp.File != "" || len(w.marks) > 0) { // else only a barrier (Flush)
			err = t.commit(ctx, w)
		}
		if w.done != nil {
			w.done <- err
		}
	}
}

func (t *Destination) commit(ctx context.Context, w work) error {
	retry := backoff.Backoff{Initial: time.Second, Max: 10 * time.Second}
	for {
		err := t.applyOnce(ctx, w)
		if err == nil {
			t.mu.Lock()
			if t.down != nil {
				t.log.Info("target reachable again", "target", t.name)
			}
			t.down = nil
			t.applied += uint64(w.rows)
			t.commits++
			t.mu.Unlock()
			return nil
		}
		if !transient(err) {
			return t.fail(err)
		}
		t.mu.Lock()
		t.down = err
		t.mu.Unlock()
		t.log.Warn("target unreachable; retrying the transaction", "target", t.name, "err", err, "retry_in", retry.Delay().String())
		if werr := retry.Wait(ctx); werr != nil {
			return t.fail(fmt.Errorf("target %s: gave up: %w (last error: %v)", t.name, werr, err))
		}
	}
}

func (t *Destination) applyOnce(ctx context.Context, w work) error {
	if _, ok := t.d.(postgres); ok {
		return t.pgApplyOnce(ctx, w)
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := t.transaction(ctx, sqlTx{tx}, w); err != nil {
		return err
	}
	return tx.Commit()
}

// transaction runs the steps of w, then stores its position.
func (t *Destination) transaction(ctx context.Context, x execer, w work) error {
	if _, ok := t.d.(postgres); ok && w.cp.File != "" {
		// First: a bintap that starts meanwhile reads the position only
		// after this transaction ends (pgPosition).
		if err := x.exec(ctx, "LOCK TABLE "+stateTable(t.d, "positions")+" IN ROW EXCLUSIVE MODE", nil); err != nil {
			return err
		}
	}
	for i := range w.steps {
		if err := t.runStep(ctx, x, &w.steps[i]); err != nil {
			return err
		}
	}
	if err := t.storeMarks(ctx, x, w.marks); err != nil {
		return err
	}
	if err := t.checkFence(ctx, x); err != nil {
		return err
	}
	if cp := w.cp; cp.File != "" {
		cp.Written = time.Now().UTC()
		raw, _ := json.Marshal(cp)
		q := t.upsertSQL(stateTable(t.d, "positions"), []string{"stream", "position", "updated_at"}, []string{"stream"}, 1, nil)
		wrap := func(err error) error {
			if transient(err) {
				return err
			}
			return fmt.Errorf("target %s: store the position: %w", t.name, err)
		}
		return x.exec(ctx, q, wrap, t.stream, string(raw), cp.Written.Format(time.RFC3339Nano))
	}
	return nil
}

// transient reports whether an error means the target could not be
// reached (retry) rather than that it refused a statement (stop).
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"connection refused", "bad connection", "broken pipe", "connection reset", "eof",
		"i/o timeout", "no such host", "server closed", "conn closed", "invalid connection", "terminating connection",
		"the database system is shutting down", "the database system is starting up", "sqlstate 57p01", "sqlstate 08",
		"error 2006", "error 2013", "server has gone away", "lost connection", "failed to connect", "connection timed out",
		"use of closed network connection"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
