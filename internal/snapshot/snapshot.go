// Package snapshot owns snapshots: the initial copy of every captured
// table's rows, taken consistently with a binlog position and emitted as
// change.OpRead events through the same batches the stream produces, so the
// stream can continue from exactly that position.
//
// Consistency. On MariaDB one connection runs START TRANSACTION WITH
// CONSISTENT SNAPSHOT, which MariaDB makes atomic with the binlog: the status
// variables binlog_snapshot_file/binlog_snapshot_position name the binlog
// position the view is consistent with, and BINLOG_GTID_POS() the GTID state
// there. No lock is taken. With --snapshot-parallelism N > 1 (2 by default),
// N connections need the same view: bintap starts them at once and checks
// that they report the same binlog position (then no transaction committed
// between them), and tries again while they do not; only if a busy server
// never lets them agree (50 attempts, about 3 s) does it take FLUSH TABLES
// WITH READ LOCK for the milliseconds it takes to start them, and says so in
// the log (without the RELOAD privilege it falls back to one connection). On MySQL the view
// and the position are synchronised with a brief FLUSH TABLES WITH READ LOCK
// (START TRANSACTION WITH CONSISTENT SNAPSHOT is not atomic with the binlog
// there); that path is not tested against a live MySQL.
//
// Delivery. A table is read in primary-key order, in one query; every
// ChunkSize rows make a chunk. The batch that ends a chunk carries a Done
// hook; once the pipeline has flushed the outputs it records the chunk's
// last key in STATE_DIR/snapshot.json, and a resumed snapshot reads on with
// WHERE key > last (keyset pagination). With several connections, a table
// with a primary key is split into key ranges read at once (the server
// produces each connection's rows on one thread): on the key's first column
// when that is an integer, otherwise at sampled keys (see split); every
// range keeps its own last key, and the ranges, saved before any row is
// read, stay fixed across resumes.
// The stream checkpoint is not moved until the snapshot is complete: the last
// snapshot batch carries the snapshot's start position as its checkpoint.
//
// Resume. After a crash the consistent view is gone. The snapshot resumes
// after the last durable chunk of each table with a new consistent view
// (newer than the original position P), and the stream still starts at P.
// Rows read from the new view already contain changes made after P, and the
// stream replays those changes again: applied in order as upserts and
// deletes by primary key, the result equals the source, but some changes
// appear twice (at-least-once). Tables without a primary key are read whole
// again. An uninterrupted snapshot emits every row once, and the stream none
// of the changes the snapshot already contains.
package snapshot

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/schema"
	"github.com/bintap/bintap/internal/source"
)

// Modes of --snapshot.
const (
	ModeInitial     = "initial"      // snapshot when there is no checkpoint, then stream
	ModeInitialOnly = "initial_only" // snapshot when there is no checkpoint, then stop
	ModeWhenNeeded  = "when_needed"  // also when the checkpoint's binlog was purged
	ModeNever       = "never"
)

// Options configure a snapshot.
type Options struct {
	Source      config.Source
	Flavor      string // "mariadb" or "mysql"
	Filter      *config.CaptureFilter
	TimeZone    *time.Location
	ChunkSize   int
	Parallelism int
	StateDir    string
	Hist        *schema.History
	Log         *slog.Logger
	// Progress, when set, receives a progress bar (a terminal).
	Progress io.Writer

	lockFreeAttempts int // tests: 0 is the default (20), -1 none (take the lock)
}

// Initial is an initial snapshot ready to run: its consistent views are
// open and its start position known.
type Initial struct {
	opt    Options
	db     *sql.DB
	conns  []*viewConn // one consistent view each
	tr     *tracker
	tables map[string]*change.Table
	tx     *change.Tx
	seq    atomic.Uint64
	// reserved is the highest event number snapshot.json has reserved:
	// numbers up to it may be handed out; a resumed snapshot starts above
	// it, so no two rows share a position even in an at-least-once output
	// that kept rows written after the last checkpoint.
	reserved atomic.Uint64
	reserve  sync.Mutex
	prog     *Progress
}

// numberReserve is how many event numbers snapshot.json reserves at a time.
const numberReserve = 1 << 20

// numberBlock is how many event numbers a worker takes at a time: one
// shared counter per row made the connections' goroutines contend for it.
// With one connection the numbers are consecutive as before; with several,
// each connection's rows count up in blocks, and the numbers left unused in
// a connection's last block are skipped (numbers are unique, not dense).
const numberBlock = 1024

// numbers hands out k consecutive event numbers of snapshot rows and
// returns the first, reserving more in snapshot.json first when the
// reserved ones are used up.
func (s *Initial) numbers(k uint64) (uint64, error) {
	n := s.seq.Add(k) // the last one
	if n <= s.reserved.Load() {
		return n - k + 1, nil
	}
	s.reserve.Lock()
	defer s.reserve.Unlock()
	if n > s.reserved.Load() {
		upTo := n + numberReserve
		if err := s.tr.reserve(upTo); err != nil {
			return 0, err
		}
		s.reserved.Store(upTo)
	}
	return n - k + 1, nil
}

