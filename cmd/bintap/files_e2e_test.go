package main

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/sink/files"
	"github.com/bintap/bintap/internal/testutil"
)

// TestFilesKill9ExactlyOnceAndReproducible: a workload spanning many
// 1-second windows, with a column added in the middle, streams into a
// files output while bintap is killed twice at random moments. Afterwards
// the closed files hold every change once (replaying them gives the source
// table), no file of an open window is visible, and a second run over the
// same binlog into an empty directory writes byte-identical files.
func TestFilesKill9ExactlyOnceAndReproducible(t *testing.T) {
	for _, tc := range []struct {
		format   string
		snapshot bool // an initial snapshot first (else the binlog from its start)
	}{{"jsonl", false}, {"csv", false}, {"parquet", false}, {"jsonl", true}} {
		format := tc.format
		t.Run(fmt.Sprintf("%s/snapshot=%v", format, tc.snapshot), func(t *testing.T) {
			src := testutil.NewMariaDB(t)
			src.Exec("CREATE DATABASE w",
				"CREATE TABLE w.t (id INT PRIMARY KEY, u BIGINT UNSIGNED, d DECIMAL(12,3), s VARCHAR(40), dt DATETIME(6), b VARBINARY(8))",
				"CREATE TABLE w.pair (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))",
				"CREATE TABLE w.fence (id INT PRIMARY KEY)")
			start := []string{"--start", "oldest"}
			if tc.snapshot {
				start = nil
				var vals []string
				for i := 1; i <= 3000; i++ {
					vals = append(vals, fmt.Sprintf(`(%d, %d, %d.125, 'snap, "%d"', '2024-02-29 10:00:00.%06d', UNHEX('00ff%02x'))`, i, uint64(1)<<63+uint64(i), i, i, i, i%256))
				}
				src.Exec("INSERT INTO w.t VALUES " + strings.Join(vals, ","))
			}
			dir := filepath.Join(t.TempDir(), "zone")
			args := append([]string{"--source", src.URL(), "--state-dir", t.TempDir(), "--output", "files://" + dir, "--schemas", "w",
				"--file-window", "1s", "--file-format", format, "--checkpoint-interval", "300ms"}, start...)
			var errOut testutil.SyncBuffer
			stopWork, workDone := make(chan struct{}), make(chan error, 1)
			go func() { workDone <- targetWorkload(src, stopWork) }()
			cmd := startBintap(t, &errOut, args...)
			for round := 0; round < 2; round++ {
				time.Sleep(time.Duration(800+rand.Intn(1200)) * time.Millisecond)
				cmd.Process.Kill()
				cmd.Wait()
				if round == 0 {
					src.Exec("ALTER TABLE w.t ADD COLUMN n INT NULL")
				}
				cmd = startBintap(t, &errOut, args...)
			}
			time.Sleep(time.Second)
			close(stopWork)
			if err := <-workDone; err != nil {
				t.Fatal(err)
			}
			// A change two windows later closes every window of the workload.
			time.Sleep(2100 * time.Millisecond)
			src.Exec("INSERT INTO w.fence VALUES (1)")
			want := queryStrings(t, src.DB, "SELECT "+sourceRow+" FROM w.t ORDER BY id")
			var got []string
			var dups []string
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
				got, dups = replayFiles(t, dir, "w", "t")
				if strings.Join(got, "\n") == strings.Join(want, "\n") {
					break
				}
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("the files replayed differ from the source:\n%s\nbintap said:\n%s", firstDiff(want, got), errOut.String())
			}
			if len(dups) > 0 {
				t.Fatalf("changes in the files twice: %v", dups)
			}
			if format == "parquet" {
				duckdbReadsParquet(t, dir, want)
			}
			// The stream is idle now: the fence's window closes on the clock.
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				if fence, _ := replayFiles(t, dir, "w", "fence"); len(fence) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the idle stream did not close the last window:\n%s", errOut.String())
				}
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("bintap exited with %v:\n%s", err, errOut.String())
			}
			checkNoPartialFiles(t, dir)
			if tc.snapshot {
				return // the snapshot's rows carry the time it ran: another run puts them in another window
			}

			// The same binlog again, into an empty directory, in one go.
			again := filepath.Join(t.TempDir(), "zone")
			mustRun(t, "stream", "--source", src.URL(), "--state-dir", t.TempDir(), "--output", "files://"+again, "--schemas", "w",
				"--start", "oldest", "--file-window", "1s", "--file-format", format, "--stop-at-end")
			// The fence's window closed on the clock in the first run, at the
			// end of the second.
			noFence := func(fs []string) []string {
				return slices.DeleteFunc(fs, func(f string) bool { return strings.HasPrefix(f, "w/fence/") })
			}
			a, b := noFence(manifestFiles(t, dir)), noFence(manifestFiles(t, again))
			t.Logf("%d files closed, %d rows in w.t", len(a), len(want))
			if len(a) < 3 || strings.Join(a, "\n") != strings.Join(b, "\n") {
				t.Fatalf("the two runs closed different files:\n%s\n---\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
			for _, f := range a {
				x, _ := os.ReadFile(filepath.Join(dir, f))
				y, _ := os.ReadFile(filepath.Join(again, f))
				if !bytes.Equal(x, y) {
					t.Fatalf("%s differs between the runs", f)
				}
			}
			ma, _ := os.ReadFile(filepath.Join(dir, files.ManifestName))
			mb, _ := os.ReadFile(filepath.Join(again, files.ManifestName))
			for _, m := range []*[]byte{&ma, &mb} {
				if i := bytes.Index(*m, []byte(`{"file":"w/fence/`)); i >= 0 {
					*m = (*m)[:i] // the fence's line is the last
				}
			}
			if !bytes.Equal(ma, mb) {
				t.Fatalf("the manifests differ")
			}
		})
	}
}

