package pipeline

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/source"
)

// recorder is a destination that logs what happens to it in order.
type recorder struct {
	name     string
	log      *[]string
	failWith error
}

func (r *recorder) Write(events []change.Event, cp position.Checkpoint) error {
	*r.log = append(*r.log, r.name+" write "+cp.File)
	return r.failWith
}

func (r *recorder) Flush() error {
	*r.log = append(*r.log, r.name+" flush")
	return nil
}

func (r *recorder) Close() error { return nil }

func batch(file string, done func()) *source.Batch {
	b := &source.Batch{Events: []change.Event{{Op: change.OpInsert, Tx: &change.Tx{File: file, Timestamp: 7}}}, Done: done}
	if file != "" {
		b.Checkpoint = position.Checkpoint{File: file, Pos: 4}
	}
	return b
}

// TestCheckpointAfterEveryOutputFlushed: the checkpoint file is written only
// after every output flushed, then the batches' Done hooks and Durable run;
// a snapshot batch without a position writes no checkpoint.
func TestCheckpointAfterEveryOutputFlushed(t *testing.T) {
	dir := t.TempDir()
	var events []string
	p := &Pipeline{
		Outputs:  []Output{{Name: "a", Dest: &recorder{name: "a", log: &events}}, {Name: "b", Dest: &recorder{name: "b", log: &events}}},
		StateDir: dir, Interval: time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Durable: func() error {
			c, err := position.Load(dir)
			if err != nil || c == nil || c.File != "bin.000002" {
				t.Errorf("Durable ran before the checkpoint was written: %v, %v", c, err)
			}
			events = append(events, "durable")
			return nil
		},
	}
	in, free := make(chan *source.Batch, 3), make(chan *source.Batch, 3)
	in <- batch("", func() { events = append(events, "done snapshot chunk") })
	in <- batch("bin.000001", nil)
	in <- batch("bin.000002", nil)
	close(in)
	stats, err := p.Run(in, free)
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
		StateDir: dir, Interval: time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	in, free := make(chan *source.Batch, 1), make(chan *source.Batch, 1)
	in <- batch("bin.000001", nil)
	close(in)
	if _, err := p.Run(in, free); err == nil || !strings.Contains(err.Error(), "output broken: disk full") {
		t.Fatalf("err = %v, want the output named", err)
	}
	if c, err := position.Load(dir); c != nil || err != nil {
		t.Errorf("checkpoint after a failed write: %v, %v", c, err)
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
	if err := l.Write([]change.Event{{Op: change.OpInsert}, {Op: change.OpDelete}}, position.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Write([]change.Event{{Op: change.OpHeartbeat}}, position.Checkpoint{}); err != nil {
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
func (s *sinkRecorder) Flush() error         { return nil }
func (s *sinkRecorder) Close() error         { return nil }
