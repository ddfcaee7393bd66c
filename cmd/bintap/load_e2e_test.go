package main

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/sink/files"
	"github.com/bintap/bintap/internal/testutil"
)

// streamToFiles streams a MariaDB workload into a files output of
// one-second windows: an initial snapshot, then changes over several
// windows with an added column in the middle, then a row of w.tick in a
// later window so that every window of w.t and w.pair is closed. It returns
// the source and the directory. format is --file-format.
func streamToFiles(t *testing.T, format string) (*testutil.Server, string) {
	src := testutil.NewMariaDB(t)
	src.Exec("CREATE DATABASE w",
		"CREATE TABLE w.t (id INT PRIMARY KEY, u BIGINT UNSIGNED, d DECIMAL(12,3), s VARCHAR(40), dt DATETIME(6), b VARBINARY(8))",
		"CREATE TABLE w.pair (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))",
		"CREATE TABLE w.tick (id INT PRIMARY KEY)")
	for i := 1; i <= 100; i++ {
		src.Exec(fmt.Sprintf("INSERT INTO w.t VALUES (%d, %d, %d.125, 'snap ✓ %d', '2024-02-29 10:00:00.%06d', UNHEX('00ff%02x'))", i, uint64(1)<<63+uint64(i), i, i, i, i%256))
	}
	dir := t.TempDir()
	state := t.TempDir()
	stream := func() {
		t.Helper()
		out, errOut, code := bintapCmd(t, "stream", "--source", src.URL(), "--state-dir", state, "--stop-at-end", "--schemas", "w",
			"--output", "files://"+dir, "--file-window", "1s", "--file-format", format)
		if code != 0 {
			t.Fatalf("bintap stream: exit %d\n%s%s", code, out, errOut)
		}
	}
	stream() // the initial snapshot
	work := func(d time.Duration) {
		stop := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- targetWorkload(src, stop) }()
		time.Sleep(d)
		close(stop)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	work(2500 * time.Millisecond)
	src.Exec("ALTER TABLE w.t ADD COLUMN n INT NULL")
	work(1500 * time.Millisecond)
	src.Exec("UPDATE w.t SET n = id WHERE id % 3 = 0")
	time.Sleep(1100 * time.Millisecond)
	src.Exec("INSERT INTO w.tick VALUES (1)") // a later window: the others close
	stream()
	return src, dir
}

// manifestRows counts the rows of the closed files of one table, and the
// distinct window starts.
func manifestRows(t *testing.T, dir, table string) (rows int64, windows []time.Time) {
	t.Helper()
	es, err := files.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Database+"."+e.Table == table {
			rows += e.Rows
		}
		if len(windows) == 0 || !windows[len(windows)-1].Equal(e.WindowStart) {
			windows = append(windows, e.WindowStart)
		}
	}
	return rows, windows
}

