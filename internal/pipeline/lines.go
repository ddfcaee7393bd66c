package pipeline

import (
	"context"
	"sync/atomic"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
)

// Sink is where a byte-stream output's encoded records go (stdout, files).
type Sink interface {
	// Write takes whole records; the sink may buffer them.
	Write(p []byte) error
	// Push hands buffered records to the reader (a pipe, the OS) without
	// making them durable.
	Push() error
	// Flush makes everything written so far durable.
	Flush() error
	Close() error
}

// Encoder appends the records of one event to dst.
type Encoder interface {
	Append(dst []byte, ev *change.Event) []byte
}

// Forker is an encoder that lets a second goroutine encode part of a batch:
// Lines encodes the first half of a large batch itself and the second half
// on a fork at the same time, and writes both in order.
type Forker interface {
	// Fork returns an encoder for another goroutine. It encodes every event
	// Independent accepts exactly as this encoder would at that point of
	// the stream.
	Fork() interface {
		Append(dst []byte, ev *change.Event) []byte
	}
	// Independent reports whether the records of ev depend on nothing the
	// encoder learns from the events before it (MaxScale: the table's
	// schema record was written already).
	Independent(ev *change.Event) bool
}

// parallelMin is the smallest batch Lines splits between two goroutines:
// below it, handing work over costs more than it saves.
const parallelMin = 64

// transactionEndAppender is an encoder with records at transaction ends
// (format.Debezium).
type transactionEndAppender interface {
	AppendTransactionEnd(dst []byte) []byte
}

// Lines is a destination that encodes events into a byte stream.
type Lines struct {
	Encoder Encoder
	Sink    Sink
	buf     []byte
	// fork encodes the second half of large batches (Forker) into buf2.
	fork interface {
		Append(dst []byte, ev *change.Event) []byte
	}
	buf2    []byte
	records atomic.Uint64 // read by the status from other goroutines
	bytes   atomic.Uint64
}

// Write encodes the events and hands them to the sink in one call (two
// when a fork encoded the second half).
func (l *Lines) Write(_ context.Context, events []change.Event, _ position.Checkpoint) error {
	l.records.Add(uint64(len(events)))
	if len(events) >= parallelMin {
		if f, ok := l.Encoder.(Forker); ok {
			if mid := len(events) / 2; independent(f, events[mid:]) {
				return l.writeParallel(f, events, mid)
			}
		}
	}
	buf := l.buf[:0]
	for i := range events {
		buf = l.Encoder.Append(buf, &events[i])
	}
	return l.write(buf)
}

func independent(f Forker, events []change.Event) bool {
	for i := range events {
		if !f.Independent(&events[i]) {
			return false
		}
	}
	return true
}

// writeParallel encodes events[:mid] on this goroutine and events[mid:] on
// the fork at the same time, then writes them in order.
func (l *Lines) writeParallel(f Forker, events []change.Event, mid int) error {
	if l.fork == nil {
		l.fork = f.Fork()
	}
	done := make(chan struct{})
	go func() {
		buf := l.buf2[:0]
		for i := mid; i < len(events); i++ {
			buf = l.fork.Append(buf, &events[i])
		}
		l.buf2 = buf
		close(done)
	}()
	buf := l.buf[:0]
	for i := range events[:mid] {
		buf = l.Encoder.Append(buf, &events[i])
	}
	<-done
	if err := l.write(buf); err != nil {
		return err
	}
	if len(l.buf2) == 0 {
		return nil
	}
	l.bytes.Add(uint64(len(l.buf2)))
	return l.Sink.Write(l.buf2)
}

func (l *Lines) write(buf []byte) error {
	l.buf = buf
	if len(buf) == 0 {
		return nil
	}
	l.bytes.Add(uint64(len(buf)))
	return l.Sink.Write(buf)
}

// EndTransaction writes the encoder's transaction end records, if it has any.
func (l *Lines) EndTransaction(context.Context) error {
	te, ok := l.Encoder.(transactionEndAppender)
	if !ok {
		return nil
	}
	return l.write(te.AppendTransactionEnd(l.buf[:0]))
}

// Push hands what the sink buffered to its reader.
func (l *Lines) Push(context.Context) error { return l.Sink.Push() }

// Flush makes the sink durable.
func (l *Lines) Flush(context.Context) error { return l.Sink.Flush() }

// Close closes the sink.
func (l *Lines) Close(context.Context) error { return l.Sink.Close() }

// Counts are the events encoded and the bytes written.
func (l *Lines) Counts() (messages, bytes uint64) { return l.records.Load(), l.bytes.Load() }
