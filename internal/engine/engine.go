// Package engine assembles and runs one stream: it locks the state dir,
// applies --reset, opens the outputs, decides where the stream resumes and
// which snapshot runs first, runs the source and the pipeline, serves the
// HTTP status, keeps the lifecycle state, and shuts everything down in
// order. cmd/bintap turns flags into a config.Config and calls Run.
//
// The order of a run:
//
//	lock state dir → HTTP up (state starting) → open outputs → --reset →
//	resume point (state dir and positioned outputs) → connect source →
//	snapshot plan → pipeline → snapshot (snapshotting) → binlog (streaming)
//
// and on the way out: the producer stops and closes the batch channel, the
// pipeline writes its last checkpoint, then the outputs close, then the
// HTTP server, then the lock is released.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/bintap/bintap/internal/backoff"
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/ha"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/schema"
	"github.com/bintap/bintap/internal/server"
	"github.com/bintap/bintap/internal/sink"
	"github.com/bintap/bintap/internal/snapshot"
	"github.com/bintap/bintap/internal/source"
)

// Options are what the engine needs besides the configuration.
type Options struct {
	// Version names bintap in the status and in Debezium records.
	Version string
	// Stdout is where the "-" output writes.
	Stdout io.Writer
	// Progress, when set, receives the snapshot progress bar (a terminal).
	Progress io.Writer
	Log      *slog.Logger
}

// Lifecycle states.
const (
	StateStarting     = "starting"
	StateSnapshotting = "snapshotting"
	StateStreaming    = "streaming"
	StateRetrying     = "retrying"
	StateStopping     = "stopping"
	StateFailed       = "failed"
)

// closeTimeout bounds the outputs' last flush and close once the stream
// stopped (Kafka has its own kafka_flush_timeout inside it).
const closeTimeout = time.Minute

// Engine runs one stream. Status is safe to call from any goroutine.
type Engine struct {
	cfg   *config.Config
	opt   Options
	log   *slog.Logger
	began time.Time

	mu         sync.Mutex // guards what Status reads
	state      string     // the phase: starting, snapshotting, streaming, stopping, failed
	since      time.Time
	failure    string
	flavor     string
	sourceErr  error     // the last replication error while retrying
	sourceDown time.Time // since when the source is unreachable (zero: it is not)
	outputDown map[string]time.Time
	outputs    []pipeline.Output
	pipe       *pipeline.Pipeline
	plan       snapshotPlan
	notices    *server.Notices // the last warnings and errors, for the status
	filter     *config.CaptureFilter
	elector    *ha.Elector // the HA group's lock; nil for a single instance
}

// New returns an engine for cfg.
func New(cfg *config.Config, opt Options) *Engine {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Stdout == nil {
		opt.Stdout = io.Discard
	}
	now := time.Now()
	notices := server.NewNotices(50)
	opt.Log = slog.New(notices.Handler(opt.Log.Handler()))
	return &Engine{cfg: cfg, opt: opt, log: opt.Log, began: now, state: StateStarting, since: now, outputDown: map[string]time.Time{}, notices: notices}
}

// setState moves to a phase of the run.
func (e *Engine) setState(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != s && e.state != StateFailed {
		e.state, e.since = s, time.Now()
	}
}

// sourceState is the source's OnState: nil when replication runs, the
// error while it reconnects.
func (e *Engine) sourceState(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sourceErr = err
	switch {
	case err == nil && !e.sourceDown.IsZero():
		e.log.Info("source reachable again", "down_for", time.Since(e.sourceDown).Round(time.Millisecond).String())
		e.sourceDown = time.Time{}
	case err != nil && e.sourceDown.IsZero():
		e.sourceDown = time.Now()
	}
}