func count(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestLoadIntoPostgres: the closed files of a stream are loaded into an
// empty PostgreSQL: the mirror equals the source and each _log holds every
// change once; a second load loads nothing; a load killed (kill -9) twice
// in the middle and run again applies nothing twice; a load --since an
// older window merges the mirror again and writes no _log row twice.
func TestLoadIntoPostgres(t *testing.T) {
	src, dir := streamToFiles(t, "jsonl")
	tRows, windows := manifestRows(t, dir, "w.t")
	pairRows, _ := manifestRows(t, dir, "w.pair")
	t.Logf("the stream closed %d windows: %d rows of w.t, %d of w.pair", len(windows), tRows, pairRows)
	if len(windows) < 4 || tRows < 200 || pairRows == 0 {
		t.Fatalf("the stream closed %d windows with %d rows of w.t and %d of w.pair; the test wants several windows", len(windows), tRows, pairRows)
	}
	tgt := postgresTarget(t)
	load := func(extra ...string) (string, string) {
		t.Helper()
		out, errOut, code := bintapCmd(t, append([]string{"load", "--from", dir, "--to", tgt.url, "--target-log-tables", "--batch-size", "100"}, extra...)...)
		if code != 0 {
			t.Fatalf("bintap load %v: exit %d\n%s%s", extra, code, out, errOut)
		}
		return out, errOut
	}
	exact := func(when string) {
		t.Helper()
		waitTargetEquals(t, src, tgt, &testutil.SyncBuffer{})
		checkLogReplays(t, tgt, "w.t_log", "id")
		if n := count(t, tgt.db, "SELECT count(*) FROM w.t_log"); n != tRows {
			t.Errorf("%s: w.t_log holds %d rows, the files %d", when, n, tRows)
		}
		if n := count(t, tgt.db, "SELECT count(*) FROM w.pair_log"); n != pairRows {
			t.Errorf("%s: w.pair_log holds %d rows, the files %d", when, n, pairRows)
		}
		if n := count(t, tgt.db, "SELECT count(*) FROM bintap.loads WHERE loaded_rows <> file_rows"); n != 0 {
			t.Errorf("%s: %d tables with a file loaded in part", when, n)
		}
	}
	out, errOut := load()
	if !strings.Contains(out, fmt.Sprintf("%d rows into", tRows+pairRows)) || !strings.Contains(errOut, "file loaded") {
		t.Errorf("first load said:\n%s%s", out, errOut)
	}
	exact("first load")
	if n := count(t, tgt.db, "SELECT count(*) FROM w.t_log WHERE __op = 'r'"); n != 100 {
		t.Errorf("%d snapshot rows in the log, want 100", n)
	}
	if s := queryStrings(t, tgt.db, "SELECT DISTINCT status FROM bintap.tables"); strings.Join(s, ",") != "streaming" {
		t.Errorf("table statuses %v, want streaming", s)
	}

	out, _ = load()
	if !strings.Contains(out, "nothing new to load") {
		t.Errorf("second load said: %s", out)
	}
	exact("second load")

	// --since the third window: merged again, no _log row twice.
	out, _ = load("--since", windows[2].Format(time.RFC3339))
	if !strings.Contains(out, "merged again") {
		t.Errorf("load --since said: %s", out)
	}
	exact("load --since")

	// Bad --since values name what is accepted.
	_, errOut, code := bintapCmd(t, "load", "--from", dir, "--to", tgt.url, "--since", windows[0].Add(time.Second/2).Format(time.RFC3339Nano))
	if code != 2 || !strings.Contains(errOut, "accepted is the start of a closed window") || !strings.Contains(errOut, windows[0].Format(time.RFC3339)) {
		t.Errorf("--since between windows: exit %d\n%s", code, errOut)
	}

	// A second target, loaded by a process killed twice in the middle.
	tgt2 := postgresTarget(t)
	loaded := func() int64 { // rows the load committed; -1 before it made its table
		if count(t, tgt2.db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'bintap' AND tablename = 'loads'") == 0 {
			return -1
		}
		return count(t, tgt2.db, "SELECT coalesce(sum(loaded_rows), 0) FROM bintap.loads")
	}
	for kill := 0; kill < 2; kill++ {
		var errBuf testutil.SyncBuffer
		cmd := exec.Command(binary, "load", "--from", dir, "--to", tgt2.url, "--target-log-tables", "--batch-size", "7")
		cmd.Stderr = &errBuf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it once it has committed more than before.
		before := max(loaded(), 0)
		for deadline := time.Now().Add(60 * time.Second); loaded() <= before && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		partial := count(t, tgt2.db, "SELECT count(*) FROM bintap.loads WHERE loaded_rows < file_rows")
		t.Logf("kill %d: %d rows in, %d tables in the middle of a file", kill+1, loaded(), partial)
	}
	out, _, code = bintapCmd(t, "load", "--from", dir, "--to", tgt2.url, "--target-log-tables", "--batch-size", "7")
	if code != 0 {
		t.Fatalf("load after the kills: exit %d: %s", code, out)
	}
	waitTargetEquals(t, src, tgt2, &testutil.SyncBuffer{})
	checkLogReplays(t, tgt2, "w.t_log", "id")
	if n := count(t, tgt2.db, "SELECT count(*) FROM w.t_log"); n != tRows {
		t.Errorf("after the kills: w.t_log holds %d rows, the files %d", n, tRows)
	}
	if n := count(t, tgt2.db, "SELECT count(*) FROM w.pair_log"); n != pairRows {
		t.Errorf("after the kills: w.pair_log holds %d rows, the files %d", n, pairRows)
	}

	// --every keeps loading on its schedule until SIGTERM, then exits 0.
	var stdout, stderr testutil.SyncBuffer
	cmd := exec.Command(binary, "load", "--from", dir, "--to", tgt2.url, "--target-log-tables", "--every", "1s")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); strings.Count(stdout.String(), "nothing new to load") < 2 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil || strings.Count(stdout.String(), "nothing new to load") < 2 {
		t.Errorf("load --every 1s: %v\n%s%s", err, stdout.String(), stderr.String())
	}
}

