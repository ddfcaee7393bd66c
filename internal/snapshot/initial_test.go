package snapshot

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/schema"
	_ "github.com/bintap/bintap/internal/sink/stdout" // the default output of config.Load
	"github.com/bintap/bintap/internal/testutil"
)

// TestInitialLockedViews takes the snapshot the way MySQL needs it (and
// MariaDB with parallel connections on a busy server): views started under
// a brief FLUSH TABLES WITH READ LOCK. Every row arrives once and the
// snapshot ends at the binlog end as it was (nothing was written meanwhile).
func TestInitialLockedViews(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE l", "CREATE TABLE l.a (id INT PRIMARY KEY, v VARCHAR(10))", "CREATE TABLE l.b (k VARCHAR(10) PRIMARY KEY)",
		"SET SESSION max_recursive_iterations = 100000; INSERT INTO l.a WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 3000) SELECT i, 'x' FROM n",
		"INSERT INTO l.b VALUES ('p'), ('q')")
	var file string
	var pos uint32
	var x, y any
	if err := s.DB.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x, &y); err != nil {
		t.Fatal(err)
	}
	for _, flavor := range []string{"mariadb", "mysql"} {
		t.Run(flavor, func(t *testing.T) {
			dir := t.TempDir()
			cfg, err := config.Load("stream", []string{"--source", s.URL(), "--schemas", "l"}, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			logs := &syncBuffer{}
			log := slog.New(slog.NewTextHandler(logs, nil))
			hist, err := schema.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := Begin(context.Background(), Options{Source: cfg.Source, Flavor: flavor, Filter: cfg.Filter(), ChunkSize: 500,
				Parallelism: 2, StateDir: dir, Hist: hist, Log: log, lockFreeAttempts: -1})
			if err != nil {
				t.Fatal(err)
			}
			if st := snap.Start(); st.File != file || st.Pos != pos {
				t.Errorf("snapshot position %s:%d, want the binlog end %s:%d", st.File, st.Pos, file, pos)
			}
			if !strings.Contains(logs.String(), "FLUSH TABLES WITH READ LOCK") || !strings.Contains(logs.String(), "connections=2") {
				t.Errorf("the lock is not logged:\n%s", logs.String())
			}
			counts := runInitial(t, snap, dir, log)
			if counts.n["a"] != 3000 || counts.n["b"] != 2 || counts.dups != 0 {
				t.Errorf("rows per table %v, repeated %d", counts.n, counts.dups)
			}
			st, err := LoadState(dir)
			if err != nil || st == nil || !st.Complete {
				t.Errorf("snapshot state not complete: %+v %v", st, err)
			}
		})
	}
}

// countingDest counts snapshot rows per table and repeated keys.
type countingDest struct {
	n    map[string]int
	seen map[string]bool
	dups int
}

func (c *countingDest) Write(_ context.Context, events []change.Event, _ position.Checkpoint) error {
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	for _, ev := range events {
		if ev.Op != change.OpRead {
			continue
		}
		k := ev.Table.Name
		for _, v := range ev.After[:min(2, len(ev.After))] {
			k += "/" + string(v.Text) + "/" + strconv.FormatInt(v.Int, 10) + "/" + strconv.FormatUint(v.Uint, 10)
		}
		if c.seen[k] {
			c.dups++
		}
		c.seen[k] = true
		c.n[ev.Table.Name]++
	}
	return nil
}
func (c *countingDest) Flush(context.Context) error { return nil }
func (c *countingDest) Close(context.Context) error { return nil }

