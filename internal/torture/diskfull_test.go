package torture

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/testutil"
)

// mountTmpfs mounts a tmpfs of size bytes at dir (root only: the test is
// skipped otherwise) and unmounts it when the test ends.
func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

func resizeTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", fmt.Sprintf("remount,size=%d", size), dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s: %v %s", dir, err, out)
	}
}

// TestDiskFull: the state dir, a file output and a files output share a
// 2 MiB tmpfs that the workload fills. bintap must stop or wait with a
// message naming the full path, leave a checkpoint that loads, and once
// the filesystem has room again (a bigger tmpfs, bintap started again if
// it stopped) deliver every change: at least once in the file output,
// exactly once in the files output.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	fs := t.TempDir()
	mountTmpfs(t, fs, 2<<20)
	src := testutil.NewMariaDB(t)
	wdb, err := src.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer wdb.Close()
	w := &Workload{DB: wdb, Rng: rand.New(rand.NewSource(1))}
	if err := w.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	stateDir, fileDir, filesDir := filepath.Join(fs, "state"), filepath.Join(fs, "file"), filepath.Join(fs, "files")
	p := &process{name: "disk full", stderr: &testutil.SyncBuffer{}, args: []string{"--source", src.URL(), "--schemas", "w", "--start", "oldest",
		"--state-dir", stateDir, "--output", "file://" + fileDir + ",files://" + filesDir + ",index", "--file-window", "1s", "--checkpoint-interval", "200ms"}}
	p.start(t)
	defer p.kill()

	// Write until the filesystem is full and bintap says so.
	var said string
	deadline := time.Now().Add(3 * time.Minute)
	for said == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the 2 MiB filesystem never filled, or bintap said nothing of it:\n%s", tail(p.stderr.String()))
		}
		for i := 0; i < 20; i++ {
			if _, err := w.tx(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(line, "no space left on device") || strings.Contains(line, "disk is full") {
				said = line
				break
			}
		}
	}
	time.Sleep(2 * time.Second) // let it stop or keep waiting
	stopped := p.exited()
	t.Logf("disk full: bintap %s; it said: %s", map[bool]string{true: "stopped", false: "keeps running (waiting)"}[stopped], said)
	if !strings.Contains(said, fs) {
		t.Errorf("the message does not name the full path (under %s): %s", fs, said)
	}
	seen := map[string]bool{}
	for _, word := range strings.Fields(said) {
		if path := strings.Trim(word, `":`); strings.HasPrefix(path, fs) {
			if seen[path] {
				t.Errorf("the message names %s twice: %s", path, said)
			}
			seen[path] = true
		}
	}
	if strings.Contains(p.stderr.String(), "panic") || strings.Contains(p.stderr.String(), "goroutine ") {
		t.Errorf("bintap panicked:\n%s", tail(p.stderr.String()))
	}
	if raw, err := os.ReadFile(filepath.Join(stateDir, position.FileName)); err == nil {
		var c position.Checkpoint
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Errorf("the checkpoint on the full disk is damaged: %v\n%s", err, raw)
		}
	}

	// Room again: bintap continues (or is started again) and loses nothing.
	resizeTmpfs(t, fs, 256<<20)
	if stopped {
		p.start(t)
	}
	for i := 0; i < 20; i++ {
		if _, err := w.tx(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want, err := Expected(ctx, wdb)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := wdb.Exec("INSERT INTO w.acc VALUES (1000, 0)"); err != nil {
		t.Fatal(err)
	}
	want["acc:i:1000"] = true
	var fileRes, filesRes, indexRes Result
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		a, err1 := readJSONLines(fileDir)
		b, err2 := newFilesReader(filesDir).read()
		c, err3 := readIndex(stateDir)
		if err1 == nil && err2 == nil && err3 == nil {
			fileRes, filesRes, indexRes = a.Compare(want), b.Compare(want), c.Compare(want)
			if fileRes.Missing == 0 && filesRes.Missing == 0 && indexRes.Missing == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after space was freed: file output misses %d (%v), files output %d (%v), index %d (%v); errors %v %v %v\n%s",
				fileRes.Missing, fileRes.MissingSample, filesRes.Missing, filesRes.MissingSample, indexRes.Missing, indexRes.MissingSample, err1, err2, err3, tail(p.stderr.String()))
		}
	}
	if indexRes.Repeats > 0 {
		t.Errorf("change index: %d changes twice", indexRes.Repeats)
	}
	if filesRes.Repeats > 0 {
		t.Errorf("files output: %d changes twice", filesRes.Repeats)
	}
	p.stop(t)
	t.Logf("DISKFULL: %d changes checked; file output repeats %d, files output repeats %d, change index repeats %d", len(want), fileRes.Repeats, filesRes.Repeats, indexRes.Repeats)
}