// Run runs the stream until ctx ends (a clean stop: the last checkpoint
// covers everything delivered), the end of the binlog with --stop-at-end, or
// a permanent error, which it returns.
func (e *Engine) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			e.mu.Lock()
			e.state, e.since, e.failure = StateFailed, time.Now(), err.Error()
			e.mu.Unlock()
		}
	}()
	cfg := e.cfg
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	unlock, err := lockDir(cfg.StateDir)
	if err != nil {
		return err
	}
	defer unlock()
	if err := position.RemoveTemporaries(cfg.StateDir); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if cfg.HTTP != "" {
		// The snapshot handlers are set before the first request is
		// served: until the stream can take one they answer 503 (not ready).
		srv, err := server.Listen(server.Options{Addr: cfg.HTTP, Token: cfg.HTTPToken, TLSCert: cfg.HTTPTLSCert, TLSKey: cfg.HTTPTLSKey,
			Status: e.Status, Figures: e.figures, Log: e.log, Snapshot: e.requestSnapshot, Control: e.controlSnapshot})
		if err != nil {
			return err
		}
		defer srv.Close()
	}

	// One way to the source (the primary of several servers, the SSH
	// tunnel) for every connection of this run.
	router, err := source.NewRouter(cfg.Source, e.log)
	if err != nil {
		return err
	}
	defer router.Close()
	given := cfg.Source
	defer func() { cfg.Source = given }()
	cfg.Source = router.Source()
	if cfg.TimeZoneServer {
		if cfg.TimeZone, err = source.ServerTimeZone(ctx, cfg.Source, e.log); err != nil {
			return err
		}
	}
	if cfg.HAGroup != "" {
		return e.runGroup(ctx)
	}
	retry := backoff.Backoff{Initial: time.Second, Max: 10 * time.Second}
	for {
		err := e.stream(ctx, nil)
		if _, ok := errors.AsType[*SnapshotInterrupted](err); !ok || ctx.Err() != nil {
			return err
		}
		// Its progress is saved: the stream starts again, with the same
		// HTTP server, lock and history, and resumes the snapshot once the
		// source answers (it waits for it while starting).
		cfg.Reset = false // done once: the progress since is kept
		e.setState(StateStarting)
		e.sourceState(err) // the status says retrying, and why
		e.log.Warn("initial snapshot interrupted; starting again to resume it", "err", err, "retry_in", retry.Delay().String())
		if retry.Wait(ctx) != nil {
			return nil // stopped by a signal while waiting: the run before wrote its checkpoint
		}
	}
}

// stream runs the stream once: outputs, resume point, source, snapshot,
// pipeline. lease is nil for a single instance; in an HA group it is the
// active role this run holds, and the stream stops without flushing once it
// is lost.
func (e *Engine) stream(ctx context.Context, lease *ha.Elector) (err error) {
	cfg := e.cfg
	// The outputs' calls get a context that outlives ctx by closeTimeout:
	// a clean stop still flushes and closes them.
	outCtx, cancelOut := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelOut()
	stopBound := context.AfterFunc(ctx, func() { time.AfterFunc(closeTimeout, cancelOut) })
	defer stopBound()
	if lease != nil {
		// A deposed instance does not flush: its outputs stop at once.
		lostCtx, unwatch := chanContext(lease.Lost())
		defer unwatch()
		stopLost := context.AfterFunc(lostCtx, cancelOut)
		defer stopLost()
	}

	outputs, err := e.openOutputs(ctx, lease)
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		for _, o := range outputs {
			if cerr := o.Dest.Close(closeCtx); cerr != nil && err == nil {
				err = fmt.Errorf("output %s: %w", o.Name, cerr)
			}
		}
	}()
	if err != nil {
		return err
	}
	if cfg.Reset {
		if err := reset(outCtx, cfg.StateDir, outputs); err != nil {
			return err
		}
		e.log.Info("checkpoint, schema history, snapshot state and what the outputs hold discarded (--reset)")
	}
	hist, err := schema.Open(cfg.StateDir)
	if err != nil {
		return err
	}
	var ckpt *position.Checkpoint
	if lease == nil {
		if ckpt, err = position.Load(cfg.StateDir); err != nil {
			return err
		}
	} else {
		// A group resumes from what the outputs hold, never from this
		// host's state dir: fence them first, then read their positions.
		epoch, err := fence(outCtx, outputs)
		if err != nil {
			return err
		}
		lease.SetEpoch(epoch)
		e.log.Info("ha: outputs taken over", "epoch", epoch)
	}
	if ckpt, err = resumeFrom(outCtx, ckpt, outputs, e.log); err != nil {
		return err
	}
	e.mu.Lock()
	e.outputs = outputs
	e.mu.Unlock()
	earlierScope, err := setHistoryScope(cfg, hist, ckpt)
	if err != nil {
		return err
	}

	// One filter for the stream and the snapshots: the source leaves
	// MEMORY and BLACKHOLE tables out of it.
	e.filter = cfg.Filter()
	src, plan, start, err := e.connect(ctx, hist, ckpt, earlierScope)
	if err != nil {
		return err
	}
	defer src.Close()
	if plan.snap != nil {
		if err := snapshotPlanned(outCtx, outputs, plan.snap.Progress().Status()); err != nil {
			return err
		}
	}

	p := &pipeline.Pipeline{Outputs: outputs, StateDir: cfg.StateDir, Interval: cfg.CheckpointInterval, Log: e.log, Durable: plan.durable}
	e.mu.Lock()
	e.pipe = p
	e.mu.Unlock()
	free := pipeline.NewBatches(8)
	batches := make(chan *pipeline.Batch, 6)
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.HeartbeatTable != "" && cfg.HeartbeatInterval > 0 {
		if err := src.CheckHeartbeatTable(ctx, cfg.HeartbeatTable); err != nil {
			return err
		}
		go src.WriteHeartbeats(streamCtx, cfg.HeartbeatTable, cfg.HeartbeatInterval)
	}
	type result struct {
		stats pipeline.Stats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		stats, err := p.Run(outCtx, batches, free)
		if err != nil {
			cancel()
			for b := range batches { // let the producer finish
				free <- b
			}
		}
		done <- result{stats, err}
	}()
	srcErr := e.produce(streamCtx, plan, src, start, batches, free)
	e.setState(StateStopping)
	res := <-done
	e.log.Info("bintap stream finished", "events", res.stats.Events, "seconds", fmt.Sprintf("%.2f", time.Since(e.began).Seconds()),
		"checkpoint", res.stats.Checkpoint.String())
	return errors.Join(res.err, srcErr)
}