// Begin takes a new snapshot: lists the captured tables, opens the
// consistent view(s) and records the start in the state dir.
func Begin(ctx context.Context, opt Options) (*Initial, error) {
	s, err := open(ctx, opt)
	if err != nil {
		return nil, err
	}
	start, err := s.views(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	names, err := s.listTables(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	st := &State{Start: start, Began: time.Now().UTC()}
	for _, n := range names {
		st.Tables = append(st.Tables, &TableState{Name: n})
	}
	s.tr = &tracker{dir: opt.StateDir, state: st}
	if err := st.save(opt.StateDir); err != nil {
		s.Close()
		return nil, fmt.Errorf("save snapshot progress: %w", err)
	}
	opt.Log.Info("snapshot started", "position", start.String(), "gtid_state", start.GTIDState, "tables", len(names),
		"connections", len(s.conns), "chunk_size", opt.ChunkSize)
	return s, s.prepare(ctx)
}

// Resume continues an interrupted snapshot with a new consistent view; the
// stream still starts at the original position (see the package comment).
func Resume(ctx context.Context, opt Options, st *State) (*Initial, error) {
	s, err := open(ctx, opt)
	if err != nil {
		return nil, err
	}
	now, err := s.views(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.tr = &tracker{dir: opt.StateDir, state: st}
	s.seq.Store(st.Numbered) // every number up to it may have been handed out
	s.reserved.Store(st.Numbered)
	done := 0
	for _, t := range st.Tables {
		if t.Done {
			done++
		}
	}
	opt.Log.Warn("resuming an interrupted snapshot with a new consistent view; the stream starts at the original position, "+
		"so changes made since then may be delivered twice (at-least-once)",
		"original_position", st.Start.String(), "view_position", now.String(), "tables_done", done, "tables", len(st.Tables))
	return s, s.prepare(ctx)
}

// Start is the position streaming continues from after the snapshot.
func (s *Initial) Start() position.Checkpoint { return s.tr.state.Start }

// Durable saves the progress the pipeline reported durable (its Durable hook).
func (s *Initial) Durable() error { return s.tr.save() }

// Progress reports the snapshot's progress.
func (s *Initial) Progress() *Progress { return s.prog }

// Close ends the views and closes the connections.
func (s *Initial) Close() {
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	if s.db != nil {
		s.db.Close()
	}
}

func open(ctx context.Context, opt Options) (*Initial, error) {
	if opt.ChunkSize <= 0 {
		opt.ChunkSize = 10000
	}
	if opt.Parallelism <= 0 {
		opt.Parallelism = 1
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	src := opt.Source
	// Control queries outside the views (table list, sizes, GTID state,
	// the global read lock when one is needed) and incremental snapshots'
	// chunks go through database/sql; the views are connections of their own
	// (viewConn). The text protocol everywhere: every value arrives as the
	// server prints it.
	db, err := openDB(src, 3)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("snapshot: connect to the source: %w", err)
	}
	return &Initial{opt: opt, db: db, tables: map[string]*change.Table{}}, nil
}

// session settings of every snapshot connection.
var sessionSQL = []string{
	"SET SESSION time_zone = '+00:00'",
	"SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
	// The server must not give up on a client that waits for its outputs.
	"SET SESSION net_write_timeout = 86400",
	"SET SESSION net_read_timeout = 86400",
}

func (s *Initial) newConn(ctx context.Context) (*viewConn, error) {
	c, err := dialView(ctx, s.opt.Source)
	if err != nil {
		return nil, err
	}
	for _, q := range sessionSQL {
		if err := c.exec(ctx, q); err != nil {
			c.Close()
			return nil, fmt.Errorf("snapshot: %s: %w", q, err)
		}
	}
	if s.opt.Flavor == "mariadb" {
		_ = c.exec(ctx, "SET SESSION max_statement_time = 0")
	}
	return c, nil
}

// views opens the snapshot connections, each in a consistent-snapshot
// transaction at one and the same binlog position, which it returns.
func (s *Initial) views(ctx context.Context) (position.Checkpoint, error) {
	n := s.opt.Parallelism
	// Connected at once: each connection is a few round trips of its own.
	conns := make([]*viewConn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = s.newConn(ctx)
		}()
	}
	wg.Wait()
	for i, c := range conns {
		if errs[i] == nil {
			s.conns = append(s.conns, c) // closed by Close, also on an error
		}
	}
	if err := errors.Join(errs...); err != nil {
		return position.Checkpoint{}, err
	}
	if s.opt.Flavor != "mariadb" {
		return s.viewsLocked(ctx, "MySQL: START TRANSACTION WITH CONSISTENT SNAPSHOT is not atomic with the binlog there")
	}
	// Lock-free: start every view at once (one goroutine per connection,
	// so that they begin within microseconds of each other) and check that
	// they name one binlog position; retry until they do.
	attempts := 50
	if s.opt.lockFreeAttempts != 0 {
		attempts = max(s.opt.lockFreeAttempts, 0)
	}
	for attempt := 0; attempt < attempts; attempt++ {
		pos, err := s.startViews(ctx, attempt > 0)
		if err != nil {
			return position.Checkpoint{}, err
		}
		same := true
		for _, p := range pos[1:] {
			same = same && p.File == pos[0].File && p.Pos == pos[0].Pos
		}
		if same {
			if n == 1 {
				s.opt.Log.Info("consistent snapshot taken without locks (MariaDB binlog_snapshot_file/position)")
			} else {
				s.opt.Log.Info("consistent snapshots taken without locks on every connection at one binlog position",
					"connections", n, "attempts", attempt+1)
			}
			return s.withGTID(ctx, pos[0])
		}
		// A transaction committed between two starts: try again, soon at
		// first, then leaving the server a little more time (about 3 s in all).
		time.Sleep(time.Duration(min(attempt+1, 10)) * 10 * time.Millisecond)
	}
	return s.viewsLocked(ctx, "the connections' views did not agree on one binlog position while the server was busy")
}

// startViews ends the views of an earlier attempt (again) and starts a
// consistent snapshot on every connection at once, and returns the binlog
// position each reports.
func (s *Initial) startViews(ctx context.Context, again bool) ([]position.Checkpoint, error) {
	for _, c := range s.conns {
		if !again {
			break
		}
		if err := c.exec(ctx, "ROLLBACK"); err != nil {
			return nil, err
		}
	}
	errs := make([]error, len(s.conns))
	var wg sync.WaitGroup
	for i, c := range s.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.exec(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
				errs[i] = fmt.Errorf("snapshot: START TRANSACTION WITH CONSISTENT SNAPSHOT: %w", err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	pos := make([]position.Checkpoint, len(s.conns))
	for i, c := range s.conns {
		p, err := s.viewPos(ctx, c)
		if err != nil {
			return nil, err
		}
		pos[i] = p
	}
	return pos, nil
}

// viewsLocked starts every view under a brief FLUSH TABLES WITH READ LOCK.
// Without the privilege it falls back to a single lock-free view (MariaDB).
func (s *Initial) viewsLocked(ctx context.Context, why string) (position.Checkpoint, error) {
	lock, err := s.db.Conn(ctx) // a database/sql connection: source.BinlogStatus reads through it
	if err != nil {
		return position.Checkpoint{}, fmt.Errorf("snapshot: connect: %w", err)
	}
	defer lock.Close()
	for _, c := range s.conns {
		_ = c.exec(ctx, "ROLLBACK")
	}
	if _, err := lock.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		if s.opt.Flavor == "mariadb" && len(s.conns) > 1 {
			s.opt.Log.Warn("cannot take FLUSH TABLES WITH READ LOCK (needs RELOAD) to align parallel snapshot connections; using one connection", "err", err)
			for _, c := range s.conns[1:] {
				c.Close()
			}
			s.conns = s.conns[:1]
			if err := s.conns[0].exec(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
				return position.Checkpoint{}, err
			}
			p, err := s.viewPos(ctx, s.conns[0])
			if err != nil {
				return position.Checkpoint{}, err
			}
			return s.withGTID(ctx, p)
		}
		return position.Checkpoint{}, fmt.Errorf("snapshot: FLUSH TABLES WITH READ LOCK (the snapshot user needs RELOAD on MySQL): %w", err)
	}
	locked := time.Now()
	unlock := func() { lock.ExecContext(context.WithoutCancel(ctx), "UNLOCK TABLES") }
	for _, c := range s.conns {
		if err := c.exec(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			unlock()
			return position.Checkpoint{}, fmt.Errorf("snapshot: START TRANSACTION WITH CONSISTENT SNAPSHOT: %w", err)
		}
	}
	row, err := source.BinlogStatus(ctx, lock)
	unlock()
	if err != nil {
		return position.Checkpoint{}, fmt.Errorf("snapshot: SHOW MASTER STATUS: %w", err)
	}
	if len(row) < 2 {
		return position.Checkpoint{}, errors.New("snapshot: SHOW MASTER STATUS returned nothing: is log_bin on?")
	}
	pos, err := strconv.ParseUint(row[1], 10, 32)
	if err != nil {
		return position.Checkpoint{}, fmt.Errorf("snapshot: SHOW MASTER STATUS position %q", row[1])
	}
	s.opt.Log.Warn("consistent snapshot taken under a brief global read lock (FLUSH TABLES WITH READ LOCK)", "why", why,
		"held", time.Since(locked).Round(time.Millisecond).String(), "connections", len(s.conns))
	p := position.Checkpoint{Flavor: s.opt.Flavor, File: row[0], Pos: uint32(pos)}
	if s.opt.Flavor != "mariadb" {
		if len(row) >= 5 {
			p.GTIDState = strings.ReplaceAll(row[4], "\n", "")
		}
		return p, nil
	}
	return s.withGTID(ctx, p)
}

// mariaDBSnapshotPos is viewPos on a database/sql connection (incremental snapshots).
func (s *Initial) mariaDBSnapshotPos(ctx context.Context, c *sql.Conn) (position.Checkpoint, error) {
	rows, err := c.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return position.Checkpoint{}, fmt.Errorf("snapshot: read binlog_snapshot_file/position: %w", err)
	}
	defer rows.Close()
	var kv [][2]string
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return position.Checkpoint{}, err
		}
		kv = append(kv, [2]string{k, v})
	}
	if err := rows.Err(); err != nil {
		return position.Checkpoint{}, err
	}
	return snapshotStatus(kv)
}

