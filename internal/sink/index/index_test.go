package index

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	idx "github.com/bintap/bintap/internal/index"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
)

var table = &change.Table{Schema: "s", Name: "t", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{{Name: "id", Type: "int"}}}

func events(tx *change.Tx, from, to int) []change.Event {
	var evs []change.Event
	for i := from; i <= to; i++ {
		evs = append(evs, change.Event{Op: change.OpInsert, Table: table, Tx: tx, EventNumber: uint64(i),
			After: []change.Value{{Kind: change.KindInt, Int: int64(i)}}})
	}
	return evs
}

func count(t *testing.T, path string) int {
	t.Helper()
	s, err := idx.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// A restart from an older position hands the destination events it holds
// already: the pipeline must drop exactly those, using its position.
func TestDestinationDropsWhatItHolds(t *testing.T) {
	path := filepath.Join(t.TempDir(), idx.FileName)
	open := func() *Destination {
		s, err := idx.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(s, Options{BatchSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tx := &change.Tx{GTID: "0-1-7", File: "bin.000002", Pos: 400, Timestamp: 1}
	d := open()
	ctx := context.Background()
	if err := d.Write(ctx, events(tx, 1, 5), position.Checkpoint{File: "bin.000002", Pos: 400, Skip: 5, GTID: "0-1-7"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Written but never flushed: a crash loses it together with its checkpoint.
	if err := d.Write(ctx, events(tx, 6, 8), position.Checkpoint{File: "bin.000002", Pos: 400, Skip: 8, GTID: "0-1-7"}); err != nil {
		t.Fatal(err)
	}
	// The crash: the inserter stops and nothing more is committed.
	close(d.work)
	<-d.inserted
	d.w.Close()
	d.store.Close()

	d = open()
	cp, err := d.Position(ctx)
	if err != nil || cp == nil || cp.Skip != 5 {
		t.Fatalf("position after the crash %+v, %v; want skip 5", cp, err)
	}
	// The stream resumes from an older checkpoint (the whole transaction
	// again, and an older one before it).
	old := &change.Tx{GTID: "0-1-6", File: "bin.000002", Pos: 200, Timestamp: 1}
	tx2 := &change.Tx{GTID: "0-1-7", File: "bin.000002", Pos: 400, Timestamp: 1}
	p := &pipeline.Pipeline{Outputs: []pipeline.Output{{Name: "index", Dest: d, Holds: cp}}, StateDir: t.TempDir(), Interval: time.Hour,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	in, free := make(chan *pipeline.Batch, 2), make(chan *pipeline.Batch, 2)
	in <- &pipeline.Batch{Events: events(old, 1, 2), Checkpoint: position.Checkpoint{File: "bin.000002", Pos: 400}}
	in <- &pipeline.Batch{Events: events(tx2, 1, 10), Checkpoint: position.Checkpoint{File: "bin.000002", Pos: 900}}
	close(in)
	if _, err := p.Run(ctx, in, free); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, path); n != 10 {
		t.Errorf("index holds %d changes, want 10 (each event number of the transaction once)", n)
	}
}

// A transaction ends at commitBytes of changes even when it has fewer than
// --batch-size changes: large rows commit sooner.
func TestDestinationCommitsByBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), idx.FileName)
	s, err := idx.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(s, Options{BatchSize: 1000000})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	wide := &change.Table{Schema: "s", Name: "w", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{{Name: "id", Type: "int"}, {Name: "v", Type: "text"}}}
	text := []byte(strings.Repeat("0123456789abcdef", 1<<10)) // 16 KiB a row
	write := func(from, to int) {
		tx := &change.Tx{GTID: "0-1-" + strconv.Itoa(to), File: "bin.000001", Pos: uint32(100 * to), Timestamp: 1}
		var evs []change.Event
		for i := from; i <= to; i++ {
			evs = append(evs, change.Event{Op: change.OpInsert, Table: wide, Tx: tx, EventNumber: uint64(i - from + 1),
				After: []change.Value{{Kind: change.KindInt, Int: int64(i)}, {Kind: change.KindString, Text: text}}})
		}
		if err := d.Write(context.Background(), evs, position.Checkpoint{File: "bin.000001", Pos: uint32(100*to + 50)}); err != nil {
			t.Fatal(err)
		}
	}
	committed := func() int {
		r, err := idx.OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		n, err := r.Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return int(n)
	}
	write(1, 64) // 1 MiB: below commitBytes
	time.Sleep(200 * time.Millisecond)
	if n := committed(); n != 0 {
		t.Fatalf("%d changes committed after 1 MiB, want none yet", n)
	}
	write(65, 192) // 3 MiB in all
	deadline := time.Now().Add(10 * time.Second)
	for committed() != 192 {
		if time.Now().After(deadline) {
			t.Fatalf("%d changes committed after 3 MiB, want 192", committed())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
