package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/testutil"
)

// TestSSHTunnel streams through a real sshd: the snapshot and the binlog,
// every connection a direct-tcpip channel of the tunnel (sshd logs each).
// Host keys are checked, refused keys and unknown host keys stop bintap
// with a message, and an encrypted key takes its passphrase from the
// environment.
func TestSSHTunnel(t *testing.T) {
	s := testutil.NewMariaDB(t)
	sshd := testutil.NewSSHD(t)
	s.Exec("CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY)", "INSERT INTO k.t VALUES (1),(2),(3)")
	stream := func(stateDir string, extra ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		args := append([]string{"stream", "--source", s.URL(), "--stop-at-end", "--state-dir", stateDir, "--output", "-",
			"--ssh", sshd.Spec(), "--ssh-known-hosts", sshd.KnownHosts}, extra...)
		code := run(args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	channels := func() int { return strings.Count(sshd.Log(), "server_request_direct_tcpip") }

	dir := t.TempDir()
	code, out, errOut := stream(dir, "--ssh-key", sshd.KeyFile)
	if code != 0 || strings.Count(out, `"snapshot":true`) != 3 {
		t.Fatalf("snapshot through the tunnel: exit %d; output:\n%s\nlog:\n%s\nsshd:\n%s", code, out, errOut, sshd.Log())
	}
	if n := channels(); n < 2 {
		t.Errorf("sshd opened %d forwarded channels, want at least 2 (queries, snapshot)", n)
	}
	if !strings.Contains(errOut, "SSH tunnel open") {
		t.Errorf("the log does not say the tunnel is open:\n%s", errOut)
	}
	before := channels()
	s.Exec("INSERT INTO k.t VALUES (4)")
	t.Setenv("BINTAP_SSH_KEY_PASSPHRASE", sshd.Passphrase)
	code, out, errOut = stream(dir, "--ssh-key", sshd.EncryptedKeyFile)
	if code != 0 || strings.Count(out, `"event_type":"insert"`) != 1 || channels() <= before {
		t.Fatalf("stream through the tunnel with an encrypted key: exit %d, channels %d→%d; output:\n%s\nlog:\n%s", code, before, channels(), out, errOut)
	}
	t.Setenv("BINTAP_SSH_KEY_PASSPHRASE", "")

	// bintap check goes through the tunnel too.
	before = channels()
	var checkOut, checkErr bytes.Buffer
	code = run([]string{"check", "--source", s.URL(), "--ssh", sshd.Spec(), "--ssh-key", sshd.KeyFile, "--ssh-known-hosts", sshd.KnownHosts}, &checkOut, &checkErr)
	if code == 2 || !strings.Contains(checkOut.String(), "binlog_format") || channels() <= before {
		t.Errorf("check through the tunnel: exit %d, channels %d→%d\n%s%s", code, before, channels(), checkOut.String(), checkErr.String())
	}

	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--ssh-key", sshd.KeyFile, "--ssh-known-hosts", empty}, "host key that is not in " + empty + ": ssh-ed25519 key " + sshd.HostKeyFingerprint},
		{[]string{"--ssh-key", sshd.OtherKeyFile}, "refused user"},
		{[]string{"--ssh-key", sshd.EncryptedKeyFile}, "is encrypted: give its passphrase in BINTAP_SSH_KEY_PASSPHRASE"},
	} {
		start := time.Now()
		code, _, errOut := stream(t.TempDir(), bad.args...)
		if code != 1 || !strings.Contains(errOut, bad.want) {
			t.Errorf("%v: exit %d, want 1 and %q:\n%s", bad.args, code, bad.want, errOut)
		}
		if time.Since(start) > 30*time.Second {
			t.Errorf("%v: took %s: a permanent fault must not be retried", bad.args, time.Since(start))
		}
	}
}

// TestSSHTunnelRedial: the tunnel dies under a running stream (sshd killed
// with its sessions) and comes back; bintap re-dials it and delivers every
// row once.
func TestSSHTunnelRedial(t *testing.T) {
	s := testutil.NewMariaDB(t)
	sshd := testutil.NewSSHD(t)
	s.Exec("CREATE DATABASE r", "CREATE TABLE r.t (id INT PRIMARY KEY)")
	outDir := t.TempDir()
	cmd := exec.Command(binary, "stream", "--source", s.URL(), "--start", "oldest", "--state-dir", t.TempDir(),
		"--output", "file://"+outDir, "--checkpoint-interval", "200ms",
		"--ssh", sshd.Spec(), "--ssh-key", sshd.KeyFile, "--ssh-known-hosts", sshd.KnownHosts, "--source-timeout", "5s")
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
	id := 0
	insert := func(n int) {
		for i := 0; i < n; i++ {
			id++
			s.Exec(fmt.Sprintf("INSERT INTO r.t VALUES (%d)", id))
		}
	}
	insert(50)
	waitRows(id)
	sshd.Stop()
	insert(50) // written while the tunnel is down
	time.Sleep(2 * time.Second)
	sshd.Restart()
	insert(50)
	waitRows(id)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bintap exited with %v:\n%s", err, errOut.String())
	}
	counts := map[uint64]int{}
	countIDs(t, outDir, counts)
	for i := 1; i <= id; i++ {
		if counts[uint64(i)] != 1 {
			t.Errorf("row %d delivered %d times across the tunnel's loss", i, counts[uint64(i)])
		}
	}
	if !strings.Contains(errOut.String(), "SSH tunnel closed") || strings.Count(errOut.String(), "SSH tunnel open") < 2 {
		t.Errorf("the tunnel's loss and re-dial were not logged:\n%s", errOut.String())
	}
}
