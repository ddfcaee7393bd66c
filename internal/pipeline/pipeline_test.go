package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
)

// recorder is a destination that logs what happens to it in order.
type recorder struct {
	name     string
	log      *[]string
	failWith error
}

func (r *recorder) Write(_ context.Context, events []change.Event, cp position.Checkpoint) error {
	*r.log = append(*r.log, r.name+" write "+cp.File)
	return r.failWith
}

func (r *recorder) Flush(context.Context) error {
	*r.log = append(*r.log, r.name+" flush")
	return nil
}

func (r *recorder) Close(context.Context) error { return nil }

func batch(file string, done func()) *Batch {
	b := &Batch{Events: []change.Event{{Op: change.OpInsert, Tx: &change.Tx{File: file, Timestamp: 7}}}, Done: done}
	if file != "" {
		b.Checkpoint = position.Checkpoint{File: file, Pos: 4}
	}
	return b
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestCheckpointAfterEveryOutputFlushed: the checkpoint file is written only
// after every output flushed, then the batches' Done hooks and Durable run;
// a snapshot batch without a position writes no checkpoint.
func TestCheckpointAfterEveryOutputFlushed(t *testing.T) {
	dir := t.TempDir()
	var events []string
	p := &Pipeline{
		Outputs:  []Output{{Name: "a", Dest: &recorder{name: "a", log: &events}}, {Name: "b", Dest: &recorder{name: "b", log: &events}}},
		StateDir: dir, Interval: time.Hour, Log: quiet(),
		Durable: func() error {
			c, err := position.Load(dir)
			if err != nil || c == nil || c.File != "bin.000002" {
				t.Errorf("Durable ran before the checkpoint was written: %v, %v", c, err)
			}
			events = append(events, "durable")
			return nil
		},
	}
	in, free := make(chan *Batch, 3), make(chan *Batch, 3)
	in <- batch("", func() { events = append(events, "done snapshot chunk") })
	in <- batch("bin.000001", nil)
	in <- batch("bin.000002", nil)
	close(in)
	stats, err := p.Run(context.Background(), in, free)
	if err != nil {
		t.Fatal(err)
	}
	want := "a write ,b write ,a write bin.000001,b write bin.000001,a write bin.000002,b write bin.000002,a flush,b flush,done snapshot chunk,durable"
	if got := strings.Join(events, ","); got != want {
		t.Errorf("order:\n got %s\nwant %s", got, want)
	}
	if stats.Events != 3 || stats.Batches != 3 || stats.Checkpoint.File != "bin.000002" || stats.LastCommit != 7 || len(free) != 3 {
		t.Errorf("stats %+v, %d batches returned", stats, len(free))
	}
}

// TestFailedOutputWritesNoCheckpoint: an output error stops the pipeline
// before anything is checkpointed.
func TestFailedOutputWritesNoCheckpoint(t *testing.T) {
	dir := t.TempDir()
	var events []string
	p := &Pipeline{
		Outputs:  []Output{{Name: "broken", Dest: &recorder{name: "broken", log: &events, failWith: errors.New("disk full")}}},
		StateDir: dir, Interval: time.Hour, Log: quiet(),
	}
	in, free := make(chan *Batch, 1), make(chan *Batch, 1)
	in <- batch("bin.000001", nil)
	close(in)
	if _, err := p.Run(context.Background(), in, free); err == nil || !strings.Contains(err.Error(), "output broken: disk full") {
		t.Fatalf("err = %v, want the output named", err)
	}
	if c, err := position.Load(dir); c != nil || err != nil {
		t.Errorf("checkpoint after a failed write: %v, %v", c, err)
	}
}

// held is a destination that keeps what it is given.
type held struct {
	got []string // "file:pos#num" of each event
	cps []string
	end int
}

func (h *held) Write(_ context.Context, events []change.Event, cp position.Checkpoint) error {
	for _, ev := range events {
		h.got = append(h.got, position.Checkpoint{File: ev.Tx.File, Pos: ev.Tx.Pos, Skip: ev.EventNumber}.String())
	}
	h.cps = append(h.cps, cp.String())
	return nil
}
func (h *held) Flush(context.Context) error          { return nil }
func (h *held) Close(context.Context) error          { return nil }
func (h *held) EndTransaction(context.Context) error { h.end++; return nil }

// TestHeldEventsAreDropped: an output that holds a position gets only the
// events past it, and no checkpoint it already covers; another output gets
// everything. Transaction ends reach both at commits only.
func TestHeldEventsAreDropped(t *testing.T) {
	tx1 := &change.Tx{File: "bin.000001", Pos: 100}
	tx2 := &change.Tx{File: "bin.000001", Pos: 200}
	ev := func(tx *change.Tx, num uint64, op change.Op) change.Event {
		return change.Event{Op: op, Tx: tx, EventNumber: num}
	}
	// The output holds tx2 up to its update at row images 2-3.
	holds := &position.Checkpoint{File: "bin.000001", Pos: 200, Skip: 3}
	a, b := &held{}, &held{}
	p := &Pipeline{Outputs: []Output{{Name: "a", Dest: a, Holds: holds}, {Name: "b", Dest: b}}, StateDir: t.TempDir(), Interval: time.Hour, Log: quiet()}
	in, free := make(chan *Batch, 3), make(chan *Batch, 3)
	in <- &Batch{Events: []change.Event{ev(tx1, 1, change.OpInsert)}, Checkpoint: position.Checkpoint{File: "bin.000001", Pos: 150}}
	in <- &Batch{Events: []change.Event{ev(tx2, 1, change.OpInsert), ev(tx2, 2, change.OpUpdate)}, Checkpoint: position.Checkpoint{File: "bin.000001", Pos: 200, Skip: 3}}
	in <- &Batch{Events: []change.Event{ev(tx2, 4, change.OpDelete)}, Checkpoint: position.Checkpoint{File: "bin.000001", Pos: 300}}
	close(in)
	if _, err := p.Run(context.Background(), in, free); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.got, ","); got != "bin.000001:200 (+4 row images of )" {
		t.Errorf("holding output got %s", got)
	}
	if got := strings.Join(a.cps, ","); got != ":0,:0,bin.000001:300" {
		t.Errorf("holding output got checkpoints %s", got)
	}
	if len(b.got) != 4 || a.end != 1 || b.end != 2 {
		t.Errorf("other output got %d events; ends %d and %d", len(b.got), a.end, b.end)
	}
	if p.Outputs[0].Holds != nil {
		t.Error("Holds not cleared once the stream passed it")
	}
}