// TestLoadIntoDuckDB: Parquet and CSV files load into a DuckDB file with
// hard deletes; the mirror equals the source.
func TestLoadIntoDuckDB(t *testing.T) {
	for _, format := range []string{"parquet", "csv"} {
		t.Run(format, func(t *testing.T) { loadIntoDuckDB(t, format) })
	}
}

func loadIntoDuckDB(t *testing.T, format string) {
	src, dir := streamToFiles(t, format)
	file := filepath.Join(t.TempDir(), "mirror.duckdb")
	for run := 0; run < 2; run++ {
		out, errOut, code := bintapCmd(t, "load", "--from", dir, "--to", "duckdb://"+file, "--target-deletes", "hard", "--target-log-tables")
		if code != 0 {
			t.Fatalf("bintap load: exit %d\n%s%s", code, out, errOut)
		}
	}
	db, err := sql.Open("duckdb", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := queryStrings(t, db, "SELECT concat_ws('|', id, u, d, s, strftime(dt, '%Y-%m-%d %H:%M:%S.%f'), lower(hex(b)), coalesce(CAST(n AS VARCHAR), 'null')) FROM w.t ORDER BY id")
	want := queryStrings(t, src.DB, "SELECT CONCAT_WS('|', id, u, d, s, DATE_FORMAT(dt, '%Y-%m-%d %H:%i:%s.%f'), LOWER(HEX(b)), IFNULL(n, 'null')) FROM w.t ORDER BY id")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("DuckDB target differs: %s", firstDiff(want, got))
	}
	tRows, _ := manifestRows(t, dir, "w.t")
	if n := count(t, db, "SELECT count(*) FROM w.t_log"); n != tRows {
		t.Errorf("w.t_log holds %d rows, the files %d", n, tRows)
	}
}

// TestLoadRefuses: a directory without a manifest, and bad flags, exit 2
// naming the flag and what is accepted.
func TestLoadRefuses(t *testing.T) {
	empty := t.TempDir()
	withManifest := t.TempDir()
	if err := os.WriteFile(filepath.Join(withManifest, files.ManifestName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--to", "postgres://u:SECRET@h/db"}, "--from is required"},
		{[]string{"--from", empty, "--to", "postgres://u:SECRET@h/db"}, "holds no _manifest.jsonl"},
		{[]string{"--from", withManifest}, "--to is required"},
		{[]string{"--from", withManifest, "--to", "kafka://u:SECRET@h/t"}, "accepted are database targets"},
		{[]string{"--from", withManifest, "--to", "postgres://u:SECRET@h/db", "--target-deletes", "soon"}, `invalid --target-deletes "soon": accepted values are soft, hard`},
		{[]string{"--from", withManifest, "--to", "postgres://u:SECRET@h/db", "--every", "fast"}, `invalid --every "fast": accepted is a duration`},
		{[]string{"--from", withManifest, "--to", "postgres://u:SECRET@h/db", "--since", "yesterday"}, `invalid --since "yesterday": accepted is a window start in RFC 3339 UTC`},
		{[]string{"--from", withManifest, "--to", "postgres://u:SECRET@h/db", "--since", "2026-11-27T10:15:00Z"}, "no window has closed yet"},
		{[]string{"--from", withManifest, "--to", "postgres://u:SECRET@h/db", "--batch-size", "lots"}, `invalid --batch-size "lots"`},
	} {
		out, errOut, code := bintapCmd(t, append([]string{"load"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Contains(out+errOut, "SECRET") {
			t.Errorf("load %v: exit %d, want 2 and %q:\n%s%s", tc.args, code, tc.want, out, errOut)
		}
	}
}