// snapshotStatus reads the position from the rows of SHOW STATUS LIKE
// 'binlog_snapshot_%'.
func snapshotStatus(kv [][2]string) (position.Checkpoint, error) {
	p := position.Checkpoint{Flavor: "mariadb"}
	for _, r := range kv {
		switch strings.ToLower(r[0]) {
		case "binlog_snapshot_file":
			p.File = r[1]
		case "binlog_snapshot_position":
			n, err := strconv.ParseUint(r[1], 10, 32)
			if err != nil {
				return p, fmt.Errorf("snapshot: binlog_snapshot_position %q", r[1])
			}
			p.Pos = uint32(n)
		}
	}
	if p.File == "" || p.Pos < 4 {
		return p, errors.New("snapshot: the server reports no binlog_snapshot_file/position: is log_bin on?")
	}
	return p, nil
}

// viewPos reads the binlog position a consistent view was taken at.
func (s *Initial) viewPos(ctx context.Context, c *viewConn) (position.Checkpoint, error) {
	rows, err := c.query(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return position.Checkpoint{}, fmt.Errorf("snapshot: read binlog_snapshot_file/position: %w", err)
	}
	var kv [][2]string
	for _, row := range rows {
		if len(row) >= 2 {
			kv = append(kv, [2]string{string(row[0]), string(row[1])})
		}
	}
	return snapshotStatus(kv)
}