// connect opens the source, plans the snapshot and finds where the stream
// starts. A connection fault on the way (the server restarting, a
// connection cut) is retried with backoff, as the replication connection
// is while streaming, with the state "retrying" in the status; anything
// else (a refused login, a damaged state file) ends the run.
func (e *Engine) connect(ctx context.Context, hist *schema.History, ckpt *position.Checkpoint, earlierScope *schema.Scope) (*source.Stream, snapshotPlan, source.Start, error) {
	retry := backoff.Backoff{Initial: time.Second, Max: 10 * time.Second}
	for {
		src, plan, start, err := e.connectOnce(ctx, hist, ckpt, earlierScope)
		if err == nil {
			e.sourceState(nil)
			return src, plan, start, nil
		}
		if src != nil {
			src.Close()
		}
		if !source.Transient(err) || ctx.Err() != nil {
			return nil, snapshotPlan{}, source.Start{}, err
		}
		e.sourceState(err)
		e.log.Warn("source unreachable while starting; retrying", "err", err, "retry_in", retry.Delay().String())
		if werr := retry.Wait(ctx); werr != nil {
			return nil, snapshotPlan{}, source.Start{}, werr // stopped by a signal while waiting
		}
	}
}

func (e *Engine) connectOnce(ctx context.Context, hist *schema.History, ckpt *position.Checkpoint, earlierScope *schema.Scope) (*source.Stream, snapshotPlan, source.Start, error) {
	cfg := e.cfg
	src, err := source.Open(ctx, source.Options{
		Conn: cfg.Source, ServerID: cfg.ServerID, Flavor: cfg.Flavor, Filter: e.filter,
		TimeZone: cfg.TimeZone, StopAtEnd: cfg.StopAtEnd, OnState: e.sourceState,
		IncludeQuery: cfg.Format == "debezium" && cfg.DebeziumIncludeQuery,
	}, hist, e.log)
	if err != nil {
		return nil, snapshotPlan{}, source.Start{}, err
	}
	if err := src.ExplainScope(ctx, earlierScope); err != nil {
		return src, snapshotPlan{}, source.Start{}, err
	}
	e.mu.Lock()
	e.flavor = src.Flavor()
	e.mu.Unlock()
	plan, ckpt, err := e.planSnapshot(ctx, src, ckpt, hist)
	if err != nil {
		return src, snapshotPlan{}, source.Start{}, err
	}
	start, err := e.startPoint(ctx, src, ckpt, hist)
	if err != nil {
		return src, snapshotPlan{}, source.Start{}, err
	}
	e.mu.Lock()
	e.plan = plan
	e.mu.Unlock()
	return src, plan, start, nil
}

// openOutputs opens every configured output. On error it returns those
// opened so far, for the caller to close.
func (e *Engine) openOutputs(ctx context.Context, lease *ha.Elector) ([]pipeline.Output, error) {
	env := sink.Env{
		StateDir: e.cfg.StateDir, Stdout: e.opt.Stdout, NewEncoder: encoderFactory(e.cfg, e.opt.Version),
		Source: e.cfg.Source.Addr(), TimeZone: e.cfg.TimeZone, HeartbeatInterval: e.cfg.HeartbeatInterval,
	}
	if lease != nil {
		env.Lease = lease
	}
	var outputs []pipeline.Output
	for _, o := range e.cfg.Outputs {
		env.Log = e.log.With("output", o.Name())
		d, err := o.Open(ctx, env)
		if err != nil {
			return outputs, fmt.Errorf("output %s: %w", o.Name(), err)
		}
		outputs = append(outputs, pipeline.Output{Name: o.Name(), Dest: d})
	}
	return outputs, nil
}

