package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/testutil"
)

// TestIncrementalSnapshotCLI: `bintap snapshot` asks a running stream with
// no signal table (as on a read-only replica) for an incremental snapshot
// while a workload writes; after a kill -9 in the middle the restarted
// stream finishes it, and the state rebuilt from the output equals the
// server's table.
func TestIncrementalSnapshotCLI(t *testing.T) {
	s := testutil.NewMariaDB(t)
	const table = "w.t"
	loadTable(t, s, table, 30000)
	out, state := t.TempDir(), t.TempDir()
	addr := freePort(t)
	args := []string{"--source", s.URL(), "--state-dir", state, "--output", "file://" + out, "--schemas", "w",
		"--snapshot", "never", "--snapshot-chunk-size", "500", "--checkpoint-interval", "100ms", "--http", addr}
	var errOut testutil.SyncBuffer
	cmd := startBintap(t, &errOut, args...)
	request := func(tables ...string) (int, string) {
		var err error
		var b []byte
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			b, err = exec.Command(binary, append([]string{"snapshot", "--http", addr}, tables...)...).CombinedOutput()
			if err == nil || !strings.Contains(string(b), "no stream answers") || time.Now().After(deadline) {
				break
			}
		}
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return code, string(b)
	}
	if code, msg := request("--table", "w.nope"); code != 1 || !strings.Contains(msg, "w.nope") {
		t.Errorf("snapshot of a missing table: exit %d, %s", code, msg)
	}
	if code, msg := request("--table", "nodot"); code != 2 || !strings.Contains(msg, `invalid --table "nodot"`) {
		t.Errorf("snapshot of a bad name: exit %d, %s", code, msg)
	}
	w := startWorkload(t, s, table, 30000)
	if code, msg := request("--table", table); code != 0 || !strings.Contains(msg, "queued: w.t") {
		t.Fatalf("snapshot request: exit %d, %s\n%s", code, msg, errOut.String())
	}
	waitIncrementalDurable(t, state, &errOut)
	cmd.Process.Kill()
	cmd.Wait()
	finishIncremental(t, s, args, out, table, w)
}