// pushes counts Push calls on a byte output.
type pushes struct {
	sinkRecorder
	n int
}

func (p *pushes) Push() error { p.n++; return nil }

// TestPushWhenIdle: byte outputs are pushed once the producer has nothing
// more ready, not after every batch of a backlog.
func TestPushWhenIdle(t *testing.T) {
	s := &pushes{}
	lines := &Lines{Encoder: encoderFunc(func(dst []byte, _ *change.Event) []byte { return append(dst, "x\n"...) }), Sink: s}
	p := &Pipeline{Outputs: []Output{{Name: "-", Dest: lines}}, StateDir: t.TempDir(), Interval: time.Hour, Log: quiet()}
	in, free := make(chan *Batch, 3), make(chan *Batch, 8)
	for range 3 {
		in <- batch("bin.000001", nil)
	}
	ctx := context.Background()
	done := make(chan error)
	go func() { _, err := p.Run(ctx, in, free); done <- err }()
	for len(free) < 3 {
		time.Sleep(time.Millisecond)
	}
	in <- &Batch{} // an empty batch pushes nothing new
	in <- batch("bin.000002", nil)
	close(in)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s.n != 2 {
		t.Errorf("%d pushes, want 2 (after the backlog, after the last batch)", s.n)
	}
	if msgs, bytes := lines.Counts(); msgs != 4 || bytes != 8 {
		t.Errorf("counts %d messages %d bytes", msgs, bytes)
	}
}

// TestLinesEncodesIntoOneWrite: the Lines adapter hands a batch to its sink
// in one write, and nothing for a batch that encodes to nothing.
func TestLinesEncodesIntoOneWrite(t *testing.T) {
	var sink sinkRecorder
	l := &Lines{Encoder: encoderFunc(func(dst []byte, ev *change.Event) []byte {
		if ev.Op == change.OpHeartbeat {
			return dst
		}
		return append(dst, "row\n"...)
	}), Sink: &sink}
	ctx := context.Background()
	if err := l.Write(ctx, []change.Event{{Op: change.OpInsert}, {Op: change.OpDelete}}, position.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Write(ctx, []change.Event{{Op: change.OpHeartbeat}}, position.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	if len(sink.writes) != 1 || sink.writes[0] != "row\nrow\n" {
		t.Errorf("writes %q", sink.writes)
	}
}

type encoderFunc func(dst []byte, ev *change.Event) []byte

func (f encoderFunc) Append(dst []byte, ev *change.Event) []byte { return f(dst, ev) }

type sinkRecorder struct{ writes []string }

func (s *sinkRecorder) Write(p []byte) error { s.writes = append(s.writes, string(p)); return nil }
func (s *sinkRecorder) Push() error          { return nil }
func (s *sinkRecorder) Flush() error         { return nil }
func (s *sinkRecorder) Close() error         { return nil }