// startPoint is where replication starts: the checkpoint (and the schema
// history rewound to it), or --start without one.
func (e *Engine) startPoint(ctx context.Context, src *source.Stream, ckpt *position.Checkpoint, hist *schema.History) (source.Start, error) {
	if ckpt != nil {
		if ckpt.Flavor != "" && ckpt.Flavor != src.Flavor() {
			return source.Start{}, fmt.Errorf("the checkpoint in %s was written for a %s server but the source is %s: use another --state-dir or --reset", e.cfg.StateDir, ckpt.Flavor, src.Flavor())
		}
		hist.Rewind(schema.Mark{File: ckpt.File, Pos: ckpt.Pos})
		e.log.Info("resuming from checkpoint", "position", ckpt.String(), "flavor", src.Flavor())
		return source.Start{File: ckpt.File, Pos: ckpt.Pos, Skip: ckpt.Skip, GTID: ckpt.GTID, GTIDState: ckpt.GTIDState}, nil
	}
	sp, _ := config.ParseStart(e.cfg.Start)
	start, err := src.Resolve(ctx, sp)
	if err != nil {
		return source.Start{}, err
	}
	e.log.Info("no checkpoint; starting", "start", e.cfg.Start, "file", start.File, "pos", start.Pos, "gtid", start.GTIDSet, "flavor", src.Flavor())
	// The stream's first checkpoint is where it begins, written before
	// anything is delivered. Outputs that keep their own position commit
	// on their own schedule: without it, a stream stopped before its first
	// checkpoint (a full disk, a kill) would resume from the position of
	// the output that committed first, and the others (nothing committed)
	// would miss what came before. With --start newest the start cannot be
	// found again later. A start by GTID set alone has no file position
	// yet: the stream writes it when it reaches its first transaction,
	// before delivering anything of it.
	save := func(cp position.Checkpoint) error {
		if err := cp.Save(e.cfg.StateDir); err != nil {
			return fmt.Errorf("write the first checkpoint in %s: %w", e.cfg.StateDir, err)
		}
		e.log.Debug("first checkpoint written", "position", cp.String())
		return nil
	}
	if start.File == "" {
		src.SetStartCheckpoint(save)
		return start, nil
	}
	if err := save(position.Checkpoint{Flavor: src.Flavor(), File: start.File, Pos: start.Pos, GTIDState: start.GTIDState, Start: true}); err != nil {
		return source.Start{}, err
	}
	return start, nil
}

// produce runs the planned snapshot into the batch channel, then the
// binlog stream (which closes the channel).
func (e *Engine) produce(ctx context.Context, plan snapshotPlan, src *source.Stream, start source.Start,
	batches chan *pipeline.Batch, free chan *pipeline.Batch) error {
	if plan.snap != nil {
		e.setState(StateSnapshotting)
		if err := plan.snap.Run(ctx, batches, free); err != nil {
			close(batches)
			if ctx.Err() != nil {
				return nil // stopped by a signal: progress is saved by the final checkpoint
			}
			if source.Transient(err) {
				return &SnapshotInterrupted{err}
			}
			return err
		}
	}
	if plan.stop {
		close(batches)
		return nil
	}
	if plan.inc != nil {
		incCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); plan.inc.Run(incCtx) }()
		defer func() { cancel(); <-done }()
	}
	e.setState(StateStreaming)
	return src.Run(ctx, start, batches, free)
}

// SnapshotInterrupted is what a run of the stream ends with when a
// connection fault cut the initial snapshot (the server restarted, a
// connection was cut): its consistent views are gone, but its progress up
// to the last checkpoint is saved, so a new run resumes it. Run starts the
// stream again after a pause, as a supervisor would.
type SnapshotInterrupted struct{ Err error }

func (e *SnapshotInterrupted) Error() string {
	return "the connection to the source was lost during the initial snapshot: " + e.Err.Error()
}
func (e *SnapshotInterrupted) Unwrap() error { return e.Err }

// requestSnapshot is POST /snapshot.
func (e *Engine) requestSnapshot(tables []string) error {
	e.mu.Lock()
	inc := e.plan.inc
	e.mu.Unlock()
	if inc == nil {
		return server.ErrNotReady
	}
	return inc.Request(tables)
}