// TestDamagedStateFiles: a checkpoint, schema history or snapshot state
// that is truncated or garbage stops bintap with exit status 1 and a
// message naming the file, never a silent start from elsewhere.
func TestDamagedStateFiles(t *testing.T) {
	src := testutil.NewMariaDB(t)
	src.Exec("CREATE DATABASE w", "CREATE TABLE w.t (id INT PRIMARY KEY)", "INSERT INTO w.t VALUES (1),(2)")
	state := t.TempDir()
	out := t.TempDir()
	args := []string{"stream", "--source", src.URL(), "--schemas", "w", "--state-dir", state, "--output", "file://" + out, "--stop-at-end"}
	if b, err := exec.Command(binary, args...).CombinedOutput(); err != nil {
		t.Fatalf("first run: %v\n%s", err, b)
	}
	for _, name := range []string{position.FileName, "schema-history.json", "snapshot.json"} {
		path := filepath.Join(state, name)
		good, err := os.ReadFile(path)
		if err != nil {
			t.Logf("%s: not written by this run (%v); garbage tried anyway", name, err)
		}
		for _, damage := range []struct {
			what string
			data []byte
		}{
			{"truncated", good[:len(good)/2]},
			{"garbage", []byte("\x00\x01not json at all\xff")},
			{"empty", nil},
		} {
			if err := os.WriteFile(path, damage.data, 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binary, args...)
			b, err := cmd.CombinedOutput()
			code := cmd.ProcessState.ExitCode()
			msg := strings.TrimSpace(string(b))
			switch {
			case err == nil:
				t.Errorf("%s %s: bintap ran on:\n%s", damage.what, name, msg)
			case !strings.Contains(msg, path):
				t.Errorf("%s %s: exit %d, the message does not name the file:\n%s", damage.what, name, code, msg)
			case strings.Contains(msg, "goroutine ") || strings.Contains(msg, "panic"):
				t.Errorf("%s %s: a panic:\n%s", damage.what, name, msg)
			case !strings.Contains(msg, "--reset"):
				t.Errorf("%s %s: exit %d, the message does not say what to do (--reset or a backup):\n%s", damage.what, name, code, msg)
			default:
				lines := strings.Split(msg, "\n")
				t.Logf("%s %s: exit %d: %s", damage.what, name, code, lines[len(lines)-1])
			}
		}
		if good != nil {
			os.WriteFile(path, good, 0o600)
		} else {
			os.Remove(path)
		}
	}
}

// TestDiskFullIndex: the change index alone on a 1 MiB tmpfs (its state
// dir) that the workload fills. SQLite reports the full disk; bintap
// stops naming the index file, and once there is room again a restart
// holds every change exactly once.
func TestDiskFullIndex(t *testing.T) {
	ctx := context.Background()
	fs := t.TempDir()
	mountTmpfs(t, fs, 1<<20)
	src := testutil.NewMariaDB(t)
	wdb, err := src.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer wdb.Close()
	w := &Workload{DB: wdb, Rng: rand.New(rand.NewSource(2))}
	if err := w.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(fs, "state")
	p := &process{name: "disk full (index)", stderr: &testutil.SyncBuffer{}, args: []string{"--source", src.URL(), "--schemas", "w", "--start", "oldest",
		"--state-dir", stateDir, "--output", "index", "--checkpoint-interval", "200ms"}}
	p.start(t)
	defer p.kill()
	var said string
	for deadline := time.Now().Add(3 * time.Minute); said == ""; {
		if time.Now().After(deadline) {
			t.Fatalf("the 1 MiB filesystem never filled, or bintap said nothing of it:\n%s", tail(p.stderr.String()))
		}
		for i := 0; i < 20; i++ {
			if _, err := w.tx(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, line := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(line, "disk is full") || strings.Contains(line, "no space left on device") {
				said = line
				break
			}
		}
	}
	time.Sleep(2 * time.Second)
	t.Logf("disk full (index): bintap %s; it said: %s", map[bool]string{true: "stopped", false: "keeps running (waiting)"}[p.exited()], said)
	if !strings.Contains(said, stateDir) {
		t.Errorf("the message does not name the path (under %s): %s", stateDir, said)
	}
	resizeTmpfs(t, fs, 256<<20)
	if p.exited() {
		p.start(t)
	}
	want, err := Expected(ctx, wdb)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		c, err := readIndex(stateDir)
		if err == nil {
			if res = c.Compare(want); res.Missing == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after space was freed: the index misses %d (%v); %v\n%s", res.Missing, res.MissingSample, err, tail(p.stderr.String()))
		}
	}
	if res.Repeats > 0 {
		t.Errorf("change index: %d changes twice", res.Repeats)
	}
	p.stop(t)
	t.Logf("DISKFULL: index: %d changes checked, repeats %d", len(want), res.Repeats)
}
