// Package pipeline wires a source to its destinations: it encodes the
// batches the source produces, writes them to every sink in order, and
// writes the checkpoint once every sink has durably accepted what it covers.
// Back-pressure comes from the recycled batches: the source waits for an
// empty batch while the sinks are behind.
package pipeline

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/source"
)

// Destination receives events in order. Kafka and the change index
// implement it directly; byte streams (stdout, files) are a Lines.
type Destination interface {
	// Write takes the events of one batch in order, and the checkpoint that
	// covers them (zero when the batch moves no position). The events and
	// their values are only valid during the call: keep copies.
	Write(events []change.Event, cp position.Checkpoint) error
	// Flush makes everything written so far durable.
	Flush() error
	Close() error
}

// Positioned is a destination that stores its checkpoint atomically with
// its data (Kafka transactions, the change index). On start the stream
// resumes from the oldest position any destination reports, and each
// Positioned destination drops the events its own position covers
// (position.Checkpoint.Covers), so none of them sees a change twice.
type Positioned interface {
	// Position returns the stored checkpoint, or nil when there is none.
	Position() (*position.Checkpoint, error)
}

// Reporter is a destination that knows its own health, such as a broker
// connection: Health returns "ok", "retrying" or "failed" and the last error.
type Reporter interface {
	Health() (state string, err error)
}

// Sink is a destination of encoded records.
type Sink interface {
	// Write takes whole records.
	Write(p []byte) error
	// Flush makes everything written so far durable.
	Flush() error
	Close() error
}

// Encoder appends the records of one event to dst.
type Encoder interface {
	Append(dst []byte, ev *change.Event) []byte
}

// Lines is a destination that encodes events into a byte stream.
type Lines struct {
	Encoder Encoder
	Sink    Sink
	buf     []byte
}

// Write encodes the events and hands them to the sink in one call.
func (l *Lines) Write(events []change.Event, _ position.Checkpoint) error {
	buf := l.buf[:0]
	for i := range events {
		buf = l.Encoder.Append(buf, &events[i])
	}
	l.buf = buf
	if len(buf) == 0 {
		return nil
	}
	return l.Sink.Write(buf)
}

// Flush flushes the sink.
func (l *Lines) Flush() error { return l.Sink.Flush() }

// Close closes the sink.
func (l *Lines) Close() error { return l.Sink.Close() }

// Output is one named destination.
type Output struct {
	Name string
	Dest Destination
}

// Stats are running totals.
type Stats struct {
	Events     uint64
	Batches    uint64
	Checkpoint position.Checkpoint
	// LastCommit is the commit time (UNIX seconds) of the newest
	// transaction written; 0 before the first.
	LastCommit uint32
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

	last  position.Checkpoint
	dirty bool

	mu    sync.Mutex // guards stats, read by Stats from other goroutines
	stats Stats
}

// Stats returns the running totals; safe to call while Run runs.
func (p *Pipeline) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Run writes every batch from in to the outputs and returns each batch to
// free. It checkpoints every Interval and when in is closed, and returns the
// stats when in is closed or a sink fails.
func (p *Pipeline) Run(in <-chan *source.Batch, free chan<- *source.Batch) (Stats, error) {
	tick := time.NewTicker(p.Interval)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-in:
			if !ok {
				err := p.checkpoint()
				return p.Stats(), err
			}
			if err := p.write(b); err != nil {
				return p.Stats(), err
			}
			free <- b
		case <-tick.C:
			if err := p.checkpoint(); err != nil {
				return p.Stats(), err
			}
		}
	}
}

func (p *Pipeline) write(b *source.Batch) error {
	for _, o := range p.Outputs {
		if err := o.Dest.Write(b.Events, b.Checkpoint); err != nil {
			return fmt.Errorf("output %s: %w", o.Name, err)
		}
	}
	if b.Checkpoint.File != "" {
		p.last, p.dirty = b.Checkpoint, true
	}
	if b.Done != nil {
		p.pending, p.dirty = append(p.pending, b.Done), true
	}
	p.mu.Lock()
	p.stats.Events += uint64(len(b.Events))
	p.stats.Batches++
	if n := len(b.Events); n > 0 && b.Events[n-1].Tx != nil {
		p.stats.LastCommit = b.Events[n-1].Tx.Timestamp
	}
	p.mu.Unlock()
	return nil
}

// checkpoint flushes every sink and then records the position they cover.
func (p *Pipeline) checkpoint() error {
	if !p.dirty {
		return nil
	}
	for _, o := range p.Outputs {
		if err := o.Dest.Flush(); err != nil {
			return fmt.Errorf("output %s: flush: %w", o.Name, err)
		}
	}
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
