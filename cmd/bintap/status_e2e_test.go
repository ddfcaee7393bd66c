package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/server"
	"github.com/bintap/bintap/internal/testutil"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestStatusAndHeartbeatTable: on an idle server the heartbeat table keeps
// the checkpoint moving, and the HTTP status, metrics and `bintap status`
// report the stream.
func TestStatusAndHeartbeatTable(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY, v INT)",
		"CREATE DATABASE hb", "CREATE TABLE hb.beat (id INT PRIMARY KEY, text TEXT, last_update TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))")

	// bintap check explains the heartbeat table: missing → WARN with the SQL.
	out, _ := exec.Command(binary, "check", "--source", s.URL(), "--heartbeat-table", "hb.missing").CombinedOutput()
	if !strings.Contains(string(out), "[WARN] heartbeat table: hb.missing does not exist") || !strings.Contains(string(out), "CREATE EVENT IF NOT EXISTS") {
		t.Errorf("check with a missing heartbeat table:\n%s", out)
	}
	out, _ = exec.Command(binary, "check", "--source", s.URL(), "--heartbeat-table", "hb.beat").CombinedOutput()
	if !strings.Contains(string(out), "[OK]   heartbeat table: hb.beat exists") {
		t.Errorf("check with the heartbeat table:\n%s", out)
	}

	addr := freePort(t)
	var errOut bytes.Buffer
	cmd := exec.Command(binary, "stream", "--source", s.URL(), "--state-dir", t.TempDir(), "--output", "file://"+t.TempDir(),
		"--tables", "k.t", "--http", addr, "--heartbeat-table", "hb.beat", "--heartbeat-interval", "200ms", "--checkpoint-interval", "200ms")
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	status := func() server.Status {
		var st server.Status
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			resp, err := http.Get("http://" + addr + "/status")
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
				if err == nil {
					return st
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no status from %s; bintap said:\n%s", addr, errOut.String())
		return st
	}
	// The server is idle apart from the heartbeats: the checkpoint moves.
	seen := map[string]bool{}
	deadline := time.Now().Add(time.Minute)
	for len(seen) < 3 && time.Now().Before(deadline) {
		if c := status().Checkpoint; c != "" {
			seen[c] = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(seen) < 3 {
		t.Fatalf("checkpoint did not move on an idle server with a heartbeat table: saw %v; bintap said:\n%s", seen, errOut.String())
	}
	var beats int
	if err := s.DB.QueryRow("SELECT COUNT(*) FROM hb.beat WHERE id = 1").Scan(&beats); err != nil || beats != 1 {
		t.Errorf("heartbeat row: %d, %v", beats, err)
	}

	s.Exec("INSERT INTO k.t VALUES (1,1),(2,2),(3,3)")
	for deadline := time.Now().Add(time.Minute); status().Events < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("status never counted 3 events: %+v", status())
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := status()
	if st.State != "streaming" || st.Flavor != "mariadb" || len(st.Outputs) != 1 || st.Outputs[0].State != "ok" || st.LastCommit.IsZero() {
		t.Errorf("status: %+v", st)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"bintap_events_total 3\n", "bintap_up 1\n", "bintap_output_up{output=\"file://"} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
	out, err = exec.Command(binary, "status", "--http", addr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "state streaming") || !strings.Contains(string(out), "events:     3 in") {
		t.Errorf("bintap status: %v\n%s", err, out)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bintap exited with %v:\n%s", err, errOut.String())
	}
	if out, err := exec.Command(binary, "status", "--http", addr).CombinedOutput(); err == nil || !strings.Contains(string(out), "no stream answers") {
		t.Errorf("bintap status with no stream: %v\n%s", err, out)
	}
}

// TestSourceOutage: while the source is down, /healthz answers 503 and
// bintap_up is 0 once --health-grace passed; both recover by themselves
// when it is back, and no row is lost or repeated. On an idle source the
// lag is 0.
func TestSourceOutage(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE o", "CREATE TABLE o.t (id INT PRIMARY KEY)")
	addr, outDir := freePort(t), t.TempDir()
	var errOut testutil.SyncBuffer
	cmd := exec.Command(binary, "stream", "--source", s.URL(), "--start", "oldest", "--state-dir", t.TempDir(),
		"--output", "file://"+outDir, "--http", addr, "--health-grace", "1s", "--checkpoint-interval", "200ms")
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); {
			if time.Now().After(deadline) {
				_, st := get("/status")
				t.Fatalf("%s never happened; status %s\nbintap said:\n%s", what, st, errOut.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			s.Exec(fmt.Sprintf("INSERT INTO o.t VALUES (%d)", i))
		}
	}
	metric := func(line string) func() bool {
		return func() bool { _, m := get("/metrics"); return strings.Contains(m, line) }
	}
	insert(1, 50)
	waitFor("50 rows delivered", func() bool { return countIDs(t, outDir, nil) == 50 })
	waitFor("healthy", func() bool { code, _ := get("/healthz"); return code == 200 })
	waitFor("lag 0 on an idle source", metric("bintap_replication_lag_seconds 0\n"))

	s.Stop()
	waitFor("503 while the source is down", func() bool { code, _ := get("/healthz"); return code == 503 })
	waitFor("bintap_up 0", metric("bintap_up 0\n"))
	var st server.Status
	_, body := get("/status")
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.State != "retrying" || !strings.Contains(st.Reason, "source unreachable") || st.Healthy {
		t.Errorf("status while the source is down: %v %s", err, body)
	}

	s.RestartServer()
	insert(51, 100)
	waitFor("200 after the source is back", func() bool { code, _ := get("/healthz"); return code == 200 })
	waitFor("bintap_up 1", metric("bintap_up 1\n"))
	waitFor("100 rows delivered", func() bool { return countIDs(t, outDir, nil) >= 100 })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bintap exited with %v:\n%s", err, errOut.String())
	}
	counts := map[uint64]int{}
	countIDs(t, outDir, counts)
	for i := uint64(1); i <= 100; i++ {
		if counts[i] != 1 {
			t.Errorf("row %d delivered %d times", i, counts[i])
		}
	}
}

// TestSourceDownAtStart: a source that is down when bintap starts is waited
// for, as it is while streaming: bintap says so, /status answers
// "retrying", and once the server is back every row arrives once.
func TestSourceDownAtStart(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE o", "CREATE TABLE o.t (id INT PRIMARY KEY)", "INSERT INTO o.t VALUES (1),(2),(3)")
	s.Stop()
	addr, outDir := freePort(t), t.TempDir()
	var errOut testutil.SyncBuffer
	cmd := exec.Command(binary, "stream", "--source", s.URL(), "--start", "oldest", "--state-dir", t.TempDir(),
		"--output", "file://"+outDir, "--http", addr, "--checkpoint-interval", "200ms")
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); {
			select {
			case err := <-exited:
				t.Fatalf("bintap exited (%v) before %s:\n%s", err, what, errOut.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never happened; bintap said:\n%s", what, errOut.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("a retry", func() bool {
		return strings.Count(errOut.String(), "source unreachable while starting; retrying") >= 2
	})
	waitFor("status retrying", func() bool {
		resp, err := http.Get("http://" + addr + "/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st server.Status
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.State == "retrying" && strings.Contains(st.Reason, "source unreachable")
	})
	s.RestartServer()
	s.Exec("INSERT INTO o.t VALUES (4),(5)")
	waitFor("5 rows delivered", func() bool { return countIDs(t, outDir, nil) >= 5 })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("bintap exited with %v:\n%s", err, errOut.String())
	}
	counts := map[uint64]int{}
	countIDs(t, outDir, counts)
	for i := uint64(1); i <= 5; i++ {
		if counts[i] != 1 {
			t.Errorf("row %d delivered %d times", i, counts[i])
		}
	}
}

// TestSignalWhileWaitingForTheSource: SIGTERM while bintap waits for a
// source that is not there is a clean stop (exit 0), like one while it
// streams.
func TestSignalWhileWaitingForTheSource(t *testing.T) {
	var errOut testutil.SyncBuffer
	cmd := exec.Command(binary, "stream", "--source", "mysql://root@127.0.0.1:1", "--state-dir", t.TempDir(), "--output", "file://"+t.TempDir())
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	for deadline := time.Now().Add(time.Minute); !strings.Contains(errOut.String(), "source unreachable while starting; retrying"); {
		if time.Now().After(deadline) {
			t.Fatalf("bintap did not say it waits for the source:\n%s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bintap exited with %v after SIGTERM:\n%s", err, errOut.String())
	}
}
