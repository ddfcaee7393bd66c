package source

import (
	"github.com/bintap/bintap/internal/change"
)

// Observer sees the stream's row changes and transaction ends in binlog
// order, on the stream's goroutine. Incremental snapshots use it to read
// signals, to learn which rows changed while a chunk was read, and to put
// the chunk's rows into the stream at the right point. Its methods must be
// quick: they run on the hot path.
type Observer interface {
	// Watch reports whether the rows of a table that is not captured are
	// still decoded and passed to Row (a signal table).
	Watch(db, table string) bool
	// Row sees one row image group of a captured or watched table.
	Row(t *change.Table, op change.Op, before, after []change.Value)
	// Commit is called after each transaction and, with tx nil, when the
	// source is idle (heartbeats). The emitter adds events at this point of
	// the stream.
	Commit(tx *change.Tx, em Emitter)
}

// SetObserver installs an observer; call it before Run.
func (s *Stream) SetObserver(o Observer) { s.obs = o }

// Emitter adds events to the stream between two transactions.
type Emitter struct {
	s *Stream
	// Last is the event number of the last row image of the transaction
	// that just ended (0 when idle): added events continue after it.
	Last uint64
}

// Position is the binlog position the stream has reached (after the last
// transaction it handled).
func (e Emitter) Position() (file string, pos uint32) { return e.s.file, e.s.pos }

// Add appends an event (its row images are copied), waiting for a free
// batch while the outputs are behind.
func (e Emitter) Add(ev change.Event) error {
	s := e.s
	if s.cur == nil || !s.cur.Fits(ev.Before, ev.After) {
		s.flush()
		if err := s.take(); err != nil {
			return err
		}
	}
	s.cur.Add(ev)
	return nil
}

// OnDurable has fn called once everything added so far is durable in every
// output (the batch's Done hook).
func (e Emitter) OnDurable(fn func()) error {
	s := e.s
	if s.cur == nil {
		if err := s.take(); err != nil {
			return err
		}
	}
	if prev := s.cur.Done; prev != nil {
		s.cur.Done = func() { prev(); fn() }
	} else {
		s.cur.Done = fn
	}
	return nil
}

func (s *Stream) observeCommit(tx *change.Tx, last uint64) {
	if s.obs != nil {
		s.obs.Commit(tx, Emitter{s: s, Last: last})
	}
}
