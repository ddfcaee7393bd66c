// Package pipeline carries batches of events from a producer (the binlog
// stream, a snapshot) to every output, in order, and writes the checkpoint
// once every output has durably accepted what it covers.
//
// It also owns what every output shares, so no destination writes it again:
//
//   - an output that stores its own position with its data (Positioned) is
//     handed only the events its position does not cover (Output.Holds);
//   - at each transaction end it tells the outputs that write records there
//     (TransactionEnder: Debezium's END records);
//   - whenever the producer has nothing more ready it hands byte streams on
//     to their readers (Pusher), so `bintap stream | jq` sees each change
//     within milliseconds while durability still waits for the checkpoint.
//
// Back-pressure comes from the recycled batches: the producer waits for an
// empty batch while the outputs are behind.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
)

// Destination receives events in order; every output is one.
type Destination interface {
	// Write takes the events of one batch in order, and the checkpoint that
	// covers them (zero when the batch moves no position). The events and
	// their values are only valid during the call: keep copies.
	Write(ctx context.Context, events []change.Event, cp position.Checkpoint) error
	// Flush makes everything written so far durable.
	Flush(ctx context.Context) error
	// Close releases the destination after delivering what it can; ctx
	// bounds the wait.
	Close(ctx context.Context) error
}

// Positioned is a destination that stores its checkpoint atomically with
// its data (Kafka transactions, the change index). On start the stream
// resumes from the oldest position any output reports, and the pipeline
// drops, for each Positioned output, the events its own position covers.
type Positioned interface {
	// Position returns the stored checkpoint, or nil when there is none.
	Position(ctx context.Context) (*position.Checkpoint, error)
}

// ErrDeposed is what the writes of an instance of an HA group fail with once
// it is no longer the active one: its lease ran out, or another instance
// took the output over (a newer epoch, a fenced Kafka producer).
var ErrDeposed = errors.New("deposed: this instance is no longer the active one of its HA group")

// Fencer is a destination shared by the instances of an HA group. The
// instance that becomes active calls Fence before it reads the position:
// it stores a new epoch with the position (or takes over the transactional
// id), after which writes of the instance that held it before fail. Fence
// returns the epoch now stored.
type Fencer interface {
	Fence(ctx context.Context) (epoch uint64, err error)
}

// Reporter is a destination that knows its own health, such as a broker
// connection: Health returns "ok", "retrying" or "failed" and the last error.
type Reporter interface {
	Health() (state string, err error)
}

// Resetter is a destination that can forget what it holds (--reset).
type Resetter interface {
	Reset(ctx context.Context) error
}

// StatusReporter is a destination with a section of its own in the status.
type StatusReporter interface {
	Status() any
}

// TransactionEnder is a destination that writes records at transaction
// ends (Debezium's END). The pipeline calls it after a batch whose
// checkpoint lies at a commit.
type TransactionEnder interface {
	EndTransaction(ctx context.Context) error
}

// Pusher is a byte-stream destination: Push hands what it buffered to its
// reader (a pipe, the OS) without making it durable. The pipeline calls it
// whenever the producer has nothing more ready.
type Pusher interface {
	Push(ctx context.Context) error
}

// SnapshotListener is a destination that wants to know, before an initial
// snapshot starts, which tables ("db.table") it will copy (a database
// target shows them as waiting for migration).
type SnapshotListener interface {
	SnapshotPlanned(ctx context.Context, tables []string) error
}

// Idler is a destination that wants to know when the producer reached the
// end of the binlog with everything before handed on (the source is idle):
// time-framed files close their window on the clock then.
type Idler interface {
	Idle(ctx context.Context) error
}

// Counter is a destination that counts what it delivered.
type Counter interface {
	Counts() (messages, bytes uint64)
}

// Output is one named destination.
type Output struct {
	Name string
	Dest Destination
	// Holds is the position the destination already holds (Positioned):
	// events it covers are not written to it. The pipeline clears it once
	// the stream passes it.
	Holds *position.Checkpoint
}