// TestInitialKeyRanges: with two connections, tables are read in two key
// ranges: integer keys split on their value, composite keys led by an
// integer on that column, other keys (a string in a case-insensitive
// collation, a composite key led by a DATETIME) at a sampled key; keys at
// the ends of their types, negative and skewed keys each arrive exactly
// once, a key too narrow to split is read whole, and an integer key is split
// even when the statistics say the table is empty.
func TestInitialKeyRanges(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE r",
		"CREATE TABLE r.u (id BIGINT UNSIGNED PRIMARY KEY)",
		"CREATE TABLE r.s (id BIGINT PRIMARY KEY)",
		"CREATE TABLE r.tiny (id TINYINT PRIMARY KEY, pad INT)",
		"SET SESSION max_recursive_iterations = 100000; INSERT INTO r.u WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < 98) SELECT i FROM n",
		"INSERT INTO r.u VALUES (18446744073709551615), (9223372036854775808)",
		"SET SESSION max_recursive_iterations = 100000; INSERT INTO r.s WITH RECURSIVE n(i) AS (SELECT -50 UNION ALL SELECT i+1 FROM n WHERE i < 47) SELECT i FROM n",
		"INSERT INTO r.s VALUES (-9223372036854775808), (9223372036854775807)",
		"INSERT INTO r.tiny VALUES (1, 0), (2, 0)",
		"CREATE TABLE r.c (a INT, b VARCHAR(10), PRIMARY KEY (a, b))",
		"SET SESSION max_recursive_iterations = 100000; INSERT INTO r.c WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < 99) SELECT i DIV 10, CONCAT('x', i MOD 10) FROM n",
		"CREATE TABLE r.v (k VARCHAR(20) PRIMARY KEY) COLLATE utf8mb4_general_ci",
		"SET SESSION max_recursive_iterations = 100000; INSERT INTO r.v WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < 99) SELECT IF(i MOD 2, CONCAT('K', i), CONCAT('k', i, 'é')) FROM n",
		"CREATE TABLE r.d (d DATETIME(3), n INT, PRIMARY KEY (d, n))",
		"SET SESSION max_recursive_iterations = 100000; INSERT INTO r.d WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM n WHERE i < 99) SELECT '2024-01-01 00:00:00' + INTERVAL (i DIV 3) SECOND, i MOD 3 FROM n",
		"ANALYZE TABLE r.u, r.s, r.tiny, r.c, r.v, r.d",
		// Statistics that say the table is empty, as after a bulk load and
		// a restart before they were recomputed.
		"CREATE TABLE r.stale (id INT PRIMARY KEY) STATS_PERSISTENT=1 STATS_AUTO_RECALC=0",
		"SET SESSION max_recursive_iterations = 100000; INSERT INTO r.stale WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 100) SELECT i FROM n",
		"UPDATE mysql.innodb_table_stats SET n_rows = 0 WHERE database_name = 'r' AND table_name = 'stale'")
	s.Stop()
	s.RestartServer() // the statistics are read from mysql.innodb_table_stats again
	var est int64
	s.DB.QueryRow("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'r' AND TABLE_NAME = 'stale'").Scan(&est)
	if est >= 20 {
		t.Fatalf("r.stale: estimate %d rows, want one below two chunks (stale)", est)
	}
	dir := t.TempDir()
	cfg, err := config.Load("stream", []string{"--source", s.URL(), "--schemas", "r"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	hist, err := schema.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Begin(context.Background(), Options{Source: cfg.Source, Flavor: "mariadb", Filter: cfg.Filter(), ChunkSize: 10,
		Parallelism: 2, StateDir: dir, Hist: hist, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	counts := runInitial(t, snap, dir, log)
	if counts.n["u"] != 101 || counts.n["s"] != 100 || counts.n["tiny"] != 2 || counts.n["c"] != 100 ||
		counts.n["v"] != 100 || counts.n["d"] != 100 || counts.n["stale"] != 100 || counts.dups != 0 {
		t.Errorf("rows per table %v, repeated %d; want u 101, s 100, tiny 2, c, v, d and stale 100", counts.n, counts.dups)
	}
	st, err := LoadState(dir)
	if err != nil || st == nil || !st.Complete {
		t.Fatalf("snapshot state not complete: %+v %v", st, err)
	}
	for _, ts := range st.Tables {
		want := 2
		if ts.Name == "r.tiny" {
			want = 0 // two rows: below two chunks
		}
		if len(ts.Ranges) != want || !ts.Done {
			t.Errorf("%s: %d ranges (want %d), done %v", ts.Name, len(ts.Ranges), want, ts.Done)
		}
		var rows int64
		for _, r := range ts.Ranges {
			rows += r.Rows
			if !r.Done {
				t.Errorf("%s: range %+v not done", ts.Name, r)
			}
		}
		if want > 0 && rows != ts.Rows {
			t.Errorf("%s: ranges hold %d rows, the table %d", ts.Name, rows, ts.Rows)
		}
	}
	// The ranges split the key domain at its middle.
	if r := st.table("r.s").Ranges; r[0].Upto != "-1" || r[1].After != "-1" || r[0].After != "" || r[1].Upto != "" {
		t.Errorf("ranges of r.s: %+v %+v; want (, -1] and (-1, )", r[0], r[1])
	}
	// A composite key led by an integer: on that column; others at the
	// key of the middle row (the estimate is close to 100 after ANALYZE).
	if r := st.table("r.c").Ranges; r[0].Upto != "4" || r[1].After != "4" || r[0].UptoKey != nil {
		t.Errorf("ranges of r.c: %+v %+v; want (, 4] and (4, ) on a", r[0], r[1])
	}
	for _, name := range []string{"r.v", "r.d"} {
		r := st.table(name).Ranges
		if r[0].UptoKey == nil || !slices.Equal(r[0].UptoKey, r[1].AfterKey) || r[0].AfterKey != nil || r[1].UptoKey != nil ||
			r[0].Rows < 20 || r[1].Rows < 20 {
			t.Errorf("ranges of %s: %+v %+v; want two of similar size split at a sampled key", name, r[0], r[1])
		}
	}
}

// runInitial runs an initial snapshot through a pipeline into a counting
// destination.
func runInitial(t *testing.T, snap *Initial, dir string, log *slog.Logger) *countingDest {
	t.Helper()
	counts := &countingDest{n: map[string]int{}}
	p := &pipeline.Pipeline{Outputs: []pipeline.Output{{Name: "count", Dest: counts}}, StateDir: dir, Interval: 1e9, Log: log, Durable: snap.Durable}
	free, batches := pipeline.NewBatches(4), make(chan *pipeline.Batch, 2)
	done := make(chan error, 1)
	go func() { _, err := p.Run(context.Background(), batches, free); done <- err }()
	err := snap.Run(context.Background(), batches, free)
	close(batches)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return counts
}

// slowDest holds the first batch longer than the source timeout.
type slowDest struct {
	countingDest
	slept bool
}

func (d *slowDest) Write(ctx context.Context, events []change.Event, cp position.Checkpoint) error {
	if !d.slept {
		d.slept = true
		time.Sleep(1500 * time.Millisecond)
	}
	return d.countingDest.Write(ctx, events, cp)
}

// TestInitialBackPressureOutlivesConnectTimeout: the source timeout bounds
// connecting only; a view connection that waits longer than that while the
// outputs apply back-pressure keeps reading afterwards.
func TestInitialBackPressureOutlivesConnectTimeout(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE bp", "CREATE TABLE bp.t (id INT PRIMARY KEY, pad VARCHAR(200))",
		"SET SESSION max_recursive_iterations = 100000; INSERT INTO bp.t WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 60000) SELECT i, REPEAT('x', 200) FROM n")
	dir := t.TempDir()
	cfg, err := config.Load("stream", []string{"--source", s.URL(), "--schemas", "bp", "--source-timeout", "1s"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&syncBuffer{}, nil))
	hist, err := schema.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Begin(context.Background(), Options{Source: cfg.Source, Flavor: "mariadb", Filter: cfg.Filter(), ChunkSize: 1000,
		Parallelism: 1, StateDir: dir, Hist: hist, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	dest := &slowDest{countingDest: countingDest{n: map[string]int{}}}
	p := &pipeline.Pipeline{Outputs: []pipeline.Output{{Name: "slow", Dest: dest}}, StateDir: dir, Interval: time.Second, Log: log, Durable: snap.Durable}
	free, batches := pipeline.NewBatches(2), make(chan *pipeline.Batch)
	done := make(chan error, 1)
	go func() { _, err := p.Run(context.Background(), batches, free); done <- err }()
	err = snap.Run(context.Background(), batches, free)
	close(batches)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if dest.n["t"] != 60000 || dest.dups != 0 {
		t.Errorf("rows %v, repeated %d; want 60000", dest.n, dest.dups)
	}
}
