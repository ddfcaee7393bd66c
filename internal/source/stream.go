// Package source owns the connection to the source server: flavor detection,
// preflight checks, the replication stream, transaction and position
// tracking, table definitions for row events, and reconnects. It turns the
// binary log into batches of change.Events, each with the checkpoint that
// covers it.
package source

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/bintap/bintap/internal/backoff"
	"github.com/bintap/bintap/internal/binlog"
	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/schema"
)

// Start is where a stream begins.
type Start struct {
	File string
	Pos  uint32
	// Skip row images of the transaction at File:Pos were delivered already.
	Skip uint64
	// GTID of the transaction at File:Pos (checked when Skip > 0).
	GTID string
	// GTIDSet, when set, starts replication by GTID instead of File:Pos.
	GTIDSet string
	// GTIDState is the executed GTID state before the start.
	GTIDState string
}

// Options configure a Stream.
type Options struct {
	// Conn is the source server.
	Conn config.Source
	// ServerID is the replica server id bintap registers with.
	ServerID uint32
	// Flavor is "auto", "mariadb" or "mysql".
	Flavor string
	// Filter says which tables are captured.
	Filter *config.CaptureFilter
	// TimeZone is the zone TIMESTAMP values are written in (nil: UTC).
	TimeZone *time.Location
	// StopAtEnd stops Run at the end of the binlog as of its start.
	StopAtEnd bool
	// IncludeQuery reads the SQL statement of each row change (MariaDB
	// Annotate_rows, MySQL Rows_query events) into Event.Query.
	IncludeQuery bool
	// OnState, when set, is told when a replication session is running
	// (nil) and when the connection was lost and is being retried (the
	// error). It is called from Run's goroutine and must not block.
	OnState func(err error)
}

// Stream reads the binary log and produces batches.
type Stream struct {
	opt       Options
	db        *sql.DB
	router    *Router
	ownRouter bool // made by Open, closed by Close
	hist      *schema.History
	log       *slog.Logger
	filter    *config.CaptureFilter
	flavor    string
	// zeroLogPos: the server (MariaDB 11.4+) may send events with log_pos 0,
	// which go-mysql then computes; older servers need no such help (and it
	// costs the Annotate_rows events it asks for).
	zeroLogPos bool

	// Position of the next event to read.
	file string
	pos  uint32
	// The open transaction, nil between transactions.
	tx        *change.Tx
	eventNum  uint64 // row images of tx counted so far
	stmt      string // the statement of the rows that follow (IncludeQuery)
	skip      uint64 // row images of the transaction at resumeAt to skip
	skipGTID  string
	resumeAt  position.Checkpoint
	failed    error // the error the event handler stopped the session with
	inPayload bool  // handling the events inside a MySQL TRANSACTION_PAYLOAD
	byGTID    bool  // the session started by GTID: the resume point is matched by GTID
	gtids     position.GTIDState
	gtidText  string // gtids as text, kept current at each commit

	tables map[uint64]*tableState
	obs    Observer // optional: incremental snapshots
	// onStart, when set, is given the first transaction's position
	// (SetStartCheckpoint).
	onStart func(position.Checkpoint) error
	// slabs are the buffers the replication stream is read into, reused
	// across sessions; slab is the one the current event lies in, or nil.
	slabs slabPool
	slab  pipeline.Holder
	// liveEngines are the server's MEMORY and BLACKHOLE tables at Open.
	liveEngines map[string]string

	received atomic.Uint64 // events received, for the stall watch

	end  *Start // stop-at-end target
	done bool
	out  chan<- *pipeline.Batch
	free <-chan *pipeline.Batch
	cur  *pipeline.Batch
	ctx  context.Context
}

type tableState struct {
	schema, name string
	captured     bool
	watched      bool // decoded for the observer only
	table        *change.Table
	dec          *binlog.TableDecoder
	colTypes     []byte   // column types the decoder was built for
	colMeta      []uint16 // and their metadata
}

// Open connects to the source's SQL interface and detects the flavor.
func Open(ctx context.Context, opt Options, hist *schema.History, log *slog.Logger) (*Stream, error) {
	if opt.Filter == nil {
		opt.Filter = &config.CaptureFilter{}
	}
	router, owned := opt.Conn.Route.(*Router)
	owned = !owned
	if owned {
		var err error
		if router, err = NewRouter(opt.Conn, log); err != nil {
			return nil, err
		}
		opt.Conn = router.Source()
	}
	fail := func(err error) (*Stream, error) {
		if owned {
			router.Close()
		}
		return nil, err
	}
	if err := router.FindPrimary(ctx); err != nil {
		return fail(err)
	}
	db, err := OpenDB(opt.Conn)
	if err != nil {
		return fail(err)
	}
	flavor, err := DetectFlavor(ctx, db, opt.Flavor)
	if err != nil {
		db.Close()
		return fail(err)
	}
	s := &Stream{opt: opt, db: db, router: router, ownRouter: owned, hist: hist, log: log, filter: opt.Filter, flavor: flavor, tables: map[uint64]*tableState{}}
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		db.Close()
		return fail(connectError(err))
	}
	logTLS(ctx, db, opt.Conn, log)
	if s.liveEngines, err = ExcludeEngines(ctx, db, opt.Filter, log); err != nil {
		db.Close()
		return fail(err)
	}
	s.zeroLogPos = flavor == "mariadb" && mariaDBAtLeast(version, 11, 4)
	// The schema history reads versioned comments as this server does, and
	// gives databases it has not seen created the server's character set.
	hist.SetServer(flavor, version)
	var serverCS string
	if err := db.QueryRowContext(ctx, "SELECT @@character_set_server").Scan(&serverCS); err == nil && serverCS != "" {
		hist.SetServerCharset(serverCS)
	}
	return s, nil
}

