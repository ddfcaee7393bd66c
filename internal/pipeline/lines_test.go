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

// TestCopyRowHolding: text inside the stable buffer is referenced, other
// text copied, and referenced bytes count against the batch's room.
func TestCopyRowHolding(t *testing.T) {
	b := <-NewBatches(1)
	stable := bytes.Repeat([]byte("s"), batchArena-100)
	scratch := []byte("scratch")
	row := []change.Value{{Kind: change.KindString, Text: stable[10:20]}, {Kind: change.KindDecimal, Text: scratch}, {Kind: change.KindInt, Int: 3}}
	out := b.CopyRowHolding(row, stable, nil)
	if &out[0].Text[0] != &stable[10] {
		t.Error("text inside the stable buffer was copied")
	}
	if &out[1].Text[0] == &scratch[0] || string(out[1].Text) != "scratch" {
		t.Error("text outside the stable buffer was not copied")
	}
	scratch[0] = 'X'
	if string(out[1].Text) != "scratch" {
		t.Error("the copy changed with its source")
	}
	if b.held != 10 || len(b.arena) != 7 {
		t.Errorf("held %d, arena %d; want 10, 7", b.held, len(b.arena))
	}
	b.Events = append(b.Events, change.Event{After: out})
	if b.Room(1, batchArena-17+1) {
		t.Error("room for more text than the arena has left after what the batch holds")
	}
	if !b.Room(1, batchArena-17) {
		t.Error("no room for exactly what is left")
	}
	b.Reset()
	if b.held != 0 {
		t.Error("Reset left held bytes")
	}
}

type countingHolder struct{ holds, releases int }

func (h *countingHolder) Hold()    { h.holds++ }
func (h *countingHolder) Release() { h.releases++ }

// TestCopyRowHolder: a batch holds a Holder once, from the first row whose
// text it references, releases it on Reset, and takes no more rows once it
// holds batchHolders of them.
func TestCopyRowHolder(t *testing.T) {
	b := <-NewBatches(1)
	var hs [batchHolders]countingHolder
	noText := &countingHolder{}
	for i := range hs {
		stable := []byte("abcdef")
		if !b.Room(1, 3) {
			t.Fatalf("no room after %d holders", i)
		}
		for range 2 { // two rows in the same buffer: held once
			out := b.CopyRowHolding([]change.Value{{Kind: change.KindString, Text: stable[1:4]}}, stable, &hs[i])
			b.Events = append(b.Events, change.Event{After: out})
		}
		b.CopyRowHolding([]change.Value{{Kind: change.KindInt, Int: 1}}, stable, noText)
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
