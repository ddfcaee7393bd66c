package snapshot

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/schema"
	_ "github.com/bintap/bintap/internal/sink/stdout" // the default output of config.Load
	"github.com/bintap/bintap/internal/source"
	"github.com/bintap/bintap/internal/testutil"
)

// tableState rebuilds one table from events applied in order.
type tableState struct {
	mu    sync.Mutex
	rows  map[int64]string
	reads int
}

func (c *tableState) Write(_ context.Context, events []change.Event, _ position.Checkpoint) error {
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
func (c *tableState) Flush(context.Context) error { return nil }
func (c *tableState) Close(context.Context) error { return nil }

// syncBuffer is a log destination tests can read while bintap writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness runs a stream with an incremental snapshot observer and a
// destination that rebuilds r.t.
type harness struct {
	inc  *Incremental
	got  *tableState
	logs *syncBuffer
}

func startHarness(t *testing.T, s *testutil.Server, signalTable string) *harness {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load("stream", []string{"--source", s.URL(), "--state-dir", dir, "--snapshot", "never"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	hist, err := schema.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	src, err := source.Open(ctx, source.Options{Conn: cfg.Source, ServerID: cfg.ServerID, Flavor: cfg.Flavor, Filter: cfg.Filter()}, hist, log)
	if err != nil {
		t.Fatal(err)
	}
	start, err := src.Resolve(ctx, config.StartPoint{Kind: config.StartNewest})
	if err != nil {
		t.Fatal(err)
	}
	inc, err := OpenIncremental(Options{Source: cfg.Source, Flavor: "mariadb", Filter: cfg.Filter(), ChunkSize: 300,
		StateDir: dir, Hist: hist, Log: log}, signalTable)
	if err != nil {
		t.Fatal(err)
	}
	src.SetObserver(inc)
	got := &tableState{rows: map[int64]string{}}
	p := &pipeline.Pipeline{Outputs: []pipeline.Output{{Name: "test", Dest: got}}, StateDir: dir,
		Interval: 100 * time.Millisecond, Log: log, Durable: inc.Durable}
	free, batches := pipeline.NewBatches(8), make(chan *pipeline.Batch, 6)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); p.Run(ctx, batches, free) }()
	go func() { defer wg.Done(); inc.Run(ctx) }()
	go func() { defer wg.Done(); src.Run(ctx, start, batches, free) }()
	t.Cleanup(func() { cancel(); wg.Wait(); src.Close() })
	return &harness{inc: inc, got: got, logs: logs}
}

func (h *harness) waitLog(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(h.logs.String(), what) {
		if time.Now().After(deadline) {
			logs := h.logs.String()
			t.Fatalf("never logged %q; logs:\n%s", what, logs[max(0, len(logs)-4000):])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSame waits until the rebuilt r.t equals the server's.
func (h *harness) waitSame(t *testing.T, s *testutil.Server) {
	t.Helper()
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
	deadline := time.Now().Add(2 * time.Minute)
	for {
		h.got.mu.Lock()
		same := len(h.got.rows) == len(want)
		for id, w := range want {
			if h.got.rows[id] != w {
				same = false
			}
		}
		reads := h.got.reads
		h.got.mu.Unlock()
		if same {
			t.Logf("%d rows rebuilt, %d from snapshot reads", len(want), reads)
			return
		}
		if time.Now().After(deadline) {
			h.got.mu.Lock()
			bad := 0
			for id, w := range want {
				if h.got.rows[id] != w && bad < 10 {
					bad++
					t.Errorf("row %d: rebuilt %q, server %q", id, h.got.rows[id], w)
				}
			}
			h.got.mu.Unlock()
			t.Fatalf("rebuilt state (%d rows) differs from the server (%d rows)", len(h.got.rows), len(want))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func loadR(t *testing.T, s *testutil.Server) {
	s.Exec("CREATE DATABASE r", "CREATE TABLE r.t (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(20) NOT NULL)",
		"SET SESSION max_recursive_iterations = 100000; INSERT INTO r.t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 5000) SELECT i, i, 'orig' FROM n")
}

// TestIncrementalRequest: read-only mode (no signal table) triggered through
// the Go API while a workload writes: the state rebuilt from the stream
// equals the server's table.
func TestIncrementalRequest(t *testing.T) {
	s := testutil.NewMariaDB(t)
	loadR(t, s)
	h := startHarness(t, s, "")
	inc := h.inc

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
	err := inc.Request([]string{"r.t", "r.missing", "nodot"})
	if err == nil || !strings.Contains(err.Error(), "r.missing") || !strings.Contains(err.Error(), "nodot") {
		t.Errorf("Request must name the tables it cannot snapshot: %v", err)
	}
	// The request is on disk at once (it is not in the binlog to replay).
	if raw, err := os.ReadFile(filepath.Join(inc.opt.StateDir, IncrementalFileName)); err != nil || !strings.Contains(string(raw), `"r.t"`) {
		t.Errorf("queued request not saved: %v %s", err, raw)
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
	h.waitSame(t, s)
}

// TestIncrementalPauseResumeStop: the pause, resume and stop signals, in
// Debezium's debezium_signal layout.
func TestIncrementalPauseResumeStop(t *testing.T) {
	s := testutil.NewMariaDB(t)
	loadR(t, s)
	s.Exec("CREATE DATABASE dbz", "CREATE TABLE dbz.debezium_signal (id VARCHAR(42) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048) NULL)")
	h := startHarness(t, s, "dbz.debezium_signal")
	h.waitLog(t, "replication starting")
	s.Exec(`INSERT INTO dbz.debezium_signal VALUES ('p1', 'pause-snapshot', NULL)`,
		`INSERT INTO dbz.debezium_signal VALUES ('e1', 'execute-snapshot', '{"data-collections": ["r.t"], "type": "incremental"}')`,
		`INSERT INTO dbz.debezium_signal VALUES ('m1', 'log', '{"message": "marker-1"}')`)
	h.waitLog(t, "marker-1")
	if !h.inc.Paused() {
		t.Fatal("pause-snapshot did not pause")
	}
	for _, st := range h.inc.Status() {
		if st.Rows != 0 {
			t.Fatalf("rows were read while paused: %+v", st)
		}
	}
	s.Exec(`INSERT INTO dbz.debezium_signal VALUES ('r1', 'resume-snapshot', NULL)`)
	h.waitLog(t, "incremental snapshot of a table complete")
	h.waitSame(t, s)
	// stop-snapshot drops a queued table.
	s.Exec(`INSERT INTO dbz.debezium_signal VALUES ('p2', 'pause-snapshot', NULL)`,
		`INSERT INTO dbz.debezium_signal VALUES ('e2', 'execute-snapshot', '{"data-collections": ["r.t"]}')`,
		`INSERT INTO dbz.debezium_signal VALUES ('s2', 'stop-snapshot', '{"data-collections": ["r.t"]}')`,
		`INSERT INTO dbz.debezium_signal VALUES ('m2', 'log', '{"message": "marker-2"}')`)
	h.waitLog(t, "marker-2")
	h.inc.mu.Lock()
	queued := len(h.inc.state.Tables)
	h.inc.mu.Unlock()
	if queued != 0 {
		t.Errorf("stop-snapshot left %d tables queued", queued)
	}
}