// Flavor is "mariadb" or "mysql".
func (s *Stream) Flavor() string { return s.flavor }

// Close releases the SQL connection and the way to the source.
func (s *Stream) Close() error {
	err := s.db.Close()
	if s.ownRouter {
		err = errors.Join(err, s.router.Close())
	}
	return err
}

// Source is the source settings with the stream's route: snapshots and other
// connections made with it go to the same server, the same way.
func (s *Stream) Source() config.Source { return s.opt.Conn }

// DetectFlavor returns want unless it is "auto", in which case the server says.
func DetectFlavor(ctx context.Context, db *sql.DB, want string) (string, error) {
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return "", connectError(err)
	}
	if want != "auto" && want != "" {
		return want, nil
	}
	if strings.Contains(strings.ToLower(version), "mariadb") {
		return "mariadb", nil
	}
	return "mysql", nil
}

// mariaDBAtLeast reports whether a MariaDB VERSION() string is at least major.minor.
func mariaDBAtLeast(version string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(version, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

// connectError turns driver errors into messages that say what to do.
func connectError(err error) error {
	if te, ok := errors.AsType[*TunnelError](err); ok {
		return te
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "x509:"), strings.Contains(msg, "tls: "):
		return fmt.Errorf("TLS to the source failed (check ssl-mode and ssl-ca in --source): %w", err)
	case strings.Contains(msg, "does not support TLS"):
		return fmt.Errorf("the source offers no TLS, but ssl-mode in --source requires it (ssl-mode=preferred accepts a plain connection): %w", err)
	case strings.Contains(msg, "Error 1045"):
		return fmt.Errorf("the source refused the user name or password (check --source): %w", err)
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"), strings.Contains(msg, "i/o timeout"):
		return fmt.Errorf("cannot reach the source server (check host and port in --source, and that the server runs): %w", err)
	}
	return fmt.Errorf("query the source: %w", err)
}

// Resolve turns --start into a concrete start.
func (s *Stream) Resolve(ctx context.Context, sp config.StartPoint) (Start, error) {
	switch sp.Kind {
	case config.StartFilePos:
		return Start{File: sp.File, Pos: sp.Pos}, nil
	case config.StartGTID:
		if _, err := position.NewGTIDState(s.flavor, sp.GTID); err != nil {
			return Start{}, err
		}
		return Start{GTIDSet: sp.GTID, GTIDState: sp.GTID}, nil
	case config.StartOldest:
		first, err := FirstRow(ctx, s.db, "SHOW BINARY LOGS")
		if err != nil {
			return Start{}, fmt.Errorf("list binary logs (needs REPLICATION CLIENT or BINLOG MONITOR): %w", err)
		}
		if first == nil {
			return Start{}, errors.New("the source has no binary logs: is log_bin on?")
		}
		return Start{File: first[0], Pos: 4}, nil
	default:
		file, pos, err := s.MasterStatus(ctx)
		if err != nil {
			return Start{}, err
		}
		st := Start{File: file, Pos: pos}
		st.GTIDState, _ = s.gtidExecuted(ctx)
		return st, nil
	}
}

// BinaryLogs lists the binary log files the source has, oldest first.
func (s *Stream) BinaryLogs(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("list binary logs (needs REPLICATION CLIENT or BINLOG MONITOR): %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var files []string
	for rows.Next() {
		vals := make([]any, len(cols))
		var name string
		vals[0] = &name
		for i := 1; i < len(vals); i++ {
			vals[i] = new(any)
		}
		if err := rows.Scan(vals...); err != nil {
			return nil, err
		}
		files = append(files, name)
	}
	return files, rows.Err()
}

// MasterStatus is the end of the binary log now.
func (s *Stream) MasterStatus(ctx context.Context) (string, uint32, error) {
	row, err := BinlogStatus(ctx, s.db)
	if err != nil {
		return "", 0, fmt.Errorf("read the binlog position (needs REPLICATION CLIENT or BINLOG MONITOR): %w", err)
	}
	if len(row) < 2 {
		return "", 0, errors.New("SHOW MASTER STATUS returned nothing: binary logging is off on the source (set log_bin; see bintap check)")
	}
	pos, err := strconv.ParseUint(row[1], 10, 32)
	if err != nil {
		return "", 0, fmt.Errorf("SHOW MASTER STATUS position %q: %w", row[1], err)
	}
	return row[0], uint32(pos), nil
}

// BinlogStatus is the first row of SHOW MASTER STATUS (file, position, ...),
// or of SHOW BINARY LOG STATUS where MySQL 8.4 removed the former.
func BinlogStatus(ctx context.Context, q Querier) ([]string, error) {
	row, err := FirstRow(ctx, q, "SHOW MASTER STATUS")
	if err != nil && strings.Contains(err.Error(), "1064") { // a syntax error: MySQL 8.4+
		if row2, err2 := FirstRow(ctx, q, "SHOW BINARY LOG STATUS"); err2 == nil {
			return row2, nil
		}
	}
	return row, err
}

// Querier is a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// FirstRow returns the first row of a query as text (nil when it has none),
// whatever its number of columns.
func FirstRow(ctx context.Context, db Querier, q string) ([]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v.String
	}
	return out, nil
}

func (s *Stream) gtidExecuted(ctx context.Context) (string, error) {
	q := "SELECT @@GLOBAL.gtid_executed"
	if s.flavor == "mariadb" {
		q = "SELECT @@GLOBAL.gtid_binlog_pos"
	}
	var v sql.NullString
	err := s.db.QueryRowContext(ctx, q).Scan(&v)
	return strings.ReplaceAll(v.String, "\n", ""), err
}

// errStop ends a replication session on purpose (stop-at-end reached).
var errStop = errors.New("stop")

// PermanentError is a fault that retrying cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Run streams from start, sending full batches to out and taking empty ones
// from free, until ctx ends, the stop-at-end target is reached, or a
// permanent error. Connection faults are retried with backoff, resuming after
// the last event sent. out is closed when Run returns.
func (s *Stream) Run(ctx context.Context, start Start, out chan<- *pipeline.Batch, free <-chan *pipeline.Batch) error {
	defer close(out)
	s.out, s.free, s.ctx = out, free, ctx
	var err error
	if s.gtids, err = position.NewGTIDState(s.flavor, start.GTIDState); err != nil {
		s.log.Warn("ignoring unreadable GTID state", "state", start.GTIDState, "err", err)
		s.gtids, _ = position.NewGTIDState(s.flavor, "")
	}
	s.gtidText = s.gtids.String()
	s.file, s.pos, s.skip, s.skipGTID = start.File, start.Pos, start.Skip, start.GTID
	if err := s.syncEngines(start); err != nil {
		return err
	}
	gtidStart := start.GTIDSet
	several := len(s.router.Hosts()) > 1
	if several && gtidStart == "" && start.GTIDState != "" {
		// Several servers: a file:pos is only good on the server that wrote
		// it, and the checkpoint may come from another one.
		gtidStart = start.GTIDState
	}
	if s.opt.StopAtEnd {
		f, p, err := s.MasterStatus(ctx)
		if err != nil {
			return err
		}
		s.end = &Start{File: f, Pos: p}
		s.log.Info("will stop at the current end of the binary log", "file", f, "pos", p)
		if gtidStart == "" && position.Compare(s.file, s.pos, f, p) >= 0 {
			s.done = true // already at the end: the outputs hear that nothing more is coming
			return s.finish()
		}
	}
	reconnect := backoff.Backoff{Initial: time.Second, Max: 10 * time.Second}
	for {
		began := time.Now()
		err := s.session(ctx, gtidStart)
		if errors.Is(err, errStop) || s.done {
			return s.finish()
		}
		if ctx.Err() != nil {
			return s.finish()
		}
		var perm *PermanentError
		if errors.As(err, &perm) {
			s.flush()
			return err
		}
		if gtidStart != "" && s.file != "" {
			gtidStart = "" // resume by file:pos once the stream told us where it is
		}
		if time.Since(began) > time.Minute {
			reconnect.Reset()
		}
		if s.opt.OnState != nil {
			s.opt.OnState(err)
		}
		s.log.Warn("replication connection lost; reconnecting", "err", err, "retry_in", reconnect.Delay().String(), "resume_at", s.resumePoint().String())
		if reconnect.Wait(ctx) != nil {
			return s.finish()
		}
		for several {
			moved, err := s.failover(ctx)
			if errors.As(err, &perm) {
				s.flush()
				return err
			}
			if err == nil {
				if moved || s.byGTID {
					gtidStart = s.resumePoint().GTIDState
				}
				break
			}
			if ctx.Err() != nil {
				return s.finish()
			}
			s.log.Warn("waiting for a primary", "err", err, "retry_in", reconnect.Delay().String())
			if reconnect.Wait(ctx) != nil {
				return s.finish()
			}
		}
	}
}

// finish hands on the last batch with the exact position reached, so that
// the final checkpoint covers everything handed on before.
func (s *Stream) finish() error {
	if s.cur == nil {
		select {
		case b := <-s.free:
			b.Reset()
			s.cur = b
		case <-time.After(30 * time.Second): // the consumer died; nothing to record
			return nil
		}
	}
	if s.file != "" {
		s.cur.Checkpoint = s.resumePoint()
	}
	if s.done && s.tx == nil {
		s.cur.CaughtUp = time.Now() // --stop-at-end reached the end: nothing more is coming
	}
	s.flush()
	return nil
}

// resumePoint is where a new session starts so that nothing sent is repeated:
// the open transaction's start, skipping the row images already sent.
func (s *Stream) resumePoint() position.Checkpoint {
	if s.tx != nil {
		skip := s.eventNum
		if s.skip > skip {
			skip = s.skip
		}
		return position.Checkpoint{Flavor: s.flavor, File: s.tx.File, Pos: s.tx.Pos, Skip: skip, GTID: s.tx.GTID, GTIDState: s.gtidText}
	}
	return position.Checkpoint{Flavor: s.flavor, File: s.file, Pos: s.pos, Skip: s.skip, GTID: s.skipGTID, GTIDState: s.gtidText}
}

func (s *Stream) session(ctx context.Context, gtidStart string) error {
	src := s.opt.Conn
	ep := s.router.Target()
	tlsConfig, preferred := src.TLSFor(ep.Host)
	if preferred {
		offered, err := offersTLS(ctx, src, ep)
		if err != nil {
			return classify(fmt.Errorf("connect to %s: %w", ep.Addr(), err), s.resumePoint())
		}
		if !offered {
			tlsConfig = nil
		}
	}
	// A new session restarts the open transaction from its beginning.
	resume := s.resumePoint()
	s.tx, s.eventNum = nil, 0
	s.skip, s.skipGTID = resume.Skip, resume.GTID
	s.file, s.pos = resume.File, resume.Pos
	s.resumeAt, s.failed = resume, nil
	clear(s.tables)

	var set mysql.GTIDSet
	s.byGTID = gtidStart != ""
	if gtidStart != "" {
		var err error
		if s.flavor == "mariadb" {
			set, err = mysql.ParseMariadbGTIDSet(gtidStart)
		} else {
			set, err = mysql.ParseMysqlGTIDSet(gtidStart)
		}
		if err != nil {
			return &PermanentError{fmt.Errorf("--start GTID set %q: %w", gtidStart, err)}
		}
	}
	rc, err := dialRepl(ctx, replOptions{
		Source:   src,
		Endpoint: ep,
		Dial:     s.router.DialContext,
		TLS:      tlsConfig,
		ServerID: s.opt.ServerID,
		Flavor:   s.flavor,
		// No read deadline per packet (it costs two timer updates an
		// event): watchStall closes a connection that went quiet.
		Heartbeat:      time.Second,
		AnnotateRows:   s.opt.IncludeQuery && s.flavor == "mariadb", // MariaDB sends them only when asked
		FillZeroLogPos: s.zeroLogPos,
	}, &s.slabs)
	if err != nil {
		return classify(err, resume)
	}
	defer rc.kill(ctx)
	if gtidStart != "" {
		s.log.Info("replication starting", "gtid", gtidStart)
		err = rc.dumpGTID(set)
	} else {
		s.log.Info("replication starting", "file", s.file, "pos", s.pos, "skip", s.skip)
		err = rc.dumpPosition(s.file, s.pos)
	}
	if err != nil {
		return classify(err, resume)
	}
	if s.opt.OnState != nil {
		s.opt.OnState(nil)
	}
	stop := s.watchStall(rc)
	cancelled := context.AfterFunc(ctx, rc.Close)
	chunks := rc.read()
	for c := range chunks {
		for i, e := range c.events {
			if err == nil {
				s.slab = c.slabs[i]
				err = s.handle(e)
			}
			if c.slabs[i] != nil {
				c.slabs[i].Release() // batches hold it now where they reference it
			}
		}
		if err == nil {
			if err = c.err; err != nil {
				if _, ok := errors.AsType[*PermanentError](err); ok {
					err = fmt.Errorf("after %s:%d: %w", s.file, s.pos, err)
				}
			}
		}
		rc.Recycle(c)
		if err != nil {
			rc.Close() // the reader ends; what it sent yet is released
		}
	}
	cancelled()
	stalled := stop()
	if s.done {
		return errStop
	}
	if s.failed != nil {
		return s.failed
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if stalled {
		return fmt.Errorf("the source sent nothing for %s, not even a heartbeat: the connection is taken for dead (--source-timeout)", s.opt.Conn.ConnectTimeout())
	}
	if _, ok := errors.AsType[*PermanentError](err); ok {
		return err // an event the parser cannot read: it would fail again on every retry
	}
	return classify(err, resume)
}

// classify marks server answers that retrying cannot fix as permanent.
func classify(err error, at position.Checkpoint) error {
	var myErr *mysql.MyError
	if errors.As(err, &myErr) {
		switch myErr.Code {
		case 1236: // ER_MASTER_FATAL_ERROR_READING_BINLOG
			return &PermanentError{fmt.Errorf("the source no longer has the binary log at %s (purged or never existed: %s). "+
				"Changes between the checkpoint and the oldest binlog on the server are lost to replication. "+
				"Start over with --reset --start oldest (or --start newest), after re-copying the tables you need", at, myErr.Message)}
		case 1045, 1227, 1044, 1142:
			return &PermanentError{fmt.Errorf("the source refused replication: %s (the user needs REPLICATION SLAVE and REPLICATION CLIENT; run bintap check)", myErr.Message)}
		}
	}
	if te, ok := errors.AsType[*TunnelError](err); ok {
		return &PermanentError{te}
	}
	if err != nil && strings.Contains(err.Error(), "Error 1045") {
		return &PermanentError{connectError(err)}
	}
	return err
}

// watchStall closes the connection when no event arrived for
// --source-timeout (the server sends a heartbeat every second while it has
// no events), so that the session ends and reconnects. The returned stop
// ends the watch and reports whether it closed the connection.
func (s *Stream) watchStall(rc *replConn) (stop func() bool) {
	done := make(chan struct{})
	var fired atomic.Bool
	stallTimeout := s.opt.Conn.ConnectTimeout()
	go func() {
		tick := time.NewTicker(stallTimeout / 6)
		defer tick.Stop()
		seen, since := s.received.Load(), time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				if n := s.received.Load(); n != seen {
					seen, since = n, now
				} else if now.Sub(since) >= stallTimeout {
					fired.Store(true)
					rc.Close()
					return
				}
			}
		}
	}()
	return func() bool { close(done); return fired.Load() }
}

