package snapshot

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/schema"
	"github.com/bintap/bintap/internal/source"
	"github.com/bintap/bintap/internal/testutil"
)

// tableState rebuilds one table from events applied in order.
type tableState struct {
	mu    sync.Mutex
	rows  map[int64]string
	reads int
}

func (c *tableState) Write(events []change.Event, _ position.Checkpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range events {
		if ev.Table == nil || ev.Table.Name != "t" {
			continue
		}
		switch ev.Op {
		case change.OpInsert, change.OpUpdate, change.OpRead:
			c.rows[ev.After[0].Int] = fmt.Sprintf("%d|%s", ev.After[1].Int, ev.After[2].Text)
			if ev.Op == change.OpRead {
				c.reads++
			}
		case change.OpDelete:
			delete(c.rows, ev.Before[0].Int)
		}
	}
	return nil
}
func (c *tableState) Flush() error { return nil }
func (c *tableState) Close() error { return nil }

// TestIncrementalRequest: read-only mode (no signal table) triggered through
// the Go API while a workload writes: the state rebuilt from the stream
// equals the server's table.
func TestIncrementalRequest(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE r", "CREATE TABLE r.t (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(20) NOT NULL)",
		"SET SESSION max_recursive_iterations = 100000; INSERT INTO r.t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 5000) SELECT i, i, 'orig' FROM n")
	dir := t.TempDir()
	cfg, err := config.Load("stream", []string{"--source", s.URL(), "--state-dir", dir, "--snapshot", "never"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	hist, err := schema.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := source.Open(ctx, cfg, hist, log)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start, err := src.Resolve(ctx, config.StartPoint{Kind: config.StartNewest})
	if err != nil {
		t.Fatal(err)
	}
	inc, err := OpenIncremental(Options{Source: cfg.Source, Flavor: "mariadb", Filter: cfg.Filter(), ChunkSize: 300,
		StateDir: dir, Hist: hist, Log: log}, "")
	if err != nil {
		t.Fatal(err)
	}
	src.SetObserver(inc)
	got := &tableState{rows: map[int64]string{}}
	p := &pipeline.Pipeline{Outputs: []pipeline.Output{{Name: "test", Dest: got}}, StateDir: dir,
		Interval: 100 * time.Millisecond, Log: log, Durable: inc.Durable}
	free, batches := source.NewBatches(8), make(chan *source.Batch, 6)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); p.Run(batches, free) }()
	go func() { defer wg.Done(); inc.Run(ctx) }()
	go func() { defer wg.Done(); src.Run(ctx, start, batches, free) }()
	defer func() { cancel(); wg.Wait() }()

	stop := make(chan struct{})
	workDone := make(chan struct{})
	go func() { // updates and deletes the whole time
		defer close(workDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := 1 + (i*613)%5000
			q := fmt.Sprintf("UPDATE r.t SET v = v + 1, note = 'u%d' WHERE id = %d", i, id)
			if i%5 == 0 {
				q = fmt.Sprintf("DELETE FROM r.t WHERE id = %d", id)
			}
			if _, err := s.DB.Exec(q); err != nil {
				t.Errorf("workload: %v", err)
				return
			}
		}
	}()
	err = inc.Request([]string{"r.t", "r.missing", "nodot"})
	if err == nil || !strings.Contains(err.Error(), "r.missing") || !strings.Contains(err.Error(), "nodot") {
		t.Errorf("Request must name the tables it cannot snapshot: %v", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := inc.Status()
		if len(st) == 1 && st[0].Done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("incremental snapshot did not finish: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	<-workDone
	want := map[int64]string{}
	rs, err := s.DB.Query("SELECT id, v, note FROM r.t")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id, v int64
		var note string
		rs.Scan(&id, &v, &note)
		want[id] = fmt.Sprintf("%d|%s", v, note)
	}
	rs.Close()
	for {
		got.mu.Lock()
		same := len(got.rows) == len(want)
		for id, w := range want {
			if got.rows[id] != w {
				same = false
			}
		}
		reads := got.reads
		got.mu.Unlock()
		if same {
			t.Logf("%d rows rebuilt, %d from snapshot reads", len(want), reads)
			return
		}
		if time.Now().After(deadline) {
			got.mu.Lock()
			bad := 0
			for id, w := range want {
				if got.rows[id] != w && bad < 10 {
					bad++
					t.Errorf("row %d: rebuilt %q, server %q", id, got.rows[id], w)
				}
			}
			got.mu.Unlock()
			t.Fatalf("rebuilt state (%d rows) differs from the server (%d rows)", len(got.rows), len(want))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
