// Package index is the change-index output (--output index, the embedded
// index in the state dir, or index+mysql:// and index+postgres:// on a
// server): it writes the row changes of the stream into the change index
// (internal/index) and stores the stream checkpoint in the same transaction,
// so a crash never loses or repeats an indexed change.
package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bintap/bintap/internal/change"
	idx "github.com/bintap/bintap/internal/index"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/sink"
)

func init() {
	sink.Register(sink.Kind{
		Name:  "index",
		Form:  "index (the change index in the state dir), index+mysql://USER[:PASS]@HOST[:PORT]/DB or index+postgres://USER[:PASS]@HOST[:PORT]/DB (a change index on a server)",
		Match: func(spec string) bool { return spec == "index" || idx.IsServerURL(spec) },
		Options: []sink.Option{
			{Name: "retain", Usage: "change index: drop changes older than this, such as 7d, 12h or 90m (default: keep all)", Check: func(v string) error {
				_, err := ParseRetention(v)
				return err
			}},
		},
		Parse: parse,
	})
}

// defaultBatch is the index's --batch-size when none is given, and
// commitBytes the bytes of changes (block elements before compression)
// that end a transaction before it has that many. A commit writes the last
// pages of each table and index into the log again: in make bench -narrow
// (~75 bytes a change), 30,000 changes a transaction were faster than 10,000
// in 23 of 30 interleaved runs, 60,000 no faster than 30,000; on the wide
// table (~280 bytes) 10,000 were faster than 30,000 in 14 of 18.
// BenchmarkDestinationRandomKeys was not slower with 30,000.
const (
	defaultBatch = 30000
	commitBytes  = 3 << 20
)