// replayFiles applies the closed files of one table in manifest order and
// returns its rows as sourceRow prints them, and every change seen twice.
func replayFiles(t *testing.T, dir, db, table string) (rows, dups []string) {
	t.Helper()
	es, err := files.ReadManifest(dir)
	if err != nil {
		return nil, nil // no window closed yet
	}
	state := map[int64]string{}
	seen := map[string]bool{}
	for _, e := range es {
		if e.Database != db || e.Table != table {
			continue
		}
		cols := e.Definition.Columns
		err := files.Read(dir, e, func(r *files.Record) error {
			k := fmt.Sprintf("%d/%d", r.Order, r.Event)
			if seen[k] {
				dups = append(dups, k)
			}
			seen[k] = true
			id := r.Row[0].Int
			if r.Deleted {
				delete(state, id)
				return nil
			}
			state[id] = sourceText(cols, r.Row)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := make([]int64, 0, len(state))
	for id := range state {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		rows = append(rows, state[id])
	}
	return rows, dups
}

// sourceText prints a row of w.t as sourceRow does on the source: the
// values joined by '|', NULLs left out, the binary in hex, n as 'null'.
func sourceText(cols []change.Column, row []change.Value) string {
	var parts []string
	n := "null"
	for i, c := range cols {
		v := &row[i]
		if c.Name == "n" {
			if !v.IsNull() {
				n = strconv.FormatInt(v.Int, 10)
			}
			continue
		}
		switch v.Kind {
		case change.KindNull:
		case change.KindInt:
			parts = append(parts, strconv.FormatInt(v.Int, 10))
		case change.KindUint:
			parts = append(parts, strconv.FormatUint(v.Uint, 10))
		case change.KindBytes:
			parts = append(parts, hex.EncodeToString(v.Text))
		default:
			parts = append(parts, string(v.Text))
		}
	}
	return strings.Join(append(parts, n), "|")
}

// manifestFiles lists the files the manifest records.
func manifestFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := files.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.File)
	}
	return out
}

// checkNoPartialFiles checks that every data file under dir is listed in
// the manifest: the open windows' files stay in _open.
func checkNoPartialFiles(t *testing.T, dir string) {
	t.Helper()
	listed := map[string]bool{}
	for _, f := range manifestFiles(t, dir) {
		listed[f] = true
	}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, "_") && !listed[rel] {
			t.Errorf("%s is visible but not in the manifest", rel)
		}
		return nil
	})
}

// duckdbReadsParquet reads the closed Parquet files of w.t with DuckDB and
// checks that the newest change of each key gives the source rows.
func duckdbReadsParquet(t *testing.T, dir string, want []string) {
	t.Helper()
	var list []string
	for _, f := range manifestFiles(t, dir) {
		if strings.HasPrefix(f, "w/t/") {
			list = append(list, "'"+filepath.Join(dir, f)+"'")
		}
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := queryStrings(t, db, `SELECT concat_ws('|', id, u, d, s, strftime(dt, '%Y-%m-%d %H:%M:%S.%f'), lower(hex(b)), coalesce(CAST(n AS VARCHAR), 'null'))
		FROM (SELECT *, row_number() OVER (PARTITION BY id ORDER BY __transaction_order DESC, __event_number DESC) AS rn
		      FROM read_parquet([`+strings.Join(list, ",")+`], union_by_name = true))
		WHERE rn = 1 AND NOT __deleted ORDER BY id`)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("DuckDB reads the Parquet files differently from the source:\n%s", firstDiff(want, got))
	}
}

// TestFilesStopAtEndAlreadyAtTheEnd: a --stop-at-end run that starts at
// the binlog's end (nothing new: a scheduled run after the last one) still
// closes the windows whose time has passed. It did not: no batch said the
// stream was caught up, and a load after it missed the last window.
func TestFilesStopAtEndAlreadyAtTheEnd(t *testing.T) {
	src := testutil.NewMariaDB(t)
	src.Exec("CREATE DATABASE w", "CREATE TABLE w.t (id INT PRIMARY KEY)", "INSERT INTO w.t VALUES (1),(2),(3)")
	dir, state := t.TempDir(), t.TempDir()
	run := func() {
		mustRun(t, "stream", "--source", src.URL(), "--state-dir", state, "--output", "files://"+dir, "--schemas", "w",
			"--start", "oldest", "--snapshot", "never", "--file-window", "2s", "--stop-at-end")
	}
	open := func() int {
		es, _ := os.ReadDir(filepath.Join(dir, "_open"))
		return len(es)
	}
	for try := 0; ; try++ {
		run()
		if open() > 0 {
			break // the window is still open, as wanted
		}
		if try == 3 {
			t.Fatal("every run closed its window at once: the machine is too slow for a 2 s window")
		}
		src.Exec(fmt.Sprintf("INSERT INTO w.t VALUES (%d)", 10+try))
	}
	time.Sleep(4500 * time.Millisecond) // past the window's end and its grace (2 s)
	run()                               // starts at the end: no event
	if n := open(); n > 0 {
		t.Fatalf("%d files still open after a --stop-at-end run past their window", n)
	}
	if fs := manifestFiles(t, dir); len(fs) == 0 {
		t.Fatal("no file closed")
	}
}
