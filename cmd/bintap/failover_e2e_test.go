package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/testutil"
)

// primaryReplica starts two private MariaDB servers, the second replicating
// from the first by GTID (read-only, logging what it applies, so that it
// can be promoted).
func primaryReplica(t *testing.T) (primary, replica *testutil.Server) {
	primary = testutil.NewMariaDB(t)
	replica = testutil.NewMariaDB(t, "--server-id=2", "--log-slave-updates", "--read-only")
	replica.Exec(fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos", primary.Port),
		"START SLAVE")
	return primary, replica
}

// caughtUp waits until the replica has applied everything the primary has.
func caughtUp(t *testing.T, primary, replica *testutil.Server) {
	t.Helper()
	var pos string
	if err := primary.DB.QueryRow("SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	var r int
	if err := replica.DB.QueryRow("SELECT MASTER_GTID_WAIT(?, 60)", pos).Scan(&r); err != nil || r != 0 {
		t.Fatalf("the replica did not catch up with %s: %d %v", pos, r, err)
	}
}

// promote makes the replica a primary.
func promote(replica *testutil.Server) {
	replica.Exec("STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = 0")
}

// TestFailoverByGTID: --source lists a primary and its replica; bintap
// streams from the primary under a write load, the primary is killed, the
// replica promoted, and bintap continues from the same GTID position on it:
// every committed row delivered exactly once.
func TestFailoverByGTID(t *testing.T) {
	primary, replica := primaryReplica(t)
	primary.Exec("CREATE DATABASE f", "CREATE TABLE f.t (id INT PRIMARY KEY, note VARCHAR(20))",
		"INSERT INTO f.t VALUES (1,'before'),(2,'before'),(3,'before')")
	caughtUp(t, primary, replica)
	outDir, stateDir := t.TempDir(), t.TempDir()
	source := fmt.Sprintf("mysql://root@127.0.0.1:%d,127.0.0.1:%d", primary.Port, replica.Port)
	cmd := exec.Command(binary, "stream", "--source", source, "--state-dir", stateDir,
		"--output", "file://"+outDir, "--checkpoint-interval", "200ms", "--source-timeout", "5s")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitRows := func(n int) {
		deadline := time.Now().Add(2 * time.Minute)
		for countIDs(t, outDir, nil) < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d rows arrived; bintap said:\n%s", countIDs(t, outDir, nil), n, errOut.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitRows(3) // the snapshot

	// A writer inserts one row per transaction, then several per
	// transaction, into whichever server is the primary.
	var mu sync.Mutex
	target, id, pause := primary, 3, false
	stop := make(chan struct{})
	paused := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			if pause {
				mu.Unlock()
				paused <- struct{}{}
				<-paused
				continue
			}
			db, n := target, id
			mu.Unlock()
			q := fmt.Sprintf("INSERT INTO f.t VALUES (%d,'one')", n+1)
			rows := 1
			if n%5 == 0 {
				q = fmt.Sprintf("INSERT INTO f.t VALUES (%d,'many'),(%d,'many'),(%d,'many')", n+1, n+2, n+3)
				rows = 3
			}
			if _, err := db.DB.Exec(q); err != nil {
				t.Errorf("insert: %v", err)
				return
			}
			mu.Lock()
			id += rows
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(1500 * time.Millisecond) // bintap streams under the load
	// Failover: the writer stops at a commit, the replica has it all, the
	// primary dies, the replica is promoted and the writer moves to it.
	mu.Lock()
	pause = true
	mu.Unlock()
	select {
	case <-paused:
	case <-time.After(time.Minute):
		t.Fatal("the writer did not pause")
	}
	caughtUp(t, primary, replica)
	primary.Kill()
	mu.Lock()
	before := id
	mu.Unlock()
	time.Sleep(3 * time.Second) // bintap finds no primary for a while
	promote(replica)
	mu.Lock()
	target, pause = replica, false
	mu.Unlock()
	paused <- struct{}{}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if id <= before {
		t.Fatalf("nothing was written after the failover (%d rows before, %d after)", before, id)
	}
	waitRows(id)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bintap exited with %v:\n%s", err, errOut.String())
	}
	// A restart resumes from the checkpoint (written on the new primary) by
	// GTID, whichever server comes first in --source.
	replica.Exec(fmt.Sprintf("INSERT INTO f.t VALUES (%d,'restart'),(%d,'restart')", id+1, id+2))
	id += 2
	restart := exec.Command(binary, "stream", "--source", source, "--state-dir", stateDir,
		"--output", "file://"+outDir, "--stop-at-end", "--source-timeout", "5s")
	if out, err := restart.CombinedOutput(); err != nil {
		t.Fatalf("restart: %v\n%s", err, out)
	}
	counts := map[uint64]int{}
	countIDs(t, outDir, counts)
	for i := 1; i <= id; i++ {
		if counts[uint64(i)] != 1 {
			t.Errorf("row %d delivered %d times", i, counts[uint64(i)])
		}
	}
	if len(counts) != id {
		t.Errorf("%d distinct rows delivered, %d written", len(counts), id)
	}
	log := errOut.String()
	for _, want := range []string{"waiting for a primary", "the source's primary changed; continuing from the same GTID position"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	t.Logf("%d rows before the failover, %d in all", before, id)
}

// TestFailoverUncleanStops: the replica is promoted without transactions
// bintap has already delivered; bintap stops with a message instead of
// guessing.
func TestFailoverUncleanStops(t *testing.T) {
	primary, replica := primaryReplica(t)
	primary.Exec("CREATE DATABASE f", "CREATE TABLE f.t (id INT PRIMARY KEY)", "INSERT INTO f.t VALUES (1)")
	caughtUp(t, primary, replica)
	replica.Exec("STOP SLAVE")
	primary.Exec("INSERT INTO f.t VALUES (2)", "INSERT INTO f.t VALUES (3)") // never reach the replica
	outDir := t.TempDir()
	source := fmt.Sprintf("mysql://root@127.0.0.1:%d,127.0.0.1:%d", primary.Port, replica.Port)
	cmd := exec.Command(binary, "stream", "--source", source, "--state-dir", t.TempDir(), "--start", "oldest",
		"--output", "file://"+outDir, "--checkpoint-interval", "200ms", "--source-timeout", "5s")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(time.Minute)
	for countIDs(t, outDir, nil) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("rows did not arrive:\n%s", errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	primary.Kill()
	promote(replica)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("exit %d (%v), want 1", code, err)
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("bintap did not stop:\n%s", errOut.String())
	}
	if !strings.Contains(errOut.String(), "lacks transactions bintap has already delivered") {
		t.Errorf("no clear message:\n%s", errOut.String())
	}
}

// TestStartGTIDStopAtEndIdle: a stream started by GTID (--start GTID, or a
// restart with several servers) with nothing new stops at the binlog end
// with --stop-at-end instead of waiting forever; the heartbeat says where
// the server's dump stands.
func TestStartGTIDStopAtEndIdle(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY)", "INSERT INTO k.t VALUES (1)")
	var pos string
	if err := s.DB.QueryRow("SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	done := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() {
		done <- run([]string{"stream", "--source", s.URL(), "--start", pos, "--stop-at-end", "--state-dir", dir}, &out, &errOut)
	}()
	select {
	case code := <-done:
		if code != 0 || strings.Contains(out.String(), `"event_type"`) {
			t.Errorf("exit %d, output:\n%s\n%s", code, out.String(), errOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("did not stop at the end:\n%s", errOut.String())
	}
	// The checkpoint is the binlog end: a restart delivers only what is new.
	s.Exec("INSERT INTO k.t VALUES (2)")
	out.Reset()
	if code := run([]string{"stream", "--source", s.URL(), "--stop-at-end", "--state-dir", dir}, &out, &errOut); code != 0 ||
		strings.Count(out.String(), `"event_type":"insert"`) != 1 || !strings.Contains(out.String(), `"id":2`) {
		t.Errorf("restart: exit %d, output:\n%s", code, out.String())
	}
}
