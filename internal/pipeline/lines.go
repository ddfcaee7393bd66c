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
	records atomic.Uint64 // read by the status from other goroutines
	bytes   atomic.Uint64
}

// Write encodes the events and hands them to the sink in one call.
func (l *Lines) Write(_ context.Context, events []change.Event, _ position.Checkpoint) error {
	buf := l.buf[:0]
	for i := range events {
		buf = l.Encoder.Append(buf, &events[i])
	}
	l.records.Add(uint64(len(events)))
	return l.write(buf)
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
