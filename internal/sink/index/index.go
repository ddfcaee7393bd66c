// Package index is the change-index destination: it writes the row changes
// of the stream into the embedded index (internal/index) and stores the
// stream checkpoint in the same SQLite transaction, so a crash never loses or
// repeats an indexed change.
package index

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bintap/bintap/internal/change"
	idx "github.com/bintap/bintap/internal/index"
	"github.com/bintap/bintap/internal/position"
)

// Destination is a pipeline.Destination and pipeline.Positioned writing to
// an index Store.
//
// Write encodes the events (their values are only valid during the call)
// and assembles them into compressed blocks (index.Assembler), which it
// hands to an inserter goroutine that owns the SQLite connection, so that
// encoding and compressing the next batch overlaps inserting this one.
// Commits go down the same channel after the blocks they cover; Flush waits
// for its commit.
type Destination struct {
	store     *idx.Store
	w         *idx.Writer    // its Store and CommitBatch: the inserter goroutine only
	asm       *idx.Assembler // the Write goroutine only
	enc       *idx.Encoder
	batchSize int
	// covered is the checkpoint stored in the index when the stream started:
	// events it covers are in the index already and are dropped.
	covered position.Checkpoint
	// last is the newest checkpoint handed in, not yet committed, and
	// pending the number of rows sent since the last commit.
	last    position.Checkpoint
	pending int

	work     chan request
	inserted chan struct{} // closed when the inserter goroutine ends
	mu       sync.Mutex
	err      error // the inserter's first error
	closed   bool

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
	d := &Destination{store: store, w: w, asm: w.Assembler(), enc: idx.NewEncoder(), batchSize: batchSize,
		work: make(chan request, 2), inserted: make(chan struct{})}
	if cp != nil {
		d.covered = *cp
	}
	go d.insert()
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

// request is work for the inserter: a batch to store, then (when commit
// is set) a commit with that checkpoint, answered on reply when it is not
// nil.
type request struct {
	batch  idx.Batch
	commit position.Checkpoint
	reply  chan error
}

// insert is the inserter goroutine.
func (d *Destination) insert() {
	defer close(d.inserted)
	for req := range d.work {
		err := d.failed()
		if err == nil {
			if req.commit.File != "" {
				err = d.w.CommitBatch(&req.batch, req.commit)
			} else {
				err = d.w.Store(&req.batch)
			}
		}
		if err != nil {
			d.mu.Lock()
			if d.err == nil {
				d.err = err
			}
			d.mu.Unlock()
		}
		if req.reply != nil {
			req.reply <- err
		}
	}
}

func (d *Destination) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Write adds the changes of one batch; it commits when batchSize changes or
// more are uncommitted. A batch without a checkpoint (cp zero) stays open
// until one arrives: a commit must never hold changes its stored
// checkpoint does not cover.
func (d *Destination) Write(events []change.Event, cp position.Checkpoint) error {
	if err := d.failed(); err != nil {
		return err
	}
	d.enc.Reset() // the Assembler copies each row
	added := 0
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
		r, ok, err := d.enc.Encode(ev)
		if err != nil {
			return err
		}
		if ok {
			if err := d.asm.Add(&r); err != nil {
				return err
			}
			added++
		}
	}
	if cp.File == "" && added > 0 {
		d.last = position.Checkpoint{} // the older checkpoint does not cover these
	}
	d.pending += added
	var req request
	if cp.File != "" {
		d.last = cp
		if d.pending >= d.batchSize {
			req.commit, d.last, d.pending = cp, position.Checkpoint{}, 0
		}
	}
	req.batch = d.asm.Take(req.commit.File != "")
	if !req.batch.Empty() || req.commit.File != "" {
		d.work <- req
	}
	return nil
}

// commit sends the commit of everything sent so far and waits for it.
func (d *Destination) commit() error {
	req := request{batch: d.asm.Take(d.last.File != ""), commit: d.last, reply: make(chan error, 1)}
	d.work <- req
	err := <-req.reply
	if err == nil && req.commit.File != "" {
		d.last, d.pending = position.Checkpoint{}, 0
	}
	return err
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
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.commit()
	close(d.work)
	<-d.inserted
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
	if err := d.failed(); err != nil {
		return "failed", err
	}
	return "ok", nil
}
