package snapshot

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/config"
	_ "github.com/bintap/bintap/internal/sink/stdout" // the default output of config.Load
)

// FuzzSignal: any row inserted into the signal table (its id, type and data
// columns, text or NULL) is executed or ignored with a warning: no panic,
// and the state it leaves is saved and read back. Tables outside the
// schema fz are refused by the filter; those inside would be checked on a
// server that is not there (an unreachable address: refused at once).
func FuzzSignal(f *testing.F) {
	for _, s := range [][3]string{
		{"e1", "execute-snapshot", `{"data-collections": ["fz.t"], "type": "incremental"}`},
		{"e2", "execute-snapshot", `{"data-collections": ["other.t", "fz.u", "nodot", ".t", "fz."]}`},
		{"e3", "execute-snapshot", `{"data-collections": ["fz.t"], "type": "blocking"}`},
		{"s1", "stop-snapshot", `{"data-collections": ["fz.t"]}`},
		{"s2", "stop-snapshot", ``},
		{"p1", "pause-snapshot", ``},
		{"r1", "resume-snapshot", `{}`},
		{"l1", "log", `{"message": "hello"}`},
		{"x1", "unknown", `not json`},
		{"", "execute-snapshot", `{"data-collections": null}`},
		{"n", "log", `{"message": 5}`},
	} {
		f.Add(s[0], s[1], s[2], false)
	}
	f.Fuzz(func(t *testing.T, id, typ, data string, nullData bool) {
		dir := t.TempDir()
		cfg, err := config.Load("stream", []string{"--source", "mysql://fz@127.0.0.1:1", "--state-dir", dir, "--schemas", "fz"}, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		opt := Options{Source: cfg.Source, Flavor: "mariadb", Filter: cfg.Filter(), StateDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		inc, err := OpenIncremental(opt, "fz.signal")
		if err != nil {
			t.Fatal(err)
		}
		defer inc.db.Close()
		tbl := &change.Table{Schema: "fz", Name: "signal", Columns: []change.Column{{Name: "id"}, {Name: "type"}, {Name: "data"}}}
		row := []change.Value{{Kind: change.KindString, Text: []byte(id)}, {Kind: change.KindString, Text: []byte(typ)}, {Kind: change.KindString, Text: []byte(data)}}
		if nullData {
			row[2] = change.Value{Kind: change.KindNull}
		}
		inc.signalRow(tbl, row)
		inc.signalRow(tbl, row) // the same signal again (a replay): handled once
		inc.handleSignals()
		if err := inc.Durable(); err != nil {
			t.Fatal(err)
		}
		again, err := OpenIncremental(opt, "fz.signal")
		if err != nil {
			t.Fatalf("the state saved after a signal cannot be read back: %v", err)
		}
		again.db.Close()
		for _, ts := range again.state.Tables {
			if !strings.HasPrefix(ts.Name, "fz.") {
				t.Errorf("table %q queued, outside the captured schema", ts.Name)
			}
		}
	})
}

// FuzzStateFiles: a snapshot progress or incremental snapshot state file of
// any content is read or refused with an error naming it, never a panic.
func FuzzStateFiles(f *testing.F) {
	f.Add([]byte(`{"start":{"file":"bin.000001","pos":4},"tables":[{"name":"a.b","last_key":["1"],"done":false}]}`))
	f.Add([]byte(`{"tables":[{"name":"a.b","last_key":null,"done":true}],"signals":["x"],"paused":true}`))
	f.Add([]byte(`{"start":{}}`))
	f.Add([]byte("\x00garbage"))
	f.Add([]byte(`{"start":{"file":"bin.000001","pos":4},"tables":[null]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		dir := t.TempDir()
		for _, name := range []string{FileName, IncrementalFileName} {
			if err := os.WriteFile(filepath.Join(dir, name), raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := LoadState(dir); err != nil && !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
			t.Errorf("the error does not name the file: %v", err)
		}
		cfg, err := config.Load("stream", []string{"--source", "mysql://fz@127.0.0.1:1", "--state-dir", dir}, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		inc, err := OpenIncremental(Options{Source: cfg.Source, Flavor: "mariadb", Filter: cfg.Filter(), StateDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, "")
		if err != nil {
			if !strings.Contains(err.Error(), filepath.Join(dir, IncrementalFileName)) {
				t.Errorf("the error does not name the file: %v", err)
			}
			return
		}
		inc.db.Close()
	})
}

// TestStopUnqueuedTable: POST /snapshot/stop (Control) of a table that has
// no incremental snapshot queued is refused naming it and what is queued
// (409 over HTTP); one that is queued is stopped.
func TestStopUnqueuedTable(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load("stream", []string{"--source", "mysql://fz@127.0.0.1:1", "--state-dir", dir}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	inc, err := OpenIncremental(Options{Source: cfg.Source, Flavor: "mariadb", Filter: cfg.Filter(), StateDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer inc.db.Close()
	inc.enqueue([]string{"w.t"})
	err = inc.Control("stop", []string{"w.t", "w.nosuch"})
	if err == nil || !strings.Contains(err.Error(), "w.nosuch") || !strings.Contains(err.Error(), "queued: w.t") {
		t.Fatalf("stop of an unqueued table: %v", err)
	}
	if err := inc.Control("stop", []string{"w.t"}); err != nil {
		t.Fatal(err)
	}
	if q := inc.queued(); strings.Join(q, ",") != "none" {
		t.Errorf("queued after stop: %v", q)
	}
	if err := inc.Control("stop", nil); err != nil {
		t.Errorf("stop of every table with none queued: %v", err)
	}
}