// withGTID adds the MariaDB GTID state at the position.
func (s *Initial) withGTID(ctx context.Context, p position.Checkpoint) (position.Checkpoint, error) {
	var g sql.NullString
	if err := s.db.QueryRowContext(ctx, "SELECT BINLOG_GTID_POS(?, ?)", p.File, p.Pos).Scan(&g); err != nil {
		return p, fmt.Errorf("snapshot: BINLOG_GTID_POS(%s, %d): %w", p.File, p.Pos, err)
	}
	p.GTIDState = g.String
	return p, nil
}

// listTables returns the captured base tables; largest first with several
// connections (so they finish together).
func (s *Initial) listTables(ctx context.Context) ([]string, error) {
	q := "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')" +
		" AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY "
	if len(s.conns) > 1 {
		q += "DATA_LENGTH DESC, " // reading the sizes opens every table: only worth it to balance connections
	}
	rows, err := s.db.QueryContext(ctx, q+"TABLE_SCHEMA, TABLE_NAME")
	if err != nil {
		return nil, fmt.Errorf("snapshot: list tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var db, name string
		if err := rows.Scan(&db, &name); err != nil {
			return nil, err
		}
		if s.opt.Filter.Captured(db, name) {
			out = append(out, db+"."+name)
		}
	}
	return out, rows.Err()
}

// prepare loads every pending table's definition inside the view and
// records it in the schema history, so snapshot rows and the stream use the
// same table version.
func (s *Initial) prepare(ctx context.Context) error {
	st := s.tr.state
	mark := schema.Mark{File: st.Start.File, Pos: st.Start.Pos - 1} // valid at the start position (kept by a Rewind to it)
	var names []string
	for _, ts := range st.Tables {
		if !ts.Done {
			names = append(names, ts.Name)
		}
	}
	s.prog = newProgress(names, s.opt.Log, s.opt.Progress)
	changed := false
	for _, name := range names {
		db, tbl, _ := strings.Cut(name, ".")
		// In the view: its transaction takes the table's metadata lock.
		var create string
		res, err := s.conns[0].query(ctx, "SHOW CREATE TABLE "+quoteIdent(db)+"."+quoteIdent(tbl))
		if err == nil && (len(res) != 1 || len(res[0]) < 2) {
			err = errors.New("no definition returned")
		}
		if err == nil {
			create = string(res[0][1])
		}
		if err != nil {
			if strings.Contains(err.Error(), "1146") {
				s.opt.Log.Warn("table no longer exists; its rows come from the stream only", "table", name)
				continue
			}
			return fmt.Errorf("snapshot: SHOW CREATE TABLE %s: %w", name, err)
		}
		t, err := schema.ParseCreateTable(db, create)
		if err != nil {
			return fmt.Errorf("snapshot: table %s: %w", name, err)
		}
		before := s.opt.Hist.Get(db, tbl)
		t = s.opt.Hist.Define(t, mark)
		changed = changed || t != before
		s.tables[name] = t
	}
	if changed {
		if err := s.opt.Hist.Save(); err != nil {
			return fmt.Errorf("snapshot: save schema history: %w", err)
		}
	}
	var est int64
	split := false
	for _, name := range names {
		db, tbl, _ := strings.Cut(name, ".")
		var rows sql.NullInt64
		_ = s.db.QueryRowContext(ctx, "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", db, tbl).Scan(&rows)
		ts := st.table(name)
		if ts == nil {
			continue
		}
		s.prog.setTotal(name, rows.Int64, ts.Rows)
		est += rows.Int64
		// With several connections, a table of at least two chunks that
		// has not been started is read in key ranges, one per connection.
		// A table started on one range (an earlier run) stays so. The
		// estimate is InnoDB's statistics, which can be far too low (a
		// table just loaded in bulk: 29 rows for 1,000,000): a key led by an
		// integer is split whatever it says, when its MIN and MAX are two
		// chunks apart (splitInt).
		if t := s.tables[name]; t != nil && len(s.conns) > 1 && ts.Ranges == nil && ts.LastKey == nil && ts.Rows == 0 &&
			(rows.Int64 >= 2*int64(s.opt.ChunkSize) || intLed(t)) {
			r, err := s.split(ctx, t, len(s.conns), rows.Int64)
			if err != nil {
				return err
			}
			if r != nil {
				ts.Ranges, split = r, true
				s.opt.Log.Info("snapshot reads a table in key ranges on several connections", "table", name, "ranges", len(r))
			}
		}
	}
	if split {
		// The ranges must be durable before any of their progress is.
		if err := st.save(s.opt.StateDir); err != nil {
			return fmt.Errorf("save snapshot progress: %w", err)
		}
	}
	s.opt.Log.Info("snapshot tables ready", "tables", len(names), "estimated_rows", est)
	return nil
}

// Run reads every pending table and sends its rows as OpRead events in
// batches taken from free to out; it does not close out. The last batch
// carries the start position as its checkpoint and completes the snapshot.
func (s *Initial) Run(ctx context.Context, out chan<- *pipeline.Batch, free <-chan *pipeline.Batch) error {
	defer s.Close()
	st := s.tr.state
	s.tx = &change.Tx{File: st.Start.File, Pos: st.Start.Pos, Timestamp: uint32(time.Now().Unix())}
	work := make(chan unit)
	// Ranges of a table still to read, so that the last one to finish
	// closes the table's progress.
	left := map[string]*atomic.Int32{}
	for _, ts := range st.Tables {
		left[ts.Name] = new(atomic.Int32)
		for _, r := range ts.Ranges {
			if !r.Done {
				left[ts.Name].Add(1)
			}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopProgress := s.prog.run(ctx)
	defer stopProgress()
	var wg sync.WaitGroup
	errs := make([]error, len(s.conns))
	for i, c := range s.conns {
		wg.Add(1)
		go func(i int, c *viewConn) {
			defer wg.Done()
			w := &worker{s: s, conn: c, out: out, free: free, left: left}
			errs[i] = w.run(ctx, work)
			if errs[i] != nil {
				cancel()
			}
		}(i, c)
	}
	began := time.Now()
feed:
	for _, ts := range st.Tables {
		if ts.Done || s.tables[ts.Name] == nil {
			continue
		}
		units := []unit{{ts: ts, rng: -1}}
		if len(ts.Ranges) > 0 {
			units = units[:0]
			for i, r := range ts.Ranges {
				if !r.Done {
					units = append(units, unit{ts: ts, rng: i})
				}
			}
		}
		for _, u := range units {
			select {
			case work <- u:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The closing batch: completes the snapshot and moves the checkpoint to
	// the start position, atomically for the pipeline.
	var b *pipeline.Batch
	select {
	case b = <-free:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.Reset()
	b.Checkpoint = st.Start
	var skipped []string
	for _, ts := range st.Tables {
		if !ts.Done && s.tables[ts.Name] == nil {
			skipped = append(skipped, ts.Name)
		}
	}
	b.Done = func() {
		for _, n := range skipped {
			s.tr.mark(n, -1, nil, 0, true, false)
		}
		s.tr.mark("", -1, nil, 0, false, true)
	}
	out <- b
	total := s.prog.rowsDone()
	el := time.Since(began)
	s.opt.Log.Info("snapshot complete", "rows", total, "seconds", fmt.Sprintf("%.2f", el.Seconds()),
		"rows_per_second", int64(float64(total)/max(el.Seconds(), 1e-9)), "stream_from", st.Start.String())
	return nil
}

// unit is a table to read, or one key range of it (rng >= 0).
type unit struct {
	ts  *TableState
	rng int
}

// worker reads tables on one connection (one consistent view).
type worker struct {
	s    *Initial
	conn *viewConn
	out  chan<- *pipeline.Batch
	free <-chan *pipeline.Batch
	cur  *pipeline.Batch
	left map[string]*atomic.Int32
	// next and end are the event numbers this worker may hand out, next
	// up to end (excluded); see numberBlock.
	next, end uint64
}

// number hands out the next event number of a row.
func (w *worker) number() (uint64, error) {
	if w.next == w.end {
		n, err := w.s.numbers(numberBlock)
		if err != nil {
			return 0, err
		}
		w.next, w.end = n, n+numberBlock
	}
	w.next++
	return w.next - 1, nil
}

func (w *worker) run(ctx context.Context, work <-chan unit) error {
	for u := range work {
		if err := w.table(ctx, u.ts, u.rng); err != nil {
			return fmt.Errorf("snapshot of %s: %w", u.ts.Name, err)
		}
	}
	return w.send(ctx)
}

func (w *worker) send(ctx context.Context) error {
	if w.cur == nil {
		return nil
	}
	select {
	case w.out <- w.cur:
		w.cur = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *worker) take(ctx context.Context) error {
	select {
	case b := <-w.free:
		b.Reset()
		w.cur = b
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// attach runs fn once the batch holding everything emitted so far is durable.
func (w *worker) attach(ctx context.Context, fn func()) error {
	if w.cur == nil {
		if err := w.take(ctx); err != nil {
			return err
		}
	}
	prev := w.cur.Done
	if prev == nil {
		w.cur.Done = fn
	} else {
		w.cur.Done = func() { prev(); fn() }
	}
	return nil
}

// table reads a table, or its key range rng when rng >= 0.
func (w *worker) table(ctx context.Context, ts *TableState, rng int) error {
	s := w.s
	t := s.tables[ts.Name]
	sel := make([]string, len(t.Columns))
	cv := &converter{convs: make([]conv, len(t.Columns))}
	if s.opt.TimeZone != nil && s.opt.TimeZone != time.UTC && s.opt.TimeZone.String() != "UTC" {
		cv.loc = s.opt.TimeZone
	}
	for i := range t.Columns {
		expr, c, err := columnConv(&t.Columns[i])
		if err != nil {
			return err
		}
		sel[i], cv.convs[i] = expr, c
	}
	from := " FROM " + quoteIdent(t.Schema) + "." + quoteIdent(t.Name)
	chunked := len(t.PrimaryKey) > 0
	for _, k := range t.PrimaryKey {
		chunked = chunked && keyable(&t.Columns[k])
	}
	base := "SELECT " + strings.Join(sel, ", ") + from
	if !chunked {
		if ts.Rows > 0 {
			s.opt.Log.Warn("table without a usable primary key was interrupted; reading it whole again (its rows repeat)", "table", ts.Name)
		}
		n, _, err := w.query(ctx, base, t, cv, nil, nil)
		if err != nil {
			return err
		}
		s.prog.finish(ts.Name)
		return w.attach(ctx, func() { s.tr.mark(ts.Name, -1, nil, n, true, false) })
	}
	var order []string
	for _, k := range t.PrimaryKey {
		order = append(order, quoteIdent(t.Columns[k].Name))
	}
	// One query in key order: chunks are progress marks every ChunkSize
	// rows (a query per chunk costs a round trip and a new scan each).
	q := base
	if rng >= 0 {
		// A key range (see split).
		cond, err := rangeCond(t, ts.Ranges[rng])
		if err != nil {
			return err
		}
		if cond != "" {
			q += " WHERE " + cond
		}
	} else if ts.LastKey != nil {
		if len(ts.LastKey) != len(t.PrimaryKey) {
			return errPKChanged
		}
		q += " WHERE " + after(t, ts.LastKey)
	}
	q += " ORDER BY " + strings.Join(order, ", ")
	var marked int64
	n, last, err := w.query(ctx, q, t, cv, t.PrimaryKey, func(key []string, rows int64) error {
		marked += rows
		return w.attach(ctx, func() { s.tr.mark(ts.Name, rng, key, rows, false, false) })
	})
	if err != nil {
		return err
	}
	rest := n - marked
	if rng < 0 || w.left[ts.Name].Add(-1) == 0 {
		s.prog.finish(ts.Name)
	}
	return w.attach(ctx, func() { s.tr.mark(ts.Name, rng, last, rest, true, false) })
}

var errPKChanged = errors.New("the primary key changed while the snapshot was interrupted: " +
	"take a new snapshot (start over with --reset)")

// rangeCond is the WHERE condition of what is left to read of key range r.
func rangeCond(t *change.Table, r *RangeState) (string, error) {
	lead := quoteIdent(t.Columns[t.PrimaryKey[0]].Name)
	var conds []string
	for _, k := range [][]string{r.LastKey, r.AfterKey, r.UptoKey} {
		if k != nil && len(k) != len(t.PrimaryKey) {
			return "", errPKChanged
		}
	}
	switch {
	case r.LastKey != nil:
		conds = append(conds, "("+after(t, r.LastKey)+")")
	case r.AfterKey != nil:
		conds = append(conds, "("+after(t, r.AfterKey)+")")
	case r.After != "":
		conds = append(conds, lead+" > "+r.After)
	}
	switch {
	case r.UptoKey != nil:
		conds = append(conds, "("+atMost(t, r.UptoKey)+")")
	case r.Upto != "":
		conds = append(conds, lead+" <= "+r.Upto)
	}
	return strings.Join(conds, " AND "), nil
}

// split divides the primary key of table t into n ranges, so that n
// connections read the table at once (the server produces a connection's
// rows on one thread). It returns nil when the table is too small to split.
//
// When the key's first column is an integer, the ranges are of equal width
// on that column between its minimum and maximum in the view (two index
// dives): they balance dense keys such as AUTO_INCREMENT; a skewed key gives
// uneven ranges (still correct). Other keys (strings, dates, decimals,
// binary, composite keys led by one of those) are split at sampled keys: the
// key of the row at each n-th of the estimated row count, read in key order
// in the view (a key-only scan up to that row, one per split point, run on
// the connections at once).
func (s *Initial) split(ctx context.Context, t *change.Table, n int, est int64) ([]*RangeState, error) {
	if n < 2 || len(t.PrimaryKey) == 0 {
		return nil, nil
	}
	for _, k := range t.PrimaryKey {
		if !keyable(&t.Columns[k]) {
			return nil, nil // read whole (see table)
		}
	}
	if intLed(t) {
		return s.splitInt(ctx, t, &t.Columns[t.PrimaryKey[0]], n, est)
	}
	return s.splitSampled(ctx, t, n, est)
}

// intLed reports whether t's primary key starts with an integer column.
func intLed(t *change.Table) bool {
	if len(t.PrimaryKey) == 0 {
		return false
	}
	switch change.BaseType(t.Columns[t.PrimaryKey[0]].Type) {
	case "tinyint", "smallint", "mediumint", "int", "bigint", "serial":
		return true
	}
	return false
}

func (s *Initial) splitInt(ctx context.Context, t *change.Table, c *change.Column, n int, est int64) ([]*RangeState, error) {
	col := quoteIdent(c.Name)
	q := "SELECT MIN(" + col + "), MAX(" + col + ") FROM " + quoteIdent(t.Schema) + "." + quoteIdent(t.Name)
	res, err := s.conns[0].query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("snapshot: key range of %s: %w", t.FullName(), err)
	}
	if len(res) != 1 || len(res[0]) != 2 || res[0][0] == nil || res[0][1] == nil {
		return nil, nil // empty table
	}
	minK, ok1 := new(big.Int).SetString(string(res[0][0]), 10)
	maxK, ok2 := new(big.Int).SetString(string(res[0][1]), 10)
	if !ok1 || !ok2 {
		return nil, nil
	}
	width := new(big.Int).Sub(maxK, minK)
	if width.Cmp(big.NewInt(int64(n))) < 0 {
		return nil, nil
	}
	if est < 2*int64(s.opt.ChunkSize) && width.Cmp(big.NewInt(2*int64(s.opt.ChunkSize)-1)) < 0 {
		// The estimate says under two chunks and the keys cannot hold
		// more (a composite key may: its estimate is believed then).
		return nil, nil
	}
	out := make([]*RangeState, n)
	prev := ""
	for i := range n {
		r := &RangeState{After: prev}
		if i < n-1 {
			// minK + width*(i+1)/n
			b := new(big.Int).Mul(width, big.NewInt(int64(i+1)))
			b.Quo(b, big.NewInt(int64(n)))
			r.Upto = b.Add(b, minK).String()
			prev = r.Upto
		}
		out[i] = r
	}
	return out, nil
}

func (s *Initial) splitSampled(ctx context.Context, t *change.Table, n int, est int64) ([]*RangeState, error) {
	var cols []string
	for _, k := range t.PrimaryKey {
		cols = append(cols, quoteIdent(t.Columns[k].Name))
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + quoteIdent(t.Schema) + "." + quoteIdent(t.Name) +
		" ORDER BY " + strings.Join(cols, ", ") + " LIMIT 1 OFFSET "
	points := make([][]string, n-1)
	errs := make([]error, n-1)
	var wg sync.WaitGroup
	for i := range n - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.conns[i%len(s.conns)].query(ctx, q+strconv.FormatInt(est*int64(i+1)/int64(n), 10))
			if err != nil {
				errs[i] = fmt.Errorf("snapshot: sample the key of %s: %w", t.FullName(), err)
				return
			}
			if len(res) == 0 || len(res[0]) != len(cols) {
				return // the estimate is above the rows in the view
			}
			raw := res[0]
			lits := make([]string, len(cols))
			for j, k := range t.PrimaryKey {
				lit, ok := keyLiteral(&t.Columns[k], raw[j])
				if !ok || raw[j] == nil {
					return // not pageable: no split there
				}
				lits[j] = lit
			}
			points[i] = lits
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The points come from increasing offsets of one view: in key order.
	var bounds [][]string
	for _, p := range points {
		if p != nil && (len(bounds) == 0 || !slices.Equal(p, bounds[len(bounds)-1])) {
			bounds = append(bounds, p)
		}
	}
	if len(bounds) == 0 {
		return nil, nil
	}
	out := make([]*RangeState, len(bounds)+1)
	var prev []string
	for i := range out {
		r := &RangeState{AfterKey: prev}
		if i < len(bounds) {
			r.UptoKey = bounds[i]
			prev = bounds[i]
		}
		out[i] = r
	}
	return out, nil
}

// after is the keyset condition "primary key > last" written so that the
// optimizer reads a range of the primary key.
func after(t *change.Table, last []string) string {
	// (a > x) OR (a = x AND b > y) OR ...
	var ors []string
	for i := range t.PrimaryKey {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, quoteIdent(t.Columns[t.PrimaryKey[j]].Name)+" = "+last[j])
		}
		ands = append(ands, quoteIdent(t.Columns[t.PrimaryKey[i]].Name)+" > "+last[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return strings.Join(ors, " OR ")
}

// atMost is the condition "primary key <= upto", the complement of after.
func atMost(t *change.Table, upto []string) string {
	// (a < x) OR (a = x AND b < y) OR ... OR (a = x AND ... AND z <= w)
	var ors []string
	for i := range t.PrimaryKey {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, quoteIdent(t.Columns[t.PrimaryKey[j]].Name)+" = "+upto[j])
		}
		op := " < "
		if i == len(t.PrimaryKey)-1 {
			op = " <= "
		}
		ands = append(ands, quoteIdent(t.Columns[t.PrimaryKey[i]].Name)+op+upto[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return strings.Join(ors, " OR ")
}

// query streams the rows of q into batches. With key given it calls mark
// every ChunkSize rows with the key literals of the row just emitted and
// the rows emitted since the previous mark, and returns the rows and the
// key literals of the last row.
func (w *worker) query(ctx context.Context, q string, t *change.Table, cv *converter, key []int,
	mark func(key []string, rows int64) error) (int64, []string, error) {
	var n, marked int64
	// The key of the row emitted last, as the server sent it: numbers are
	// rendered as text only when a chunk ends (keyLiteral).
	keyCell := make([]cell, len(key))
	keyBuf := make([][]byte, len(key))
	keyRaw := make([][]byte, len(key))
	name := t.FullName()
	chunk := int64(w.s.opt.ChunkSize)
	literals := func() ([]string, error) {
		out := make([]string, len(key))
		for i, k := range key {
			keyRaw[i] = keyCell[i].appendText(keyRaw[i][:0])
			lit, ok := keyLiteral(&t.Columns[k], keyRaw[i])
			if !ok {
				return nil, fmt.Errorf("primary key column %s value %q cannot be paged", t.Columns[k].Name, keyRaw[i])
			}
			out[i] = lit
		}
		return out, nil
	}
	ev := change.Event{Op: change.OpRead, Table: t, Tx: w.s.tx, Snapshot: true}
	var failed error // the callback's own error, returned as it is
	err := w.conn.rows(ctx, q, func(cols []cell) error {
		if len(cols) != len(t.Columns) {
			failed = fmt.Errorf("the query returned %d columns, the table has %d", len(cols), len(t.Columns))
			return failed
		}
		// The row is converted straight into the batch's storage. Its text
		// is at most the cells' (conversions keep or shorten it).
		text := 0
		for i := range cols {
			text += len(cols[i].text)
		}
		if w.cur == nil || !w.cur.Room(len(cols), text) {
			if failed = w.send(ctx); failed != nil {
				return failed
			}
			if failed = w.take(ctx); failed != nil {
				return failed
			}
		}
		b := w.cur
		row := b.Values(len(cols))
		cv.arena = cv.arena[:0]
		for i := range cols {
			v := &row[i]
			if err := cv.cell(&cv.convs[i], &cols[i], v); err != nil {
				failed = fmt.Errorf("column %s: %w", t.Columns[i].Name, err)
				return failed
			}
			if v.Text != nil {
				v.Text = b.Text(v.Text)
			}
		}
		for i, k := range key {
			c := cols[k]
			if c.num == 0 && c.text != nil { // the packet's bytes: copied
				keyBuf[i] = append(keyBuf[i][:0], c.text...)
				c.text = keyBuf[i]
			}
			keyCell[i] = c
		}
		num, err := w.number()
		if err != nil {
			failed = err
			return failed
		}
		ev.After, ev.EventNumber = row, num
		b.AddOwned(&ev)
		n++
		if n&1023 == 0 {
			w.s.prog.add(name, 1024)
		}
		if mark != nil && n%chunk == 0 {
			lits, err := literals()
			if err != nil {
				failed = err
				return failed
			}
			if failed = mark(lits, n-marked); failed != nil {
				return failed
			}
			marked = n
		}
		return nil
	})
	switch {
	case failed != nil:
		err = failed
	case err != nil && strings.Contains(err.Error(), "1412"):
		err = fmt.Errorf("the table was altered after the consistent snapshot began: %w (restart bintap: the snapshot resumes with a new view)", err)
	case err != nil && ctx.Err() == nil:
		err = fmt.Errorf("%s: %w", truncate(q, 300), err)
	}
	if err == nil {
		w.s.prog.add(name, n&1023)
	}
	if err != nil || n == 0 || key == nil {
		return n, nil, err
	}
	last, err := literals()
	return n, last, err
}

// appendRaw appends the text of a driver value.
func appendRaw(dst []byte, v driver.Value) []byte {
	switch x := v.(type) {
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case []byte:
		return append(dst, x...)
	case float64:
		return strconv.AppendFloat(dst, x, 'g', -1, 64)
	}
	return dst
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
