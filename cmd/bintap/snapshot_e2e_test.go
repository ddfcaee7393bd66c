package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/testutil"
)

// positionFields are the record fields that say where a row comes from, not
// what it holds.
var positionFields = map[string]bool{"domain": true, "server_id": true, "sequence": true, "event_number": true,
	"timestamp": true, "snapshot": true, "gtid": true}

// TestSnapshotEveryTypeMatchesBinlog: the snapshot record of each row equals
// the binlog insert record of the same row, apart from the position fields.
func TestSnapshotEveryTypeMatchesBinlog(t *testing.T) {
	s := testutil.NewMariaDB(t)
	createAllTypes(t, s)
	fromBinlog := map[uint64]record{}
	for _, r := range rows(streamOnce(t, s, t.TempDir(), "--start", "oldest")) {
		if r.str("table_name") == "t" {
			fromBinlog[r.num("id")] = r
		}
	}
	snap := streamOnce(t, s, t.TempDir()) // no checkpoint: --snapshot initial by default
	checkValuesAgainstServer(t, s, snap)
	seen := 0
	for _, r := range rows(snap) {
		if r.str("table_name") != "t" {
			continue
		}
		seen++
		if string(r["snapshot"]) != "true" || r.str("event_type") != "insert" {
			t.Errorf("snapshot record without snapshot:true / event_type insert: %s %s", r["snapshot"], r["event_type"])
		}
		b := fromBinlog[r.num("id")]
		if b == nil {
			t.Fatalf("row id %d not in the binlog output", r.num("id"))
		}
		for k, v := range b {
			if positionFields[k] {
				continue
			}
			if string(r[k]) != string(v) {
				t.Errorf("id %d field %s: snapshot %.200s, binlog %.200s", r.num("id"), k, r[k], v)
			}
		}
		for k := range r {
			if _, ok := b[k]; !ok && !positionFields[k] {
				t.Errorf("id %d: snapshot has field %s the binlog record lacks", r.num("id"), k)
			}
		}
	}
	if seen != len(typeRows) {
		t.Fatalf("snapshot emitted %d rows of types.t, want %d", seen, len(typeRows))
	}
}

// workload writes into w.t until stopped: inserts, updates and deletes of
// random rows, each in its own transaction.
type workload struct {
	stop chan struct{}
	done chan struct{}
	n    atomic.Int64
}

func startWorkload(t *testing.T, s *testutil.Server, table string, maxID int) *workload {
	w := &workload{stop: make(chan struct{}), done: make(chan struct{})}
	db, err := s.Open("")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		defer db.Close()
		next := maxID + 1
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			id := 1 + (i*7919)%next
			var q string
			switch i % 4 {
			case 0:
				q = fmt.Sprintf("INSERT INTO %s (id, v, note) VALUES (%d, %d, 'new')", table, next, i)
				next++
			case 1, 2:
				q = fmt.Sprintf("UPDATE %s SET v = v + 1, note = 'upd %d' WHERE id = %d", table, i, id)
			case 3:
				q = fmt.Sprintf("DELETE FROM %s WHERE id = %d", table, id)
			}
			if _, err := db.Exec(q); err != nil {
				t.Errorf("workload: %v", err)
				return
			}
			w.n.Add(1)
		}
	}()
	return w
}

func (w *workload) finish() int64 {
	close(w.stop)
	<-w.done
	return w.n.Load()
}

// rebuild applies the records in dir's files in order (upsert by id for
// inserts and update_after, delete by id for deletes) to an empty table.
func rebuild(t *testing.T, dir, table string) map[uint64]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	sort.Strings(files)
	state := map[uint64]string{}
	db, tbl, _ := strings.Cut(table, ".")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// A running bintap may have written part of a record (buffered
		// writes): only whole lines count.
		raw = raw[:bytes.LastIndexByte(raw, '\n')+1]
		for _, line := range bytes.Split(raw, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var r record
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("%s: bad line %q: %v", f, line, err)
			}
			if r.isSchema() || r.str("table_schema") != db || r.str("table_name") != tbl {
				continue
			}
			id := r.num("id")
			switch r.str("event_type") {
			case "insert", "update_after":
				state[id] = string(r["v"]) + "|" + r.str("note")
			case "delete":
				delete(state, id)
			}
		}
	}
	return state
}

