// Package index is the change-index destination: it writes the row changes
// of the stream into the embedded index (internal/index) and stores the
// stream checkpoint in the same SQLite transaction, so a crash never loses or
// repeats an indexed change.
package index

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/bintap/bintap/internal/change"
	idx "github.com/bintap/bintap/internal/index"
	"github.com/bintap/bintap/internal/position"
)

// Destination is a pipeline.Destination and pipeline.Positioned writing to
// an index Store.
type Destination struct {
	store     *idx.Store
	w         *idx.Writer
	batchSize int
	// covered is the checkpoint stored in the index when the stream started:
	// events it covers are in the index already and are dropped.
	covered position.Checkpoint
	// last is the newest checkpoint handed in, not yet committed.
	last position.Checkpoint

	stopRetain context.CancelFunc
	retainDone chan struct{}
}

// Options tune the destination.
type Options struct {
	// BatchSize: changes are committed in SQLite transactions of at least
	// this many changes (at the end of the source batch that reaches it) and
	// at every Flush.
	BatchSize int
	// Retain drops changes older than this in the background (0 keeps all).
	Retain time.Duration
	// StatsInterval is how often retention runs and the index size and
	// oldest change are logged (default 1 minute).
	StatsInterval time.Duration
	Log           *slog.Logger
}

// New opens the destination on store, which it closes on Close.
func New(store *idx.Store, o Options) (*Destination, error) {
	batchSize := o.BatchSize
	if batchSize < 1 {
		return nil, fmt.Errorf("index batch size %d: must be at least 1", batchSize)
	}
	cp, err := store.Position()
	if err != nil {
		return nil, err
	}
	w, err := store.NewWriter(context.Background())
	if err != nil {
		return nil, err
	}
	d := &Destination{store: store, w: w, batchSize: batchSize}
	if cp != nil {
		d.covered = *cp
	}
	if o.Log != nil {
		interval := o.StatsInterval
		if interval <= 0 {
			interval = time.Minute
		}
		ctx, cancel := context.WithCancel(context.Background())
		d.stopRetain = cancel
		d.retainDone = make(chan struct{})
		go func() {
			defer close(d.retainDone)
			store.RetainLoop(ctx, o.Retain, interval, o.Log)
		}()
	}
	return d, nil
}

// Position returns the checkpoint stored with the index data.
func (d *Destination) Position() (*position.Checkpoint, error) { return d.store.Position() }

// Write adds the changes of one batch; it commits when the open transaction
// holds batchSize changes or more. A batch without a checkpoint (cp zero)
// stays open until one arrives: a commit must never hold changes its
// stored checkpoint does not cover.
func (d *Destination) Write(events []change.Event, cp position.Checkpoint) error {
	added := false
	for i := range events {
		ev := &events[i]
		if ev.Tx == nil {
			continue
		}
		images := uint64(1)
		if ev.Op == change.OpUpdate {
			images = 2
		}
		if d.covered.File != "" && d.covered.Covers(ev.Tx.File, ev.Tx.Pos, ev.EventNumber, images) {
			continue
		}
		if err := d.w.Add(ev); err != nil {
			return err
		}
		added = true
	}
	if cp.File == "" && added {
		d.last = position.Checkpoint{} // the older checkpoint does not cover these
	}
	if cp.File != "" {
		d.last = cp
		if d.w.Pending() >= d.batchSize {
			return d.commit()
		}
	}
	return nil
}

func (d *Destination) commit() error {
	if d.last.File == "" {
		return nil
	}
	if err := d.w.Commit(d.last); err != nil {
		return err
	}
	d.last = position.Checkpoint{}
	return nil
}

// Flush commits what was written with the newest checkpoint. The commit is
// durable against a process crash; see index.Open on power loss.
func (d *Destination) Flush() error { return d.commit() }

// Close commits and closes the index.
func (d *Destination) Close() error {
	if d.stopRetain != nil {
		d.stopRetain()
		<-d.retainDone
		d.stopRetain = nil
	}
	err := d.commit()
	if cerr := d.w.Close(); err == nil {
		err = cerr
	}
	if cerr := d.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// Stats reports the index size and the commit times of its oldest and
// newest changes, for status output.
func (d *Destination) Stats(ctx context.Context) (idx.Stats, error) { return d.store.Stats(ctx) }

// Status is the index's section of the HTTP status.
type Status struct {
	idx.Stats
	Error string `json:"error,omitempty"`
}

// Status reads the index figures for the status page.
func (d *Destination) Status() Status {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := d.store.Stats(ctx)
	s := Status{Stats: st}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

// Health is "failed" once a write to the index failed (the stream stops
// then), else "ok".
func (d *Destination) Health() (string, error) {
	if err := d.w.Err(); err != nil {
		return "failed", err
	}
	return "ok", nil
}
