package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/schema"
	"github.com/bintap/bintap/internal/snapshot"
	"github.com/bintap/bintap/internal/source"
)

// snapshotPlan is what --snapshot decided at start-up.
type snapshotPlan struct {
	snap *snapshot.Initial // nil: no snapshot runs
	stop bool              // initial_only: do not stream afterwards
	// inc runs incremental snapshots while streaming (signal table and
	// Request); the HTTP API reaches it here.
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

// planSnapshot applies --snapshot. It returns the plan and the checkpoint
// the stream starts from (the snapshot's position when one runs or an
// earlier one completed without a checkpoint being written).
func planSnapshot(ctx context.Context, cfg *config.Config, src *source.Stream, ckpt *position.Checkpoint,
	hist *schema.History, log *slog.Logger) (snapshotPlan, *position.Checkpoint, error) {
	if cfg.Reset {
		if err := snapshot.RemoveState(cfg.StateDir); err != nil {
			return snapshotPlan{}, nil, err
		}
		if err := os.Remove(filepath.Join(cfg.StateDir, snapshot.IncrementalFileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return snapshotPlan{}, nil, err
		}
	}
	mode := cfg.Snapshot
	if !cfg.Given("snapshot") && cfg.Given("start") {
		mode = snapshot.ModeNever // an explicit binlog start point asks for the binlog, not a copy
	}
	st, err := snapshot.LoadState(cfg.StateDir)
	if err != nil {
		return snapshotPlan{}, nil, err
	}
	opt := snapshot.Options{
		Source: cfg.Source, Flavor: src.Flavor(), Filter: cfg.Filter(), TimeZone: cfg.TimeZone,
		ChunkSize: cfg.SnapshotChunkSize, Parallelism: cfg.SnapshotParallelism,
		StateDir: cfg.StateDir, Hist: hist, Log: log, Progress: terminal(os.Stderr),
	}
	plan := snapshotPlan{stop: mode == snapshot.ModeInitialOnly}
	if plan.inc, err = snapshot.OpenIncremental(opt, cfg.SignalTable); err != nil {
		return snapshotPlan{}, nil, err
	}
	src.SetObserver(plan.inc)
	switch {
	case st != nil && !st.Complete && mode != snapshot.ModeNever && (ckpt == nil || !st.Start.Before(ckpt)):
		plan.snap, err = snapshot.Resume(ctx, opt, st)
		start := st.Start
		return plan, &start, err
	case st != nil && !st.Complete:
		log.Warn("an interrupted snapshot is recorded in the state dir but --snapshot is never: it stays incomplete", "file", snapshot.FileName)
	case st != nil && st.Complete && ckpt == nil:
		// Completed, but stopped before the first checkpoint was written.
		start := st.Start
		log.Info("snapshot already complete; streaming from its position", "position", start.String())
		return plan, &start, nil
	}
	if mode == snapshot.ModeNever {
		return plan, ckpt, nil
	}
	if ckpt != nil {
		if mode != snapshot.ModeWhenNeeded {
			if plan.stop {
				log.Info("a checkpoint exists: no initial snapshot needed (--snapshot initial_only)", "checkpoint", ckpt.String())
			}
			return plan, ckpt, nil
		}
		purged, err := binlogPurged(ctx, cfg, ckpt)
		if err != nil {
			return snapshotPlan{}, nil, err
		}
		if !purged {
			return plan, ckpt, nil
		}
		log.Warn("the checkpoint's binary log is purged; taking a new snapshot (--snapshot when_needed)", "checkpoint", ckpt.String())
	}
	plan.snap, err = snapshot.Begin(ctx, opt)
	if err != nil {
		return snapshotPlan{}, nil, err
	}
	start := plan.snap.Start()
	return plan, &start, nil
}

// binlogPurged reports whether the server no longer has the checkpoint's binlog file.
func binlogPurged(ctx context.Context, cfg *config.Config, ckpt *position.Checkpoint) (bool, error) {
	db, err := source.OpenDB(cfg.Source)
	if err != nil {
		return false, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return false, fmt.Errorf("list binary logs (needs REPLICATION CLIENT or BINLOG MONITOR): %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		var name string
		vals[0] = &name
		for i := 1; i < len(vals); i++ {
			vals[i] = new(any)
		}
		if err := rows.Scan(vals...); err != nil {
			return false, err
		}
		if name == ckpt.File {
			return false, nil
		}
	}
	return true, rows.Err()
}

// runSnapshotThenStream runs the planned snapshot into the batch channel,
// then the stream (which closes the channel).
func runSnapshotThenStream(ctx context.Context, plan snapshotPlan, src *source.Stream, start source.Start,
	batches chan *source.Batch, free chan *source.Batch) error {
	if plan.snap != nil {
		if err := plan.snap.Run(ctx, batches, free); err != nil {
			close(batches)
			if ctx.Err() != nil {
				return nil // stopped by a signal: progress is saved by the final checkpoint
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
	return src.Run(ctx, start, batches, free)
}

// terminal returns f when it is a terminal (for the progress bar), else nil.
func terminal(f *os.File) io.Writer {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}
