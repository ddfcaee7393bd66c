package kafka

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
)

// An arena holds the records of one Write: their keys, values and headers
// in one buffer, the records in one slice. It goes back to the pool once
// every record in it is delivered, so steady streaming allocates no
// per-record memory of its own and the garbage collector has little to do.
type arena struct {
	buf  []byte
	recs []kgo.Record
	// now is the timestamp of its records: the time the arena was taken
	// (the producer would call time.Now for each record without one).
	now     time.Time
	headers []kgo.RecordHeader
	// bytes counts the keys and values of recs (Counts).
	bytes uint64
	// left counts the records handed to the producer and not yet
	// delivered, plus one while the arena is being filled or produced.
	left    atomic.Int32
	promise func(*kgo.Record, error) // bound once per arena: delivered, then done
	// barrier, on a job without records, is closed when the producing
	// goroutine reaches it (drain).
	barrier chan struct{}
}

const (
	// queuedArenas is how many filled arenas may wait for the producing
	// goroutine; beyond that Write blocks (back-pressure). A split batch
	// (writeParallel) fills two arenas of half the size: four hold two
	// batches, as two did before batches were split.
	queuedArenas = 4
	// maxPooledBuf is the largest buffer an arena keeps when pooled: an
	// arena that held a huge row does not pin its memory.
	maxPooledBuf = 4 << 20
	// poolShare is the part of MaxBufferedBytes the pool may keep: in
	// flight and pooled arenas share the bound's memory, and a pooled
	// arena saves allocating and growing one. Measured on the bench: all
	// of it (1) against half (2): 1.64-1.75 s of CPU against 1.91-1.93 s,
	// peak RSS 88-93 MB against 86-87 MB.
	poolShare = 1
)

// arena returns an empty arena from the pool, or a new one.
func (d *Destination) arena() *arena {
	d.poolMu.Lock()
	var a *arena
	if n := len(d.pool); n > 0 {
		a = d.pool[n-1]
		d.pool[n-1] = nil
		d.pool = d.pool[:n-1]
		d.pooled -= a.size()
	}
	d.poolMu.Unlock()
	if a == nil {
		// Sized as the previous batch, with room to spare: a buffer that
		// grows leaves its earlier copies to the records that point into
		// them, twice the memory until they are delivered.
		a = &arena{buf: make([]byte, 0, d.bufHint+d.bufHint/4)}
		a.promise = func(r *kgo.Record, err error) {
			d.promise(r, err)
			d.done(a)
		}
	}
	// Record and header slices too: growing them copies records (with
	// write barriers while the collector runs) and allocates each step.
	if cap(a.recs) < d.recHint {
		a.recs = make([]kgo.Record, 0, d.recHint+d.recHint/4)
	}
	if cap(a.headers) < d.hdrHint {
		a.headers = make([]kgo.RecordHeader, 0, d.hdrHint+d.hdrHint/4)
	}
	a.left.Store(1)
	a.now = time.Now()
	return a
}

// size is the memory an arena holds, about.
func (a *arena) size() int64 {
	return int64(cap(a.buf)) + int64(cap(a.recs))*recordSize + int64(cap(a.headers))*headerSize
}

// Sizes of a record and a header, for the pool's budget.
const (
	recordSize = int64(unsafe.Sizeof(kgo.Record{}))
	headerSize = int64(unsafe.Sizeof(kgo.RecordHeader{}))
)

// done drops one reference to a; the last one returns it to the pool.
func (d *Destination) done(a *arena) {
	if a.left.Add(-1) == 0 {
		d.release(a)
	}
}

// release empties a and pools it. The pool keeps at most MaxBufferedBytes
// (/poolShare) of arenas: delivered arenas come back in bursts (one
// produce response acknowledges many) and are taken again one by one.
func (d *Destination) release(a *arena) {
	if cap(a.buf) > maxPooledBuf {
		a.buf = nil
	}
	clear(a.recs) // drop the references to topics and buffers
	clear(a.headers)
	a.buf, a.recs, a.headers, a.bytes = a.buf[:0], a.recs[:0], a.headers[:0], 0
	d.poolMu.Lock()
	if n := a.size(); d.pooled+n <= d.o.MaxBufferedBytes/poolShare {
		d.pool = append(d.pool, a)
		d.pooled += n
	}
	d.poolMu.Unlock()
}

// queue hands a filled arena to the producing goroutine, waiting while it
// is behind (the producer's buffer is full: the brokers are behind or down).
func (d *Destination) queue(a *arena) error {
	if d.isClosed() {
		d.release(a)
		return errClosed
	}
	if len(a.recs) == 0 {
		d.release(a)
		return d.err()
	}
	if err := d.begin(); err != nil {
		d.release(a)
		return err
	}
	d.bufHint, d.recHint, d.hdrHint = len(a.buf), len(a.recs), len(a.headers)
	n, size := uint64(len(a.recs)), a.bytes
	select {
	case d.jobs <- a:
		d.queued = true
		d.messages.Add(n)
		d.bytes.Add(size)
		return nil
	case <-d.ctx.Done():
		d.release(a)
		return d.err()
	}
}

// producing hands the records of each queued arena to the producer, in
// order. kgo's Produce blocks while MaxBufferedBytes or MaxBufferedRecords
// are reached, which blocks this goroutine and then Write: back-pressure,
// never a dropped record.
func (d *Destination) producing() {
	defer close(d.workerDone)
	for a := range d.jobs {
		if a.barrier != nil {
			close(a.barrier)
			continue
		}
		// One reference per record, taken at once; the arena's own
		// reference keeps it from the pool until the loop is done.
		a.left.Add(int32(len(a.recs)))
		for i := range a.recs {
			if d.ctx.Err() != nil {
				// Failed or closed: the rest is not sent, Write reports why.
				a.left.Add(-int32(len(a.recs) - i))
				break
			}
			d.cl.Produce(d.ctx, &a.recs[i], a.promise)
		}
		d.done(a)
	}
}

// drain waits until the producing goroutine has handed every queued record
// to the producer; then the caller may flush, produce or commit itself.
func (d *Destination) drain() error {
	if !d.queued {
		return d.err()
	}
	if d.isClosed() {
		return errClosed
	}
	b := &arena{barrier: make(chan struct{})}
	select {
	case d.jobs <- b:
	case <-d.ctx.Done():
		return d.err()
	}
	select {
	case <-b.barrier:
	case <-d.ctx.Done():
		return d.err()
	}
	d.queued = false
	return d.err()
}

// stopProducing ends the producing goroutine once it has handed on what is
// queued (Close). While the brokers are down and the producer's buffer is
// full that waits at most FlushTimeout; then the destination's context ends
// (the records not handed on are not sent) and it returns false.
func (d *Destination) stopProducing() bool {
	close(d.jobs)
	t := time.NewTimer(d.o.FlushTimeout)
	defer t.Stop()
	select {
	case <-d.workerDone:
		return true
	case <-t.C:
		d.cancel(fmt.Errorf("kafka: gave up waiting for the brokers %s (kafka_flush_timeout) while closing; what they did not acknowledge is not checkpointed", d.o.FlushTimeout))
		<-d.workerDone
		return false
	}
}

// errClosed is what a write after Close fails with.
var errClosed = errors.New("kafka: output closed")

// isClosed reports whether Close began (only the pipeline's goroutine
// closes, so a false answer holds for the caller's next step).
func (d *Destination) isClosed() bool {
	select {
	case <-d.closed:
		return true
	default:
		return false
	}
}