// controlSnapshot is POST /snapshot/{pause,resume,stop}.
func (e *Engine) controlSnapshot(action string, tables []string) error {
	e.mu.Lock()
	inc := e.plan.inc
	e.mu.Unlock()
	if inc == nil {
		return server.ErrNotReady
	}
	return inc.Control(action, tables)
}

// lockDir keeps two bintap processes off one state dir.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("state dir %s is in use by another bintap process", dir)
	}
	return func() { f.Close() }, nil
}

// snapshotPlan is what --snapshot decided at start-up.
type snapshotPlan struct {
	snap *snapshot.Initial // nil: no initial snapshot runs
	stop bool              // initial_only: do not stream afterwards
	// inc runs incremental snapshots while streaming (signal table and
	// POST /snapshot).
	inc *snapshot.Incremental
}

// durable is the pipeline's Durable hook: both kinds of snapshot progress.
func (p snapshotPlan) durable() error {
	if p.snap != nil {
		if err := p.snap.Durable(); err != nil {
			return err
		}
	}
	if p.inc != nil {
		return p.inc.Durable()
	}
	return nil
}

// planSnapshot applies --snapshot (chooseSnapshot). It returns the plan and
// the checkpoint the stream starts from: the snapshot's position when one
// runs, or when an earlier one completed without a checkpoint written.
func (e *Engine) planSnapshot(ctx context.Context, src *source.Stream, ckpt *position.Checkpoint, hist *schema.History) (snapshotPlan, *position.Checkpoint, error) {
	cfg := e.cfg
	st, err := snapshot.LoadState(cfg.StateDir)
	if err != nil {
		return snapshotPlan{}, nil, err
	}
	opt := snapshot.Options{
		Source: src.Source(), Flavor: src.Flavor(), Filter: e.filter, TimeZone: cfg.TimeZone,
		ChunkSize: cfg.SnapshotChunkSize, Parallelism: cfg.SnapshotParallelism,
		StateDir: cfg.StateDir, Hist: hist, Log: e.log, Progress: e.opt.Progress,
	}
	plan := snapshotPlan{stop: cfg.Snapshot == snapshot.ModeInitialOnly}
	if plan.inc, err = snapshot.OpenIncremental(opt, cfg.SignalTable); err != nil {
		return snapshotPlan{}, nil, err
	}
	src.SetObserver(plan.inc)
	action, warning := chooseSnapshot(cfg.Snapshot, cfg.Given("snapshot"), cfg.Given("start"), st, ckpt)
	if warning != "" {
		e.log.Warn(warning, "file", snapshot.FileName)
	}
	switch action {
	case resumeSnapshot:
		plan.snap, err = snapshot.Resume(ctx, opt, st)
		start := st.Start
		return plan, &start, err
	case streamFromSnapshot:
		start := st.Start
		e.log.Info("snapshot already complete; streaming from its position", "position", start.String())
		return plan, &start, nil
	case streamFromCheckpoint:
		if plan.stop && ckpt != nil {
			e.log.Info("a checkpoint exists: no initial snapshot needed (--snapshot initial_only)", "checkpoint", ckpt.String())
		}
		return plan, ckpt, nil
	case newSnapshotIfPurged:
		purged, err := binlogPurged(ctx, src, ckpt)
		if err != nil {
			return snapshotPlan{}, nil, err
		}
		if !purged {
			return plan, ckpt, nil
		}
		e.log.Warn("the checkpoint's binary log is purged; taking a new snapshot (--snapshot when_needed)", "checkpoint", ckpt.String())
	}
	if plan.snap, err = snapshot.Begin(ctx, opt); err != nil {
		return snapshotPlan{}, nil, err
	}
	start := plan.snap.Start()
	return plan, &start, nil
}

// snapshotPlanned tells the outputs that listen which tables the initial
// snapshot copies.
func snapshotPlanned(ctx context.Context, outputs []pipeline.Output, tables []snapshot.TableProgress) error {
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		if !t.Done {
			names = append(names, t.Table)
		}
	}
	for _, o := range outputs {
		if l, ok := o.Dest.(pipeline.SnapshotListener); ok {
			if err := l.SnapshotPlanned(ctx, names); err != nil {
				return fmt.Errorf("output %s: %w", o.Name, err)
			}
		}
	}
	return nil
}

// binlogPurged reports whether the server no longer has the checkpoint's binlog file.
func binlogPurged(ctx context.Context, src *source.Stream, ckpt *position.Checkpoint) (bool, error) {
	files, err := src.BinaryLogs(ctx)
	if err != nil {
		return false, err
	}
	for _, f := range files {
		if f == ckpt.File {
			return false, nil
		}
	}
	return true, nil
}