// handle processes one event in binlog order.
func (s *Stream) handle(e *replication.BinlogEvent) (err error) {
	s.received.Add(1)
	if s.done {
		return errStop
	}
	// No input may crash the process: a panic while handling one event
	// becomes a stop that names the event (go-mysql's syncer would turn it
	// into a retried error with a stack trace and no position).
	defer func() {
		if r := recover(); r != nil {
			err = &PermanentError{fmt.Errorf("cannot decode the %s event at %s:%d (%d bytes; bintap bug, please report it with the binlog): %v",
				e.Header.EventType, s.file, s.eventStart(e.Header), e.Header.EventSize, r)}
			s.failed = err
		}
	}()
	if err := s.event(e); err != nil {
		s.failed = err
		return err
	}
	if e.Header.EventType == replication.HEARTBEAT_EVENT || e.Header.EventType == replication.HEARTBEAT_LOG_EVENT_V2 {
		// The source is idle: hand on what a busy consumer left waiting.
		// Between transactions the heartbeat's position is where the
		// server's dump stands: after a start by GTID, the events it
		// skipped before the GTID position are behind it too.
		if s.tx == nil && s.byGTID && s.file != "" && e.Header.LogPos > s.pos {
			s.pos = e.Header.LogPos
		}
		if s.tx == nil {
			s.observeCommit(nil, 0)
			s.caughtUp()
		}
		s.flush()
	}
	if movesPosition(e.Header) {
		s.pos = e.Header.LogPos
	}
	if s.end != nil && s.tx == nil && s.file != "" && position.Compare(s.file, s.pos, s.end.File, s.end.Pos) >= 0 {
		s.done = true
		return errStop
	}
	return nil
}

