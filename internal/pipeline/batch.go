package pipeline

import (
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
)

// Batch is a run of consecutive events with the checkpoint that covers them.
// Batches are recycled: the consumer hands each back through the free channel
// once it has written it, which bounds memory to the number of batches.
type Batch struct {
	Events []change.Event
	// Checkpoint is the position after the last event of the batch.
	Checkpoint position.Checkpoint
	// Done, when set, is called by the consumer once this batch and every
	// batch before it are durable in every output (after a flush), before
	// the checkpoint is written. Snapshots use it to record which chunks are
	// safely delivered.
	Done func()
	// CaughtUp, when set, says the producer had reached the end of the
	// binlog at that time, with everything before handed on: an idle
	// source is not lagging.
	CaughtUp time.Time
	values   []change.Value
	arena    []byte
	// held counts the text bytes the batch references outside its arena
	// (Hold): they count against the arena's size, so a batch holds as many
	// bytes either way.
	held int
	// holders are the buffers the batch references text in, held until
	// the batch is reset (see Holder).
	holders []Holder
}

// A Holder is a reused buffer that batches reference text in instead of
// copying it (Batch.Hold): a batch calls Hold when its first row
// references the buffer, and Release when it is reset, after the consumer
// handed it back. The buffer is not written again until every batch that
// holds it has released it.
type Holder interface {
	Hold()
	Release()
}

// Batch capacity: a batch is sent when either fills.
const (
	batchValues = 4096
	batchArena  = 256 << 10
	batchEvents = 1024
	// batchHolders bounds the buffers a batch holds: when the rows of a
	// batch lie far apart in the binlog (the tables between them are not
	// captured), each may be in a buffer of its own.
	batchHolders = 4
)

// NewBatches returns a channel holding n empty batches.
func NewBatches(n int) chan *Batch {
	ch := make(chan *Batch, n)
	for i := 0; i < n; i++ {
		ch <- &Batch{
			Events: make([]change.Event, 0, batchEvents),
			values: make([]change.Value, 0, batchValues),
			arena:  make([]byte, 0, batchArena),
		}
	}
	return ch
}

// Reset empties a batch taken from the free channel.
func (b *Batch) Reset() {
	clear(b.Events) // drop references to tables and transactions
	b.Events = b.Events[:0]
	b.values = b.values[:0]
	b.arena = b.arena[:0]
	if cap(b.arena) > batchArena { // grown by a large row decoded in place (Into)
		b.arena = make([]byte, 0, batchArena)
	}
	b.held = 0
	for _, h := range b.holders {
		h.Release()
	}
	clear(b.holders)
	b.holders = b.holders[:0]
	b.Checkpoint = position.Checkpoint{}
	b.Done = nil
	b.CaughtUp = time.Time{}
}

// Fits reports whether an event with these row images fits in the batch; an
// empty batch takes any event.
func (b *Batch) Fits(before, after []change.Value) bool {
	return b.Room(len(before)+len(after), TextSize(before)+TextSize(after))
}

// Add appends ev with copies of its row images (values and text) in the
// batch's own storage, so the caller may reuse its buffers. Check Fits first.
func (b *Batch) Add(ev change.Event) {
	ev.Before, ev.After = b.CopyRow(ev.Before), b.CopyRow(ev.After)
	b.Events = append(b.Events, ev)
}

// Room reports whether a row image pair of nValues values and textBytes
// bytes of text fits; an empty batch takes any.
func (b *Batch) Room(nValues, textBytes int) bool {
	return len(b.Events) < cap(b.Events) && len(b.values)+nValues <= cap(b.values) && len(b.holders) < batchHolders &&
		(len(b.arena)+b.held+textBytes <= cap(b.arena) || len(b.Events) == 0)
}

// Values reserves n values of the batch's storage for a row image that
// the caller fills in place (instead of filling its own and having Add copy
// it); text the values hold must be the batch's own (Text). Check Room
// first. Pass the row to AddOwned.
func (b *Batch) Values(n int) []change.Value {
	start := len(b.values)
	if start+n > cap(b.values) { // only a row larger than a batch: Room said no
		b.values = append(b.values, make([]change.Value, n)...)
	}
	b.values = b.values[:start+n]
	return b.values[start : start+n : start+n]
}

// Text returns a copy of t in the batch's storage.
func (b *Batch) Text(t []byte) []byte { return b.copyText(t) }

// AddOwned appends ev, whose row images are already the batch's own
// (Values, Text).
func (b *Batch) AddOwned(ev *change.Event) {
	b.Events = append(b.Events, *ev)
}

// CopyRow appends a copy of row (values and their text) to the batch
// storage and returns it.
func (b *Batch) CopyRow(row []change.Value) []change.Value {
	if row == nil {
		return nil
	}
	start := len(b.values)
	b.values = append(b.values, row...)
	out := b.values[start:len(b.values):len(b.values)]
	for i := range out {
		if t := out[i].Text; t != nil {
			out[i].Text = b.copyText(t)
		}
	}
	return out
}

// copyText copies t into the arena, or into a slice of its own when it is
// larger than what is left of the arena (a big BLOB).
func (b *Batch) copyText(t []byte) []byte {
	if len(b.arena)+len(t) > cap(b.arena) {
		return append([]byte(nil), t...)
	}
	s := len(b.arena)
	b.arena = append(b.arena, t...)
	return b.arena[s:len(b.arena):len(b.arena)]
}

// Into reserves n values of the batch's storage for a row decoded in place
// (binlog.TableDecoder.DecodeBodyInto) and returns them with the batch's
// arena, which the decoder appends the row's text to: it may grow past its
// size for a large row, until the batch is reset. Check Room first; then
// add the row (AddOwned, with Hold for the text it references elsewhere)
// or give its storage back (Unreserve).
func (b *Batch) Into(n int) ([]change.Value, *[]byte) { return b.Values(n), &b.arena }

// Unreserve gives back the last n values reserved and the arena from its
// length arena on: a row decoded with Into that is not added.
func (b *Batch) Unreserve(n, arena int) {
	b.values = b.values[:len(b.values)-n]
	b.arena = b.arena[:arena]
}

// Hold records that the batch's rows reference n more bytes of text that lie
// in the buffer of h, a reused buffer that is not written again while the
// batch holds it (a slab of the replication stream): the batch holds it
// until it is reset. Such text counts against the arena's size, so a batch
// holds as many bytes either way.
func (b *Batch) Hold(n int, h Holder) {
	if n <= 0 {
		return
	}
	b.held += n
	if h != nil && (len(b.holders) == 0 || b.holders[len(b.holders)-1] != h) {
		h.Hold()
		b.holders = append(b.holders, h)
	}
}

// TextSize is the bytes of text the values of row hold.
func TextSize(row []change.Value) int {
	n := 0
	for i := range row {
		n += len(row[i].Text)
	}
	return n
}
