package pipeline

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
	"github.com/bintap/bintap/internal/position"
)

// bufferSink collects what a Lines writes.
type bufferSink struct {
	bytes.Buffer
	writes int
}

func (s *bufferSink) Write(p []byte) error { s.writes++; _, err := s.Buffer.Write(p); return err }
func (s *bufferSink) Push() error          { return nil }
func (s *bufferSink) Flush() error         { return nil }
func (s *bufferSink) Close() error         { return nil }

// TestLinesParallelKeepsOrder: batches large enough to be encoded by two
// goroutines give the same bytes, in the same order, as one encoder writing
// event by event, across tables whose schema records first appear in the
// middle or the second half of a batch, transactions and every operation.
func TestLinesParallelKeepsOrder(t *testing.T) {
	tables := make([]*change.Table, 3)
	for i := range tables {
		tables[i] = &change.Table{Schema: "db", Name: "t" + strconv.Itoa(i), Version: 1,
			Columns: []change.Column{{Name: "id", Type: "int"}, {Name: "s", Type: "varchar"}}}
	}
	var batches [][]change.Event
	event := 0
	for b := 0; b < 6; b++ {
		var evs []change.Event
		n := parallelMin - 1 + b*40 // the first below the threshold
		for i := 0; i < n; i++ {
			event++
			tx := &change.Tx{Domain: 0, ServerID: 1, Sequence: uint64(event / 7), GTID: "0-1-" + strconv.Itoa(event/7), Timestamp: uint32(event / 50)}
			// Table 1 first appears in the second half of batch 2; table 2
			// in the first half of batch 4.
			tab := tables[0]
			switch {
			case b >= 2 && i >= n*3/4 && i%2 == 0:
				tab = tables[1]
			case b >= 4 && i >= n/4 && i%3 == 0:
				tab = tables[2]
			}
			row := []change.Value{{Kind: change.KindInt, Int: int64(event)}, {Kind: change.KindString, Text: []byte("v\"é" + strconv.Itoa(i))}}
			ev := change.Event{Op: change.Op(1 + event%3), Table: tab, Tx: tx, EventNumber: uint64(event%7 + 1)}
			switch ev.Op {
			case change.OpInsert:
				ev.After = row
			case change.OpDelete:
				ev.Before = row
			default:
				ev.Op, ev.Before, ev.After = change.OpUpdate, row, row[:1:1]
			}
			evs = append(evs, ev)
		}
		batches = append(batches, evs)
	}
	want := format.NewMaxScale("hex", true)
	var wantBuf []byte
	for _, evs := range batches {
		for i := range evs {
			wantBuf = want.Append(wantBuf, &evs[i])
		}
	}
	sink := &bufferSink{}
	l := &Lines{Encoder: format.NewMaxScale("hex", true), Sink: sink}
	for _, evs := range batches {
		if err := l.Write(context.Background(), evs, position.Checkpoint{}); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(sink.Bytes(), wantBuf) {
		t.Fatalf("parallel output differs from the serial one:\n got %.600s\nwant %.600s", sink.Bytes(), wantBuf)
	}
	if sink.writes <= len(batches) {
		t.Errorf("%d sink writes for %d batches: no batch was split", sink.writes, len(batches))
	}
	if n, b := l.Counts(); n != uint64(event) || b != uint64(len(wantBuf)) {
		t.Errorf("counts %d events, %d bytes; want %d, %d", n, b, event, len(wantBuf))
	}
	if c := bytes.Count(wantBuf, []byte(`"namespace"`)); c != 3 {
		t.Errorf("%d schema records, want 3", c)
	}
}

// TestInto: a row decoded into the batch's storage (Into) is the batch's
// own; text it references elsewhere (Hold) counts against the batch's room;
// a row not added gives its storage back (Unreserve); an arena grown past
// its size by a large row is replaced on Reset.
func TestInto(t *testing.T) {
	b := <-NewBatches(1)
	vals, arena := b.Into(3)
	if len(vals) != 3 || cap(vals) != 3 || &vals[0] != &b.values[0] {
		t.Fatalf("Into(3) gave %d values (cap %d), not the batch's", len(vals), cap(vals))
	}
	stable := []byte("0123456789")
	start := len(*arena)
	*arena = append(*arena, "12.50"...)
	vals[0] = change.Value{Kind: change.KindString, Text: stable[2:8]}
	vals[1] = change.Value{Kind: change.KindDecimal, Text: (*arena)[start:]}
	vals[2] = change.Value{Kind: change.KindInt, Int: 3}
	b.Hold(6, nil)
	b.AddOwned(&change.Event{After: vals})
	if b.held != 6 || len(b.arena) != 5 || len(b.values) != 3 {
		t.Errorf("held %d, arena %d, values %d; want 6, 5, 3", b.held, len(b.arena), len(b.values))
	}
	if b.Room(1, batchArena-11+1) || !b.Room(1, batchArena-11) {
		t.Error("room does not count the held text and the arena")
	}

	// A skipped row gives its storage back.
	vals, arena = b.Into(2)
	*arena = append(*arena, "2024-01-01"...)
	b.Unreserve(len(vals), 5)
	if len(b.values) != 3 || len(b.arena) != 5 || string(b.arena) != "12.50" {
		t.Errorf("after Unreserve: %d values, arena %q; want 3, \"12.50\"", len(b.values), b.arena)
	}

	// A large row grows the arena; the first row's text stays as it was.
	_, arena = b.Into(1)
	*arena = append(*arena, bytes.Repeat([]byte("x"), batchArena)...)
	if string(b.Events[0].After[1].Text) != "12.50" {
		t.Errorf("text of the first row changed to %q", b.Events[0].After[1].Text)
	}
	b.Reset()
	if b.held != 0 || len(b.arena) != 0 || cap(b.arena) != batchArena {
		t.Errorf("after Reset: held %d, arena %d (cap %d); want 0, 0 (cap %d)", b.held, len(b.arena), cap(b.arena), batchArena)
	}
}

type countingHolder struct{ holds, releases int }

func (h *countingHolder) Hold()    { h.holds++ }
func (h *countingHolder) Release() { h.releases++ }

// TestHolder: a batch holds a Holder once, from the first row whose text
// it references, releases it on Reset, and takes no more rows once it
// holds batchHolders of them.
func TestHolder(t *testing.T) {
	b := <-NewBatches(1)
	var hs [batchHolders]countingHolder
	noText := &countingHolder{}
	for i := range hs {
		if !b.Room(1, 3) {
			t.Fatalf("no room after %d holders", i)
		}
		for range 2 { // two rows in the same buffer: held once
			b.Hold(3, &hs[i])
		}
		b.Hold(0, noText) // a row with no text in the buffer
	}
	if b.Room(1, 3) {
		t.Errorf("room for a row after %d holders", batchHolders)
	}
	for i, h := range hs {
		if h.holds != 1 || h.releases != 0 {
			t.Errorf("holder %d: %d holds, %d releases before Reset; want 1, 0", i, h.holds, h.releases)
		}
	}
	if noText.holds != 0 {
		t.Error("a row with no text in the buffer held it")
	}
	b.Reset()
	for i, h := range hs {
		if h.releases != 1 {
			t.Errorf("holder %d: %d releases after Reset, want 1", i, h.releases)
		}
	}
	if !b.Room(1, 3) {
		t.Error("no room after Reset")
	}
}