// movesPosition reports whether an event's end position is a real position in
// the binlog file: not for rotations, heartbeats, the format description sent
// at connect, or other artificial events the server makes up.
func movesPosition(h *replication.EventHeader) bool {
	if h.LogPos == 0 || h.Flags&replication.LOG_EVENT_ARTIFICIAL_F != 0 {
		return false
	}
	switch h.EventType {
	case replication.ROTATE_EVENT, replication.FORMAT_DESCRIPTION_EVENT, replication.HEARTBEAT_EVENT, replication.HEARTBEAT_LOG_EVENT_V2:
		return false
	}
	return true
}

func (s *Stream) eventStart(h *replication.EventHeader) uint32 {
	if h.LogPos >= h.EventSize {
		return h.LogPos - h.EventSize
	}
	return s.pos
}

func (s *Stream) event(e *replication.BinlogEvent) error {
	h := e.Header
	switch ev := e.Event.(type) {
	case *replication.RotateEvent:
		s.file, s.pos = string(ev.NextLogName), uint32(ev.Position)
	case *replication.MariadbGTIDEvent:
		g := ev.GTID
		s.beginTx(&change.Tx{
			GTID:     fmt.Sprintf("%d-%d-%d", g.DomainID, g.ServerID, g.SequenceNumber),
			Domain:   g.DomainID,
			ServerID: g.ServerID,
			Sequence: g.SequenceNumber,
		}, h)
		return s.started()
	case *replication.GTIDEvent:
		tx := &change.Tx{ServerID: h.ServerID, Sequence: uint64(ev.GNO)}
		if h.EventType == replication.GTID_EVENT || h.EventType == replication.GTID_TAGGED_LOG_EVENT {
			if set, err := ev.GTIDNext(); err == nil {
				tx.GTID = set.String()
			}
		}
		s.beginTx(tx, h)
		return s.started()
	case *replication.QueryEvent:
		return s.query(ev, h)
	case *replication.XIDEvent:
		s.commit(h)
	case *replication.MariadbAnnotateRowsEvent:
		s.statement(ev.Query)
	case *replication.RowsQueryEvent:
		s.statement(ev.Query)
	case *replication.TableMapEvent:
		return s.tableMap(ev, h)
	case *replication.RowsEvent:
		return s.rows(ev, h)
	case *replication.TransactionPayloadEvent:
		// The compressed events carry no positions of their own: the
		// transaction ends where the payload event ends.
		if h.LogPos > 0 {
			s.pos = h.LogPos
		}
		s.inPayload = true
		defer func() { s.inPayload = false }()
		for _, in := range ev.Events {
			if err := s.event(in); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Stream) beginTx(tx *change.Tx, h *replication.EventHeader) {
	tx.File = s.file
	tx.Pos = s.eventStart(h)
	tx.Timestamp = h.Timestamp
	if tx.ServerID == 0 {
		tx.ServerID = h.ServerID
	}
	s.tx, s.eventNum, s.stmt = tx, 0, ""
	// The skip applies to the transaction at the resume point only (by
	// GTID, the first one the server sends).
	if s.skip > 0 {
		switch {
		case !s.byGTID && (tx.File != s.resumeAt.File || tx.Pos != s.resumeAt.Pos):
			s.skip, s.skipGTID = 0, ""
		case s.skipGTID != "" && tx.GTID != "" && tx.GTID != s.skipGTID:
			s.log.Warn("the transaction at the checkpoint is not the one checkpointed; replaying it whole (duplicates possible)",
				"at", s.resumeAt.String(), "want_gtid", s.skipGTID, "found_gtid", tx.GTID)
			s.skip, s.skipGTID = 0, ""
		}
	}
}

// SetStartCheckpoint has fn called once, when the stream reaches its first
// transaction, with the position where that transaction begins, before
// anything of it is delivered. A stream started by a GTID set alone learns
// its first file position only then; the engine saves it as the stream's
// first checkpoint. An error stops the stream. Call it before Run.
func (s *Stream) SetStartCheckpoint(fn func(position.Checkpoint) error) { s.onStart = fn }

// started calls the onStart hook at the first transaction whose file
// position is known.
func (s *Stream) started() error {
	if s.onStart == nil || s.tx == nil || s.tx.File == "" {
		return nil
	}
	if err := s.onStart(position.Checkpoint{Flavor: s.flavor, File: s.tx.File, Pos: s.tx.Pos, GTIDState: s.gtidText, Start: true}); err != nil {
		return &PermanentError{err}
	}
	s.onStart = nil
	return nil
}

func (s *Stream) query(ev *replication.QueryEvent, h *replication.EventHeader) error {
	q := strings.TrimSpace(string(ev.Query))
	switch {
	case strings.EqualFold(q, "BEGIN"):
		if s.tx == nil { // servers without GTIDs: the transaction starts here
			s.beginTx(&change.Tx{}, h)
		}
		s.tx.Thread, s.tx.HasThread = ev.SlaveProxyID, true
		return nil
	case strings.EqualFold(q, "COMMIT"), strings.EqualFold(q, "ROLLBACK"):
		s.commit(h)
		return nil
	}
	if s.tx == nil {
		s.beginTx(&change.Tx{}, h)
	}
	s.tx.Thread, s.tx.HasThread = ev.SlaveProxyID, true
	mark := schema.Mark{File: s.tx.File, Pos: s.tx.Pos}
	if db, name, ok := truncated(string(ev.Schema), q); ok && s.filter.Captured(db, name) {
		if t := s.hist.Get(db, name); t != nil {
			ev := change.Event{Op: change.OpTruncate, Table: t, Tx: s.tx, EventNumber: 1}
			if s.opt.IncludeQuery {
				ev.Query = q
			}
			if err := s.emit(ev); err != nil {
				return err
			}
		}
	}
	status := schema.ParseQueryStatus(ev.StatusVars)
	ddl := q
	if status.ClientCollation != 0 {
		// The statement's text is in character_set_client: names, ENUM
		// members and defaults are read in UTF-8.
		if b, err := binlog.TextToUTF8(uint64(status.ClientCollation), []byte(q)); err == nil {
			ddl = string(b)
		}
	}
	affected, err := s.hist.ApplyDDLMode(string(ev.Schema), ddl, s.tx.GTID, mark, status.ANSIQuotes())
	s.trackEngine(string(ev.Schema), ddl, status.ANSIQuotes(), mark)
	if err != nil {
		s.log.Warn("DDL statement not understood: its tables are marked unknown; their rows will be decoded only with a definition proven to match the binlog (binlog_row_metadata=FULL, or the live table), or the stream stops",
			"at", mark.String(), "gtid", s.tx.GTID, "sql", truncate(q, 500), "err", err)
	}
	if len(affected) > 0 || err != nil {
		if err := s.hist.Save(); err != nil {
			return &PermanentError{fmt.Errorf("save schema history: %w", err)}
		}
		for _, t := range affected {
			s.log.Info("table definition changed", "table", t.FullName(), "version", t.Version, "gtid", s.tx.GTID)
		}
	}
	// A DDL statement is a transaction of its own.
	s.commit(h)
	return nil
}

// statement keeps the text of the statement whose rows follow (an
// Annotate_rows or Rows_query event) when IncludeQuery asks for it.
func (s *Stream) statement(q []byte) {
	if s.opt.IncludeQuery {
		s.stmt = strings.ToValidUTF8(string(q), "\uFFFD")
	}
}

// truncated returns the table of a TRUNCATE [TABLE] [db.]name statement.
func truncated(defaultSchema, q string) (db, name string, ok bool) {
	m := truncateRe.FindStringSubmatch(q)
	if m == nil {
		return "", "", false
	}
	unquote := func(id string) string {
		if strings.HasPrefix(id, "`") {
			return strings.ReplaceAll(id[1:len(id)-1], "``", "`")
		}
		return id
	}
	if m[2] == "" {
		return defaultSchema, unquote(m[1]), true
	}
	return unquote(m[1]), unquote(m[2]), true
}

var truncateRe = regexp.MustCompile("(?is)^TRUNCATE\\s+(?:TABLE\\s+)?(`(?:[^`]|``)+`|[\\w$]+)(?:\\s*\\.\\s*(`(?:[^`]|``)+`|[\\w$]+))?\\s*;?\\s*$")

// emit adds an event that carries no row images to the open batch.
func (s *Stream) emit(ev change.Event) error {
	if s.cur == nil || !s.cur.Room(0, 0) {
		s.flush()
		if err := s.take(); err != nil {
			return err
		}
	}
	s.cur.Events = append(s.cur.Events, ev)
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (s *Stream) commit(h *replication.EventHeader) {
	if s.tx != nil && s.tx.GTID != "" {
		if err := s.gtids.Add(s.tx.GTID); err != nil {
			s.log.Debug("GTID not tracked", "gtid", s.tx.GTID, "err", err)
		}
		s.gtidText = s.gtids.String()
	}
	tx, last := s.tx, s.eventNum
	s.tx, s.eventNum = nil, 0
	s.skip, s.skipGTID = 0, ""
	if h.LogPos > 0 && !s.inPayload {
		s.pos = h.LogPos
	}
	if s.obs != nil && tx != nil {
		s.observeCommit(tx, last)
	}
	// Transactions of tables not captured move the checkpoint too, so that
	// it never falls behind the server's binlog retention.
	if !s.tryTake() {
		return // every batch is in flight: a later commit records it
	}
	s.cur.Checkpoint = position.Checkpoint{Flavor: s.flavor, File: s.file, Pos: s.pos, GTIDState: s.gtidText}
	// Send now when the consumer is idle: low latency when quiet, big
	// batches when busy.
	if len(s.out) == 0 {
		s.flush()
	}
}

func (s *Stream) tableMap(tm *replication.TableMapEvent, h *replication.EventHeader) error {
	db, name := string(tm.Schema), string(tm.Table)
	if st, ok := s.tables[tm.TableID]; ok && st.schema == db && st.name == name &&
		bytes.Equal(st.colTypes, tm.ColumnType) && slices.Equal(st.colMeta, tm.ColumnMeta) {
		if !st.captured && !st.watched {
			return nil
		}
		if cur := s.hist.Get(db, name); cur == st.table {
			return nil
		}
	}
	st := &tableState{schema: db, name: name, captured: s.filter.Captured(db, name),
		colTypes: bytes.Clone(tm.ColumnType), colMeta: slices.Clone(tm.ColumnMeta)}
	st.watched = !st.captured && s.obs != nil && s.obs.Watch(db, name)
	s.tables[tm.TableID] = st
	if !st.captured && !st.watched {
		return nil
	}
	t, err := s.resolveTable(tm, h)
	if err != nil {
		return &PermanentError{err}
	}
	dec, err := binlog.NewTableDecoder(tm, t, binlog.Options{TimeZone: s.opt.TimeZone})
	if err != nil {
		return &PermanentError{fmt.Errorf("table %s: %w", t.FullName(), err)}
	}
	st.table, st.dec = t, dec
	return nil
}

// resolveTable finds the definition of the table a TABLE_MAP event names:
// the schema history first, then the live server, then the binlog's own
// metadata; otherwise it stops with an error rather than drop rows.
func (s *Stream) resolveTable(tm *replication.TableMapEvent, h *replication.EventHeader) (*change.Table, error) {
	db, name := string(tm.Schema), string(tm.Table)
	var reasons []string
	// why says why the schema history was not used ("" when it never saw
	// the table: created before the stream's start, which is normal).
	why := ""
	if t := s.hist.Get(db, name); t != nil && !s.hist.IsUnknown(db, name) {
		err := binlog.CheckTable(tm, t)
		if err == nil {
			err = namesAgree(tm, t)
		}
		if err == nil {
			return t, nil
		}
		why = fmt.Sprintf("the schema history's definition (version %d) disagrees with the binlog: %v", t.Version, err)
		reasons = append(reasons, "schema history: "+err.Error())
	} else if s.hist.IsUnknown(db, name) {
		why = "the schema history lost the table's definition: " + s.hist.UnknownReason(db, name)
		reasons = append(reasons, "schema history: unknown ("+s.hist.UnknownReason(db, name)+")")
	}
	mark := schema.Mark{File: s.file, Pos: s.eventStart(h)}
	if s.tx != nil {
		mark = schema.Mark{File: s.tx.File, Pos: s.tx.Pos}
	}
	gtid := ""
	if s.tx != nil {
		gtid = s.tx.GTID
	}
	live, err := s.loadLive(db, name)
	if err == nil {
		err = binlog.CheckTable(tm, live)
		if err == nil {
			err = namesAgree(tm, live)
		}
		if err == nil {
			live.GTID = gtid
			t := s.hist.Define(live, mark)
			if err := s.hist.Save(); err != nil {
				return nil, fmt.Errorf("save schema history: %w", err)
			}
			if why == "" {
				s.log.Info("loaded table definition from the source", "table", t.FullName(), "version", t.Version)
			} else {
				s.log.Warn("schema history not used for a table: using its live definition, which matches the binlog's table map",
					"table", t.FullName(), "at", mark.String(), "version", t.Version, "why", why)
			}
			return t, nil
		}
		reasons = append(reasons, "live definition: "+err.Error())
	} else {
		reasons = append(reasons, "live definition: "+err.Error())
	}
	if t := binlog.TableFromMetadata(tm); t != nil {
		t.GTID = gtid
		t = s.hist.Define(t, mark)
		if err := s.hist.Save(); err != nil {
			return nil, fmt.Errorf("save schema history: %w", err)
		}
		s.log.Warn("using the binlog's own column metadata for a table", "table", t.FullName(), "at", mark.String(), "why", strings.Join(reasons, "; "))
		return t, nil
	}
	return nil, fmt.Errorf("rows of table %s.%s at %s:%d cannot be decoded: its definition at that point of the binlog is unknown (%s). "+
		"bintap will not drop them. Start from a position after the table's last ALTER (--reset --start newest), "+
		"or set binlog_row_metadata=FULL on the source so the binlog carries column names",
		db, name, mark.File, mark.Pos, strings.Join(reasons, "; "))
}

// namesAgree compares column names when the binlog carries them.
func namesAgree(tm *replication.TableMapEvent, t *change.Table) error {
	if len(tm.ColumnName) == 0 {
		return nil
	}
	for i, n := range tm.ColumnName {
		if i < len(t.Columns) && !strings.EqualFold(string(n), t.Columns[i].Name) {
			return fmt.Errorf("column %d is %q in the binlog but %q in the definition", i+1, n, t.Columns[i].Name)
		}
	}
	return nil
}

func (s *Stream) loadLive(db, name string) (*change.Table, error) {
	if s.db == nil {
		return nil, errors.New("no connection to the source")
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	var tbl, create string
	err := s.db.QueryRowContext(ctx, "SHOW CREATE TABLE "+quoteIdent(db)+"."+quoteIdent(name)).Scan(&tbl, &create)
	if err != nil {
		return nil, fmt.Errorf("SHOW CREATE TABLE %s.%s: %w", db, name, err)
	}
	return schema.ParseCreateTable(db, create)
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func (s *Stream) rows(re *replication.RowsEvent, h *replication.EventHeader) error {
	st := s.tables[re.TableID]
	if st == nil {
		return &PermanentError{fmt.Errorf("rows event for table id %d without a TABLE_MAP event", re.TableID)}
	}
	if !st.captured && !st.watched {
		return nil
	}
	if s.tx == nil { // rows outside BEGIN (should not happen): a transaction of their own
		s.beginTx(&change.Tx{}, h)
	}
	op := change.OpInsert
	switch h.EventType {
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2,
		replication.PARTIAL_UPDATE_ROWS_EVENT, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
		op = change.OpUpdate
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		op = change.OpDelete
	}
	images := uint64(1)
	if op == change.OpUpdate {
		images = 2
	}
	table := st.table
	// The body of a rows event read from the network lies in a slab that
	// is not read into again while a batch holds it: its rows are decoded
	// straight into the batch, whose values reference the body's text
	// instead of copying it. Rows of an inflated body (compressed events,
	// a MySQL transaction payload) and rows decoded only for the observer
	// go through the decoder's own buffers and are copied.
	if !s.inPayload && !binlog.IsCompressed(h.EventType) && st.captured {
		if body := binlog.RawBody(re); body != nil {
			return s.rowsInto(st, re, h, body, op, images)
		}
	}
	return st.dec.DecodeRows(h.EventType, re, func(before, after []change.Value) error {
		if s.obs != nil {
			s.obs.Row(table, op, before, after)
			if st.watched {
				return nil
			}
		}
		if s.skipped(images) {
			return nil
		}
		if n, text := len(before)+len(after), pipeline.TextSize(before)+pipeline.TextSize(after); s.cur == nil || !s.cur.Room(n, text) {
			if err := s.next(); err != nil {
				return err
			}
		}
		s.add(op, table, s.cur.CopyRow(before), s.cur.CopyRow(after), images)
		return nil
	})
}

// rowSlack is the arena room a batch must have left to take a row decoded
// into it: most rows' dates, decimals and converted text fit, and a larger
// one grows the arena until the batch is reset.
const rowSlack = 4 << 10

// rowsInto decodes the rows of a rows event whose body lies in the current
// slab straight into the batch (binlog.TableDecoder.DecodeBodyInto).
func (s *Stream) rowsInto(st *tableState, re *replication.RowsEvent, h *replication.EventHeader, body []byte, op change.Op, images uint64) error {
	table := st.table
	var arena *[]byte
	mark := 0 // the arena's length before the row
	into := func(n int) ([]change.Value, *[]byte, error) {
		if s.cur == nil || !s.cur.Room(n, rowSlack) {
			if err := s.next(); err != nil {
				return nil, nil, err
			}
		}
		var vals []change.Value
		vals, arena = s.cur.Into(n)
		mark = len(*arena)
		return vals, arena, nil
	}
	return st.dec.DecodeBodyInto(h.EventType, re, body, into, func(before, after []change.Value) error {
		if s.obs != nil {
			s.obs.Row(table, op, before, after)
		}
		n := len(before) + len(after)
		if s.skipped(images) {
			s.cur.Unreserve(n, mark)
			return nil
		}
		// The row's text not in the arena lies in the body: the batch
		// holds the slab until it is reset.
		s.cur.Hold(pipeline.TextSize(before)+pipeline.TextSize(after)-(len(*arena)-mark), s.slab)
		s.add(op, table, before, after, images)
		return nil
	})
}

// next sends the current batch and takes an empty one (a row does not fit
// in it).
func (s *Stream) next() error {
	s.flush()
	return s.take()
}

// skipped counts the next row (images row images long) and reports whether
// it was delivered before the resume.
func (s *Stream) skipped(images uint64) bool {
	if s.eventNum+images <= s.skip {
		s.eventNum += images
		return true
	}
	return false
}

// add appends the next row of the open transaction (its row images in the
// batch's storage) to the current batch, and moves the batch's checkpoint
// past it.
func (s *Stream) add(op change.Op, table *change.Table, before, after []change.Value, images uint64) {
	b, tx := s.cur, s.tx
	b.Events = append(b.Events, change.Event{Op: op, Table: table, Tx: tx, EventNumber: s.eventNum + 1, Before: before, After: after, Query: s.stmt})
	s.eventNum += images
	if cp := &b.Checkpoint; cp.Pos == tx.Pos && cp.File == tx.File && cp.GTID == tx.GTID && cp.GTIDState == s.gtidText && cp.Flavor == s.flavor {
		cp.Skip = s.eventNum // the next row of the same transaction: the rest is set
	} else {
		*cp = position.Checkpoint{Flavor: s.flavor, File: tx.File, Pos: tx.Pos, Skip: s.eventNum, GTID: tx.GTID, GTIDState: s.gtidText}
	}
}

// take gets an empty batch, waiting while the consumer is behind (back-pressure).
func (s *Stream) take() error {
	select {
	case b := <-s.free:
		b.Reset()
		s.cur = b
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// caughtUp marks the current batch (taking a free one if none is open) as
// reaching the end of the binlog: everything before it is handed on.
func (s *Stream) caughtUp() {
	if s.tryTake() { // else every batch is in flight: the consumer is busy anyway
		s.cur.CaughtUp = time.Now()
	}
}

// tryTake makes sure a batch is open, taking a free one if there is one
// without waiting; it reports whether a batch is open.
func (s *Stream) tryTake() bool {
	if s.cur != nil {
		return true
	}
	select {
	case b := <-s.free:
		b.Reset()
		s.cur = b
		return true
	default:
		return false
	}
}

// flush sends the current batch, if it holds anything.
func (s *Stream) flush() {
	if s.cur == nil {
		return
	}
	if len(s.cur.Events) == 0 && s.cur.Checkpoint.File == "" && s.cur.CaughtUp.IsZero() {
		return
	}
	s.out <- s.cur
	s.cur = nil
}