// TableCounts are the events of one table by operation.
type TableCounts struct {
	Inserts, Updates, Deletes, Reads uint64
	// LastChange is the commit time (UNIX seconds) of its newest event.
	LastChange uint32
}

// Stats are running totals.
type Stats struct {
	Events     uint64
	Batches    uint64
	Checkpoint position.Checkpoint
	// LastCommit is the commit time (UNIX seconds) of the newest
	// transaction written; 0 before the first.
	LastCommit uint32
	// CaughtUp is when the producer last said it had reached the end of
	// the binlog with everything before handed on (zero: not yet).
	CaughtUp time.Time
	// Tables counts events by "db.table".
	Tables map[string]TableCounts
}

// Pipeline consumes batches.
type Pipeline struct {
	Outputs  []Output
	StateDir string
	Interval time.Duration
	Log      *slog.Logger
	// Durable, when set, is called at each checkpoint after the outputs were
	// flushed, the batches' Done hooks ran and the checkpoint was written
	// (snapshots save their progress here).
	Durable func() error

	pending []func() // Done hooks of batches written since the last flush
	scratch []change.Event
	pushed  bool // nothing written since the last Push

	last  position.Checkpoint
	dirty bool

	mu      sync.Mutex // guards stats and counts, read by Stats from other goroutines
	stats   Stats
	byTable map[*change.Table]*TableCounts
	byName  map[string]*TableCounts
}

// Stats returns the running totals; safe to call while Run runs.
func (p *Pipeline) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Tables = make(map[string]TableCounts, len(p.byName))
	for k, v := range p.byName {
		s.Tables[k] = *v
	}
	return s
}

// Run writes every batch from in to the outputs and returns each batch to
// free. It checkpoints every Interval and when in is closed, and returns the
// stats when in is closed or an output fails. ctx is handed to the outputs'
// blocking calls; Run itself ends when in is closed.
func (p *Pipeline) Run(ctx context.Context, in <-chan *Batch, free chan<- *Batch) (Stats, error) {
	tick := time.NewTicker(p.Interval)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-in:
			if !ok {
				err := p.checkpoint(ctx)
				return p.Stats(), err
			}
			if err := p.write(ctx, b); err != nil {
				return p.Stats(), err
			}
			free <- b
			if len(in) == 0 {
				if err := p.push(ctx); err != nil {
					return p.Stats(), err
				}
			}
		case <-tick.C:
			if err := p.checkpoint(ctx); err != nil {
				return p.Stats(), err
			}
		}
	}
}

func (p *Pipeline) write(ctx context.Context, b *Batch) error {
	atCommit := b.Checkpoint.File != "" && b.Checkpoint.Skip == 0
	for i := range p.Outputs {
		o := &p.Outputs[i]
		events, cp := b.Events, b.Checkpoint
		if o.Holds != nil {
			events, cp = p.unheld(o, events, cp)
		}
		if err := o.Dest.Write(ctx, events, cp); err != nil {
			return fmt.Errorf("output %s: %w", o.Name, err)
		}
		if te, ok := o.Dest.(TransactionEnder); ok && atCommit && cp.File != "" {
			if err := te.EndTransaction(ctx); err != nil {
				return fmt.Errorf("output %s: %w", o.Name, err)
			}
		}
		if id, ok := o.Dest.(Idler); ok && !b.CaughtUp.IsZero() {
			if err := id.Idle(ctx); err != nil {
				return fmt.Errorf("output %s: %w", o.Name, err)
			}
		}
	}
	if b.Checkpoint.File != "" {
		p.last, p.dirty = b.Checkpoint, true
	}
	if b.Done != nil {
		p.pending, p.dirty = append(p.pending, b.Done), true
	}
	p.pushed = p.pushed && len(b.Events) == 0
	p.count(b)
	return nil
}

