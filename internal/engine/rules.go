package engine

// The engine's rules, kept apart from the wiring so that they are tested
// without a server or a binary: where a stream resumes, what --reset
// removes, and which snapshot runs.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/schema"
	"github.com/bintap/bintap/internal/snapshot"
)

// stateFiles are what the state dir holds for a stream, besides the lock
// and the embedded change index (an output, reset through its Resetter).
var stateFiles = []string{position.FileName, schema.FileName, snapshot.FileName, snapshot.IncrementalFileName}

// reset is --reset: it removes the checkpoint, the schema history and the
// snapshot state from dir, and makes every output that keeps data of its
// own forget it. The stream then begins as if for the first time.
func reset(ctx context.Context, dir string, outputs []pipeline.Output) error {
	for _, name := range stateFiles {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--reset: %w", err)
		}
	}
	for _, o := range outputs {
		if r, ok := o.Dest.(pipeline.Resetter); ok {
			if err := r.Reset(ctx); err != nil {
				return fmt.Errorf("--reset: output %s: %w", o.Name, err)
			}
		}
	}
	return nil
}

// resumeFrom returns where the stream resumes: the oldest of the state
// dir's checkpoint and the positions stored by the outputs that keep their
// own. Each such output is told what it holds (Output.Holds), so the
// pipeline drops those events for it and none sees a change twice.
//
// An output that keeps a position but holds none, while the stream
// resumes from a checkpoint or from another output's position, is new to
// the stream (or was emptied, or the state dir was lost): it gets the
// changes from there on, and a warning says so and how to give it the
// rest. A start checkpoint (the stream stopped before its first one) is no
// such case: every output is fed from where the stream began.
func resumeFrom(ctx context.Context, ckpt *position.Checkpoint, outputs []pipeline.Output, log *slog.Logger) (*position.Checkpoint, error) {
	started := ckpt != nil && ckpt.Start
	var empty []string
	for i := range outputs {
		o := &outputs[i]
		p, ok := o.Dest.(pipeline.Positioned)
		if !ok {
			continue
		}
		c, err := p.Position(ctx)
		if err != nil {
			return nil, fmt.Errorf("output %s: read its position: %w", o.Name, err)
		}
		if c == nil {
			empty = append(empty, o.Name)
			continue
		}
		log.Info("output holds a position", "output", o.Name, "position", c.String())
		o.Holds = c
		if ckpt == nil || c.Before(ckpt) {
			ckpt = c
		}
	}
	if ckpt != nil && !started {
		for _, name := range empty {
			log.Warn("output holds no position, but the stream resumes from a checkpoint: it gets the changes from there on, not the ones before "+
				"(a new output, one emptied, or the state dir lost). To give it the captured tables as they are now, run an incremental snapshot of them "+
				"(bintap snapshot --table DB.T, or POST /snapshot); to start every output over, --reset",
				"output", name, "checkpoint", ckpt.String())
		}
	}
	return ckpt, nil
}

// snapshotAction is what --snapshot decides at start-up.
type snapshotAction uint8

const (
	// streamFromCheckpoint: no snapshot runs; stream from the checkpoint
	// (or from --start without one).
	streamFromCheckpoint snapshotAction = iota
	// resumeSnapshot: an interrupted snapshot continues, then the stream
	// starts at its position.
	resumeSnapshot
	// streamFromSnapshot: a snapshot completed but no checkpoint was written
	// after it: stream from its position.
	streamFromSnapshot
	// newSnapshot: take a snapshot, then stream from its position.
	newSnapshot
	// newSnapshotIfPurged: take one only if the checkpoint's binlog is gone.
	newSnapshotIfPurged
)

// chooseSnapshot decides what runs before the stream, from the --snapshot
// mode, the snapshot recorded in the state dir (nil: none) and the
// checkpoint (nil: none). startGiven says --start was given without
// --snapshot: an explicit binlog start point asks for the binlog, not a
// copy. The warning, when not empty, is logged.
func chooseSnapshot(mode string, snapshotGiven, startGiven bool, st *snapshot.State, ckpt *position.Checkpoint) (action snapshotAction, warning string) {
	if !snapshotGiven && startGiven {
		mode = snapshot.ModeNever
	}
	switch {
	case st != nil && !st.Complete && mode != snapshot.ModeNever && (ckpt == nil || !st.Start.Before(ckpt)):
		return resumeSnapshot, ""
	case st != nil && !st.Complete:
		warning = "an interrupted snapshot is recorded in the state dir but --snapshot is never: it stays incomplete"
	case st != nil && st.Complete && ckpt == nil:
		return streamFromSnapshot, ""
	}
	switch {
	case mode == snapshot.ModeNever:
		return streamFromCheckpoint, warning
	case ckpt == nil:
		return newSnapshot, warning
	case mode == snapshot.ModeWhenNeeded:
		return newSnapshotIfPurged, warning
	}
	return streamFromCheckpoint, warning
}

// setHistoryScope gives the schema history its scope (--schema-history)
// from the checkpoint on, and saves it. It returns the scope the history
// was kept under when that one left out tables the new one keeps.
func setHistoryScope(cfg *config.Config, hist *schema.History, ckpt *position.Checkpoint) (*schema.Scope, error) {
	sc, err := cfg.HistoryScope()
	if err != nil {
		return nil, err
	}
	var at schema.Mark
	if ckpt != nil {
		at = schema.Mark{File: ckpt.File, Pos: ckpt.Pos}
	}
	earlier, err := hist.SetScope(sc, at)
	if err != nil {
		return nil, err
	}
	if err := hist.Save(); err != nil {
		return nil, err
	}
	return earlier, nil
}