func serverRows(t *testing.T, s *testutil.Server, table string) map[uint64]string {
	t.Helper()
	rs, err := s.DB.Query("SELECT id, v, note FROM " + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := map[uint64]string{}
	for rs.Next() {
		var id uint64
		var v, note string
		if err := rs.Scan(&id, &v, &note); err != nil {
			t.Fatal(err)
		}
		out[id] = v + "|" + note
	}
	return out
}

func compareState(t *testing.T, got, want map[uint64]string) {
	t.Helper()
	bad := 0
	for id, w := range want {
		if g, ok := got[id]; !ok || g != w {
			if bad++; bad <= 10 {
				t.Errorf("row %d: rebuilt %q, server %q", id, g, w)
			}
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			if bad++; bad <= 10 {
				t.Errorf("row %d: rebuilt %q, not on the server", id, g)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d rows differ (of %d on the server)", bad, len(want))
	}
}

func loadTable(t *testing.T, s *testutil.Server, table string, n int) {
	s.Exec("CREATE DATABASE IF NOT EXISTS w",
		"CREATE TABLE "+table+" (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(40) NOT NULL, pad VARCHAR(200)) DEFAULT CHARSET=utf8mb4",
		fmt.Sprintf("SET SESSION max_recursive_iterations = 10000000; INSERT INTO %s WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < %d) SELECT i, i, 'orig', REPEAT('p', 150) FROM n", table, n))
}

// waitQuiet waits until bintap's output has caught up with the server: the
// rebuilt state equals the server's, polled with a generous deadline.
func waitCaughtUp(t *testing.T, s *testutil.Server, dir, table string, errOut *testutil.SyncBuffer) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got, want := rebuild(t, dir, table), serverRows(t, s, table)
		if len(got) == len(want) {
			same := true
			for id, w := range want {
				if got[id] != w {
					same = false
					break
				}
			}
			if same {
				return
			}
		}
		if time.Now().After(deadline) {
			compareState(t, got, want)
			t.Fatalf("output never caught up; bintap said:\n%s", errOut.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestSnapshotWithWorkload: initial snapshot of a table that a workload
// keeps changing, then the stream; the state rebuilt from the output equals
// the server's table, and no change is delivered twice.
func TestSnapshotWithWorkload(t *testing.T) {
	s := testutil.NewMariaDB(t)
	const table = "w.t"
	loadTable(t, s, table, 50000)
	// Tables the workload leaves alone, for the parallel connections.
	s.Exec("CREATE TABLE w.still (k VARCHAR(20) PRIMARY KEY, n INT)", "CREATE TABLE w.nopk (n INT)",
		"INSERT INTO w.still SELECT CONCAT('key', id), id FROM w.t WHERE id <= 7000",
		"INSERT INTO w.nopk SELECT id FROM w.t WHERE id <= 5000")
	out := t.TempDir()
	w := startWorkload(t, s, table, 50000)
	var errOut testutil.SyncBuffer
	cmd := startBintap(t, &errOut, "--source", s.URL(), "--state-dir", t.TempDir(), "--output", "file://"+out,
		"--snapshot-chunk-size", "3000", "--checkpoint-interval", "200ms", "--snapshot-parallelism", "2")
	time.Sleep(2 * time.Second)
	n := w.finish()
	waitCaughtUp(t, s, out, table, &errOut)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bintap: %v\n%s", err, errOut.String())
	}
	compareState(t, rebuild(t, out, table), serverRows(t, s, table))
	// An uninterrupted snapshot repeats nothing: each snapshot row once,
	// each binlog row image once.
	seen := map[string]bool{}
	var snapRows int
	perTable := map[string]int{}
	files, _ := filepath.Glob(filepath.Join(out, "*.jsonl"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		for _, r := range rows(parseRecords(t, raw)) {
			k := key(r)
			if string(r["snapshot"]) == "true" {
				snapRows++
				perTable[r.str("table_name")]++
				k = fmt.Sprintf("snapshot %s %d %s %d", r.str("table_name"), r.num("id"), r.str("k"), r.num("n"))
			}
			if seen[k] {
				t.Errorf("delivered twice: %s", k)
			}
			seen[k] = true
		}
	}
	if !strings.Contains(errOut.String(), "snapshot complete") {
		t.Errorf("no completion logged:\n%s", errOut.String())
	}
	if perTable["still"] != 7000 || perTable["nopk"] != 5000 {
		t.Errorf("snapshot rows per table: %v; want still 7000, nopk 5000", perTable)
	}
	if !strings.Contains(errOut.String(), "consistent snapshot") {
		t.Errorf("how the views were aligned is not logged:\n%s", errOut.String())
	}
	for _, line := range strings.Split(errOut.String(), "\n") {
		if strings.Contains(line, "consistent snapshot") {
			t.Log(line)
		}
	}
	t.Logf("%d snapshot rows, %d workload statements during the run", snapRows, n)
}

// TestSnapshotInitialOnly: initial_only copies and exits with a checkpoint;
// the next stream continues from the snapshot position without a new copy.
func TestSnapshotInitialOnly(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE io", "CREATE TABLE io.t (id INT PRIMARY KEY)", "INSERT INTO io.t VALUES (1), (2)")
	state := t.TempDir()
	first := rows(streamOnce(t, s, state, "--snapshot", "initial_only"))
	if len(first) != 2 || string(first[0]["snapshot"]) != "true" {
		t.Fatalf("initial_only: %v", first)
	}
	s.Exec("INSERT INTO io.t VALUES (3)")
	next := rows(streamOnce(t, s, state))
	if len(next) != 1 || next[0].num("id") != 3 || next[0]["snapshot"] != nil {
		t.Fatalf("after initial_only: %v (want only the new insert)", next)
	}
}

// TestSnapshotKillResume: kill -9 during the snapshot, restart: the snapshot
// resumes from its last durable chunk and nothing is lost.
//
// BINTAP_SNAPSHOT_TEST_ROWS sets the table size (default 200000) for a
// run at a larger scale.
func TestSnapshotKillResume(t *testing.T) { snapshotKillResume(t, 1) }

// TestSnapshotKillResumeRanges: the same with --snapshot-parallelism 2,
// where the table is read in two key ranges at once, each with its own
// durable progress.
func TestSnapshotKillResumeRanges(t *testing.T) { snapshotKillResume(t, 2) }

func snapshotKillResume(t *testing.T, parallelism int) {
	s := testutil.NewMariaDB(t, "--innodb-buffer-pool-size=512M")
	const table = "w.t"
	// Enough rows, in small chunks, that the snapshot (about 1.5 M rows/s
	// on a quiet machine) is still running after the first checkpoints.
	n := 600000
	if v, err := strconv.Atoi(os.Getenv("BINTAP_SNAPSHOT_TEST_ROWS")); err == nil && v > 0 {
		n = v
	}
	loadTable(t, s, table, n)
	out, state := t.TempDir(), t.TempDir()
	w := startWorkload(t, s, table, n)
	var errOut testutil.SyncBuffer
	args := []string{"--source", s.URL(), "--state-dir", state, "--output", "file://" + out,
		"--snapshot-chunk-size", "500", "--checkpoint-interval", "100ms", "--snapshot-parallelism", strconv.Itoa(parallelism)}
	cmd := startBintap(t, &errOut, args...)
	// Kill once some chunks are durable but the snapshot is not complete.
	deadline := time.Now().Add(2 * time.Minute)
	var killedAt int64
	for {
		raw, _ := os.ReadFile(filepath.Join(state, "snapshot.json"))
		var st struct {
			Complete bool
			Tables   []struct {
				Rows   int64
				Ranges []struct{ Rows int64 }
			}
		}
		// With ranges: wait until each range has a durable chunk, so the
		// restart resumes every one of them mid-way.
		if json.Unmarshal(raw, &st) == nil && len(st.Tables) > 0 && st.Tables[0].Rows > 0 {
			if st.Complete {
				t.Fatalf("snapshot completed before it could be interrupted")
			}
			ranges := st.Tables[0].Ranges
			if parallelism > 1 && len(ranges) != parallelism {
				t.Fatalf("snapshot progress has %d key ranges, want %d:\n%s", len(ranges), parallelism, raw)
			}
			started := true
			for _, r := range ranges {
				started = started && r.Rows > 0
			}
			if started {
				killedAt = st.Tables[0].Rows
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot progress; bintap said:\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	var errOut2 testutil.SyncBuffer
	cmd = startBintap(t, &errOut2, args...)
	time.Sleep(time.Second)
	w.finish()
	waitCaughtUp(t, s, out, table, &errOut2)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bintap: %v\n%s", err, errOut2.String())
	}
	compareState(t, rebuild(t, out, table), serverRows(t, s, table))
	checkSnapshotNumbers(t, out)
	if !strings.Contains(errOut2.String(), "resuming an interrupted snapshot") {
		t.Errorf("the restart did not resume the snapshot:\n%s", errOut2.String())
	}
	t.Logf("killed with %d rows durable", killedAt)
}

// TestIncrementalSnapshotSignals: a stream that started after the table was
// filled gets the table's rows through an incremental snapshot requested in
// the signal table while a workload writes, with bad signals around it and a
// kill -9 in the middle; the state rebuilt from the output equals the server.
func TestIncrementalSnapshotSignals(t *testing.T) {
	s := testutil.NewMariaDB(t)
	const table = "w.t"
	loadTable(t, s, table, 30000)
	s.Exec("CREATE DATABASE streamkap",
		"CREATE TABLE streamkap.streamkap_signal (id VARCHAR(255) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2000) NULL)")
	out, state := t.TempDir(), t.TempDir()
	args := []string{"--source", s.URL(), "--state-dir", state, "--output", "file://" + out, "--schemas", "w",
		"--snapshot", "never", "--signal-table", "streamkap.streamkap_signal", "--snapshot-chunk-size", "500",
		"--checkpoint-interval", "100ms", "--log-level", "debug"}
	var errOut testutil.SyncBuffer
	cmd := startBintap(t, &errOut, args...)
	waitLog(t, &errOut, "replication starting")
	w := startWorkload(t, s, table, 30000)
	s.Exec(`INSERT INTO streamkap.streamkap_signal VALUES ('bad-json', 'execute-snapshot', '{"data-collections": [')`,
		`INSERT INTO streamkap.streamkap_signal VALUES ('bad-type', 'make-coffee', '{}')`,
		`INSERT INTO streamkap.streamkap_signal VALUES ('bad-table', 'execute-snapshot', '{"data-collections": ["w.nope"], "type": "incremental"}')`,
		`INSERT INTO streamkap.streamkap_signal VALUES ('hello', 'log', '{"message": "hello from the signal table"}')`,
		`INSERT INTO streamkap.streamkap_signal VALUES ('snap-1', 'execute-snapshot', '{"data-collections": ["w.t"], "type": "incremental"}')`)
	waitLog(t, &errOut, "incremental snapshot chunk emitted")
	waitIncrementalDurable(t, state, &errOut) // then crash
	cmd.Process.Kill()
	cmd.Wait()
	for _, want := range []string{"not valid JSON", "unknown type", "no such table", "hello from the signal table"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("no log of %q:\n%s", want, errOut.String())
		}
	}
	logs2 := finishIncremental(t, s, args, out, table, w)
	logs := errOut.String() + logs2
	chunks := strings.Count(logs, "incremental snapshot chunk emitted")
	withDrops := chunks - strings.Count(logs, "dropped_changed=0 ")
	t.Logf("%d chunks emitted, %d of them dropped rows the workload changed during their window", chunks, withDrops)
}

// waitLog waits until bintap has logged what.
func waitLog(t *testing.T, buf *testutil.SyncBuffer, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(buf.String(), what) {
		if time.Now().After(deadline) {
			t.Fatalf("bintap never logged %q:\n%s", what, buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finishIncremental restarts bintap after a crash during an incremental
// snapshot, lets it finish while the workload ends, stops it, and checks
// that the state rebuilt from the output equals the server's table. It
// returns what the restarted bintap logged.
func finishIncremental(t *testing.T, s *testutil.Server, args []string, out, table string, w *workload) string {
	t.Helper()
	var errOut testutil.SyncBuffer
	cmd := startBintap(t, &errOut, args...)
	waitLog(t, &errOut, "incremental snapshot of a table complete")
	w.finish()
	waitCaughtUp(t, s, out, table, &errOut)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bintap: %v\n%s", err, errOut.String())
	}
	compareState(t, rebuild(t, out, table), serverRows(t, s, table))
	return errOut.String()
}

// waitIncrementalDurable waits until a chunk of an incremental snapshot is
// recorded in the state dir.
func waitIncrementalDurable(t *testing.T, state string, errOut *testutil.SyncBuffer) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		raw, _ := os.ReadFile(filepath.Join(state, "incremental-snapshot.json"))
		if bytes.Contains(raw, []byte(`"last_key"`)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no durable incremental progress:\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSnapshotWhenNeeded: a checkpoint whose binlog is purged stops the
// default mode but makes when_needed take a new snapshot and stream on.
func TestSnapshotWhenNeeded(t *testing.T) {
	s := testutil.NewMariaDB(t)
	state := t.TempDir()
	s.Exec("CREATE DATABASE wn", "CREATE TABLE wn.t (id INT PRIMARY KEY)", "INSERT INTO wn.t VALUES (1)")
	if got := rows(streamOnce(t, s, state)); len(got) != 1 || string(got[0]["snapshot"]) != "true" {
		t.Fatalf("first run: %v", got)
	}
	s.Exec("FLUSH BINARY LOGS", "INSERT INTO wn.t VALUES (2)", "FLUSH BINARY LOGS")
	purgeToCurrent(t, s)
	var out, errOut bytes.Buffer
	if code := run([]string{"stream", "--source", s.URL(), "--stop-at-end", "--state-dir", state}, &out, &errOut); code != 1 {
		t.Fatalf("default mode with a purged checkpoint: exit %d, want 1\n%s", code, errOut.String())
	}
	got := rows(streamOnce(t, s, state, "--snapshot", "when_needed"))
	if len(got) != 2 || string(got[0]["snapshot"]) != "true" || string(got[1]["snapshot"]) != "true" {
		t.Fatalf("when_needed after a purge: %v", got)
	}
	s.Exec("INSERT INTO wn.t VALUES (3)")
	if got := rows(streamOnce(t, s, state, "--snapshot", "when_needed")); len(got) != 1 || got[0].num("id") != 3 {
		t.Fatalf("after the new snapshot: %v", got)
	}
}

// checkSnapshotNumbers checks that no two different rows of a snapshot got
// the same event number: a resumed snapshot numbers its rows after those
// numbered before the crash (a row read again may keep its number).
func checkSnapshotNumbers(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	ids := map[uint64]uint64{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(raw[:bytes.LastIndexByte(raw, '\n')+1], []byte("\n")) {
			var r record
			if len(line) == 0 || json.Unmarshal(line, &r) != nil || string(r["snapshot"]) != "true" {
				continue
			}
			n, id := r.num("event_number"), r.num("id")
			if was, ok := ids[n]; ok && was != id {
				t.Fatalf("snapshot rows %d and %d both have event number %d", was, id, n)
			}
			ids[n] = id
		}
	}
	if len(ids) == 0 {
		t.Fatal("no snapshot rows found")
	}
}

// TestSnapshotSourceRestart: the source restarts in the middle of the
// initial snapshot. bintap does not exit: it starts its run again (with
// the same HTTP server, saying it is retrying meanwhile, and without
// doing --reset again), waits for the server, resumes the snapshot from
// its durable progress and then streams; the table rebuilt from the
// output equals the server's.
func TestSnapshotSourceRestart(t *testing.T) {
	s := testutil.NewMariaDB(t, "--innodb-buffer-pool-size=512M")
	const table = "w.t"
	loadTable(t, s, table, 600000)
	out, state := t.TempDir(), t.TempDir()
	var errOut testutil.SyncBuffer
	addr := freePort(t)
	cmd := startBintap(t, &errOut, "--source", s.URL(), "--state-dir", state, "--output", "file://"+out,
		"--snapshot-chunk-size", "500", "--checkpoint-interval", "100ms", "--snapshot-parallelism", "1", "--http", addr,
		"--reset") // done once: the second run resumes what the first did
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The HTTP API stays up through the restart, with the same process
	// start, and says it is retrying while the source is down.
	type status struct {
		State   string    `json:"state"`
		Started time.Time `json:"started"`
	}
	var (
		mu       sync.Mutex
		states   = map[string]bool{}
		starts   = map[time.Time]bool{}
		downs    []string
		answered bool
	)
	stopPolling := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stopPolling:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := http.Get("http://" + addr + "/status")
			mu.Lock()
			if err != nil {
				if answered {
					downs = append(downs, err.Error())
				}
			} else {
				var st status
				if json.NewDecoder(resp.Body).Decode(&st) == nil {
					answered = true
					states[st.State] = true
					starts[st.Started] = true
				}
				resp.Body.Close()
			}
			mu.Unlock()
		}
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		raw, _ := os.ReadFile(filepath.Join(state, "snapshot.json"))
		var st struct {
			Complete bool
			Tables   []struct{ Rows int64 }
		}
		if json.Unmarshal(raw, &st) == nil && len(st.Tables) > 0 && st.Tables[0].Rows > 0 {
			if st.Complete {
				t.Fatalf("snapshot completed before the source could be restarted")
			}
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("bintap exited (%v):\n%s", err, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot progress; bintap said:\n%s", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Kill() // at once: a clean shutdown lets the snapshot finish first
	time.Sleep(2 * time.Second)
	s.RestartServer()
	s.Exec("UPDATE w.t SET v = v + 1, note = 'after' WHERE id <= 100", "DELETE FROM w.t WHERE id BETWEEN 101 AND 110")
	waitCaughtUp(t, s, out, table, &errOut)
	select {
	case err := <-exited:
		t.Fatalf("bintap exited (%v):\n%s", err, errOut.String())
	default:
	}
	close(stopPolling)
	<-polled
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("bintap: %v\n%s", err, errOut.String())
	}
	compareState(t, rebuild(t, out, table), serverRows(t, s, table))
	checkSnapshotNumbers(t, out)
	if len(downs) > 0 {
		t.Errorf("the HTTP API did not answer %d times during the restart, first: %s", len(downs), downs[0])
	}
	if !states["retrying"] || !states["streaming"] || len(starts) != 1 {
		t.Errorf("states seen %v and process starts %v; want retrying and streaming, one start", states, starts)
	}
	for _, want := range []string{"initial snapshot interrupted; starting again to resume it", "resuming an interrupted snapshot"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("bintap did not say %q:\n%s", want, errOut.String())
		}
	}
}

// TestNoPreparedStatements: a server that allows no prepared statements
// (max_prepared_stmt_count=0, as some hosted servers and proxies) is
// snapshotted and streamed all the same: metadata queries interpolate their
// arguments, and the snapshot's view connections read with the text
// protocol when the server refuses to prepare.
func TestNoPreparedStatements(t *testing.T) {
	s := testutil.NewMariaDB(t, "--max-prepared-stmt-count=0")
	const table = "w.t"
	loadTable(t, s, table, 3000)
	out, state := t.TempDir(), t.TempDir()
	var errOut testutil.SyncBuffer
	cmd := startBintap(t, &errOut, "--source", s.URL(), "--state-dir", state, "--output", "file://"+out,
		"--snapshot-chunk-size", "500", "--checkpoint-interval", "100ms")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.Exec("UPDATE w.t SET v = v + 1, note = 'after' WHERE id <= 100", "DELETE FROM w.t WHERE id BETWEEN 101 AND 110")
	waitCaughtUp(t, s, out, table, &errOut)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("bintap: %v\n%s", err, errOut.String())
	}
	compareState(t, rebuild(t, out, table), serverRows(t, s, table))
}