// unheld returns the events of a batch that o does not hold yet, and the
// batch's checkpoint unless o's position covers it too. Once an event lies
// past o.Holds, the stream has moved on and o gets everything from then on.
func (p *Pipeline) unheld(o *Output, events []change.Event, cp position.Checkpoint) ([]change.Event, position.Checkpoint) {
	held := o.Holds
	keep := p.scratch[:0]
	for i := range events {
		ev := &events[i]
		if ev.Tx == nil {
			keep = append(keep, *ev) // no position: a snapshot marker, never held
			continue
		}
		images := uint64(1)
		if ev.Op == change.OpUpdate {
			images = 2
		}
		if held.Covers(ev.Tx.File, ev.Tx.Pos, ev.EventNumber, images) {
			continue
		}
		o.Holds = nil
		keep = append(keep, events[i:]...)
		break
	}
	p.scratch = keep[:0]
	if cp.File != "" && !held.Before(&cp) {
		cp = position.Checkpoint{} // not past what o holds: it must not store it
	}
	return keep, cp
}

// count adds a batch to the stats.
func (p *Pipeline) count(b *Batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Events += uint64(len(b.Events))
	p.stats.Batches++
	if !b.CaughtUp.IsZero() {
		p.stats.CaughtUp = b.CaughtUp
	}
	var t *change.Table
	var c *TableCounts
	for i := range b.Events {
		ev := &b.Events[i]
		if ev.Table == nil {
			continue
		}
		if ev.Table != t {
			t, c = ev.Table, p.tableCounts(ev.Table)
		}
		switch ev.Op {
		case change.OpInsert:
			c.Inserts++
		case change.OpUpdate:
			c.Updates++
		case change.OpDelete:
			c.Deletes++
		case change.OpRead:
			c.Reads++
		}
		if ev.Tx != nil {
			c.LastChange = ev.Tx.Timestamp
		}
	}
	if n := len(b.Events); n > 0 && b.Events[n-1].Tx != nil {
		p.stats.LastCommit = b.Events[n-1].Tx.Timestamp
	}
}

// tableCounts returns the counts of t; every version of a table shares its
// name's counts.
func (p *Pipeline) tableCounts(t *change.Table) *TableCounts {
	if c := p.byTable[t]; c != nil {
		return c
	}
	if p.byTable == nil {
		p.byTable, p.byName = map[*change.Table]*TableCounts{}, map[string]*TableCounts{}
	}
	c := p.byName[t.FullName()]
	if c == nil {
		c = &TableCounts{}
		p.byName[t.FullName()] = c
	}
	p.byTable[t] = c
	return c
}

// push hands what byte streams buffered on to their readers.
func (p *Pipeline) push(ctx context.Context) error {
	if p.pushed {
		return nil
	}
	for _, o := range p.Outputs {
		if ps, ok := o.Dest.(Pusher); ok {
			if err := ps.Push(ctx); err != nil {
				return fmt.Errorf("output %s: %w", o.Name, err)
			}
		}
	}
	p.pushed = true
	return nil
}

// checkpoint flushes every output and then records the position they cover.
func (p *Pipeline) checkpoint(ctx context.Context) error {
	if !p.dirty {
		return nil
	}
	for _, o := range p.Outputs {
		if err := o.Dest.Flush(ctx); err != nil {
			return fmt.Errorf("output %s: flush: %w", o.Name, err)
		}
	}
	p.pushed = true
	for _, done := range p.pending {
		done()
	}
	clear(p.pending)
	p.pending = p.pending[:0]
	p.dirty = false
	if p.last.File != "" { // empty while an initial snapshot runs
		if err := p.last.Save(p.StateDir); err != nil {
			return fmt.Errorf("write checkpoint: %w", err)
		}
	}
	// Snapshot progress after the checkpoint: a crash in between repeats a
	// chunk rather than skip stream events before it.
	if p.Durable != nil {
		if err := p.Durable(); err != nil {
			return err
		}
	}
	if p.last.File == "" {
		return nil
	}
	p.mu.Lock()
	p.stats.Checkpoint = p.last
	p.mu.Unlock()
	p.Log.Debug("checkpoint written", "position", p.last.String())
	return nil
}