// ParseRetention parses a retention period: a number followed by d (days),
// h, m or s, or a Go duration such as 36h30m. Empty means keep everything.
func ParseRetention(v string) (time.Duration, error) {
	bad := errors.New("accepted values are durations such as 7d, 12h or 90m")
	if v == "" {
		return 0, nil
	}
	if strings.HasSuffix(v, "d") {
		n, err := strconv.ParseUint(strings.TrimSuffix(v, "d"), 10, 32)
		if err != nil || n == 0 || n > 100000 {
			return 0, bad
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute {
		return 0, errors.New("accepted values are durations of at least 1m, such as 7d, 12h or 90m")
	}
	return d, nil
}

// output is a parsed index output.
type output struct {
	server string // the URL of an index on a server; "" for the state dir's
	name   string
	opt    Options
}

func parse(spec string, s sink.Settings) (sink.Output, error) {
	o := output{name: "index"}
	if idx.IsServerURL(spec) {
		su, err := idx.ParseServerURL(spec)
		if err != nil {
			return nil, err
		}
		o.server, o.name = spec, su.Redacted
	}
	var err error
	o.opt.BatchSize = defaultBatch
	if v := s.Get("batch-size"); v != "" {
		if o.opt.BatchSize, err = strconv.Atoi(v); err != nil {
			return nil, err
		}
	}
	if o.opt.Retain, err = ParseRetention(s.Get("retain")); err != nil {
		return nil, err
	}
	return o, nil
}

func (o output) Name() string { return o.name }

// Open opens the index and records the zone TIMESTAMP values are written
// in (recover writes its literals in that zone).
func (o output) Open(_ context.Context, env sink.Env) (pipeline.Destination, error) {
	var store *idx.Store
	var err error
	if o.server != "" {
		if env.Lease != nil {
			// An HA group: the previous writer may be stopped or cut off
			// with the writer lock and a transaction open; end its session.
			killed, err := idx.TakeOverServer(context.Background(), o.server)
			if err != nil {
				return nil, err
			}
			if killed != 0 {
				env.Log.Info("ended the session of the index's previous writer", "session", killed)
			}
		}
		store, err = idx.OpenServer(o.server, false)
	} else {
		store, err = idx.Open(idx.Path(env.StateDir))
	}
	if err != nil {
		return nil, err
	}
	zone := "UTC"
	if env.TimeZone != nil {
		zone = env.TimeZone.String()
	}
	if err := store.SetMeta("timezone", zone); err != nil {
		store.Close()
		return nil, err
	}
	opt := o.opt
	opt.Log, opt.Lease = env.Log, env.Lease
	d, err := New(store, opt)
	if err != nil {
		store.Close()
		return nil, err
	}
	return d, nil
}

// Destination is a pipeline.Destination and pipeline.Positioned writing to
// an index Store.
//
// Write encodes the events (their values are only valid during the call)
// and assembles them into blocks (index.Assembler) on the pipeline's
// goroutine; a compressor goroutine compresses the blocks and hands them to
// an inserter goroutine that owns the SQLite connection, so that encoding
// the next batch, compressing this one and inserting the one before
// overlap. Commits go down the same channels after the blocks they cover,
// in order; Flush waits for its commit.
type Destination struct {
	store     *idx.Store
	w         *idx.Writer    // its Store and CommitBatch: the inserter goroutine only
	asm       *idx.Assembler // the Write goroutine only
	enc       *idx.Encoder
	batchSize int
	// last is the newest checkpoint handed in, not yet committed, and
	// pending the number of rows sent since the last commit.
	last    position.Checkpoint
	pending int
	// committed is the Assembler's Added at the last commit.
	committed int64

	work     chan request  // to the compressor
	ready    chan request  // compressed, to the inserter
	inserted chan struct{} // closed when the inserter goroutine ends
	mu       sync.Mutex
	err      error // the inserter's first error
	closed   bool

	stopRetain context.CancelFunc
	retainDone chan struct{}
	lease      sink.Lease
}

// Options tune the destination.
type Options struct {
	// BatchSize: changes are committed in SQLite transactions of at least
	// this many changes, or of commitBytes (at the end of the source batch
	// that reaches either), and at every Flush.
	BatchSize int
	// Retain drops changes older than this in the background (0 keeps all).
	Retain time.Duration
	// StatsInterval is how often retention runs and the index size and
	// oldest change are logged (default 1 minute).
	StatsInterval time.Duration
	Log           *slog.Logger
	// Lease, in an HA group, is checked before each write and commit.
	Lease sink.Lease
}

// New opens the destination on store, which it closes on Close.
func New(store *idx.Store, o Options) (*Destination, error) {
	batchSize := o.BatchSize
	if batchSize < 1 {
		return nil, fmt.Errorf("index batch size %d: must be at least 1", batchSize)
	}
	w, err := store.NewWriter(context.Background())
	if err != nil {
		return nil, err
	}
	d := &Destination{store: store, w: w, asm: w.Assembler(), enc: idx.NewEncoder(), batchSize: batchSize,
		work: make(chan request, 2), ready: make(chan request, 2), inserted: make(chan struct{}), lease: o.Lease}
	go d.compress()
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
func (d *Destination) Position(context.Context) (*position.Checkpoint, error) {
	return d.store.Position()
}

// Reset empties the index (--reset).
func (d *Destination) Reset(context.Context) error { return d.store.Reset() }

// request is work for the inserter: a batch to store, then (when commit
// is set) a commit with that checkpoint, answered on reply when it is not
// nil.
type request struct {
	batch  idx.Batch
	commit position.Checkpoint
	reply  chan error
}

// compress is the compressor goroutine.
func (d *Destination) compress() {
	defer close(d.ready)
	for req := range d.work {
		req.batch.Compress()
		d.ready <- req
	}
}

// insert is the inserter goroutine.
func (d *Destination) insert() {
	defer close(d.inserted)
	for req := range d.ready {
		err := d.failed()
		if err == nil {
			if req.commit.File != "" {
				err = d.w.CommitBatch(&req.batch, req.commit)
			} else {
				err = d.w.Store(&req.batch)
			}
			switch {
			case errors.Is(err, idx.ErrEpoch):
				err = fmt.Errorf("index: %w: %v", pipeline.ErrDeposed, err)
			case err != nil:
				err = fmt.Errorf("change index %s: %w", d.store.Path(), err) // a full disk: say where
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
	if d.err == nil && d.lease != nil && !d.lease.Valid() {
		d.err = fmt.Errorf("index: %w (its lease ran out)", pipeline.ErrDeposed)
	}
	return d.err
}

// SharedPosition: an index on a server is read by every instance of an HA
// group; the state dir's is not (sink.Shared).
func (o output) SharedPosition() error {
	if o.server == "" {
		return errors.New("the index in the state dir is on this host only (use index+mysql:// or index+postgres://)")
	}
	return nil
}

// Fence takes the index over for this instance (pipeline.Fencer): a new
// epoch in meta, checked by every commit of this writer in its
// transaction; commits of the writer before fail.
func (d *Destination) Fence(ctx context.Context) (uint64, error) {
	holder := ""
	if d.lease != nil {
		holder = d.lease.Instance()
	}
	epoch, err := d.store.Fence(ctx, holder)
	if err != nil {
		return 0, err
	}
	d.w.SetEpoch(epoch) // before any work reaches the inserter
	return epoch, nil
}

// Write adds the changes of one batch; it commits when batchSize changes or
// more are uncommitted. A batch without a checkpoint (cp zero) stays open
// until one arrives: a commit must never hold changes its stored
// checkpoint does not cover.
func (d *Destination) Write(_ context.Context, events []change.Event, cp position.Checkpoint) error {
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
		if d.pending >= d.batchSize || d.asm.Added()-d.committed >= commitBytes {
			req.commit, d.last, d.pending, d.committed = cp, position.Checkpoint{}, 0, d.asm.Added()
		}
	}
	req.batch = d.asm.Take(req.commit.File != "")
	if !req.batch.Empty() || req.commit.File != "" {
		d.work <- req
	}
	return nil
}

// commit sends the commit of everything sent so far and waits for it, or
// until ctx ends: the outcome of the commit is then unknown, and the
// destination fails.
func (d *Destination) commit(ctx context.Context) error {
	req := request{batch: d.asm.Take(d.last.File != ""), commit: d.last, reply: make(chan error, 1)}
	d.work <- req
	var err error
	select {
	case err = <-req.reply:
	case <-ctx.Done():
		err = fmt.Errorf("index: gave up waiting for the commit: %w", context.Cause(ctx))
		d.mu.Lock()
		if d.err == nil {
			d.err = err
		}
		d.mu.Unlock()
		return err
	}
	if err == nil && req.commit.File != "" {
		d.last, d.pending, d.committed = position.Checkpoint{}, 0, d.asm.Added()
	}
	return err
}

// Flush commits what was written with the newest checkpoint. The commit is
// durable against a process crash; see index.Open on power loss.
func (d *Destination) Flush(ctx context.Context) error { return d.commit(ctx) }

// Close commits and closes the index.
func (d *Destination) Close(ctx context.Context) error {
	if d.stopRetain != nil {
		d.stopRetain()
		<-d.retainDone
		d.stopRetain = nil
	}
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.commit(ctx)
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
func (d *Destination) Status() any {
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
