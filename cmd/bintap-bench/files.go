package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bintap/bintap/internal/sink/files"
)

// bintapFiles measures bintap streaming the workload into the time-framed
// files output in format, with 5-second windows so that windows close
// (and Parquet files are written) as the stream passes them. The run
// checks that the closed files and the open window hold every row.
func bintapFiles(binary, format string) func(ctx context.Context, w *workload) result {
	return func(ctx context.Context, w *workload) result {
		if why := bintapMissing(binary); why != "" {
			return result{unavailable: why}
		}
		dir := filepath.Join(w.tmpDir, "zone-"+format)
		if err := os.RemoveAll(dir); err != nil {
			return result{err: err}
		}
		cmd, err := bintapCommand(ctx, binary, w.port, 4245, filepath.Join(w.tmpDir, "state-files"),
			"--start", "oldest", "--stop-at-end", "--output", "files://"+dir, "--file-window", "5s", "--file-format", format)
		if err != nil {
			return result{err: err}
		}
		if p := os.Getenv("BINTAP_BENCH_CPUPROFILE"); p != "" {
			cmd.Env = append(os.Environ(), "BINTAP_CPUPROFILE="+p+"."+format)
		}
		_, elapsed, r := timeRun(cmd, false, "bintap stream --output files://")
		if r.err != nil {
			return r
		}
		n, err := zoneRows(dir)
		if err != nil {
			return result{err: err}
		}
		if n < int64(w.rows) {
			return result{err: fmt.Errorf("the files hold %d rows, want at least %d", n, w.rows)}
		}
		return result{rows: int64(w.rows), elapsed: elapsed, cpu: r.cpu, rss: peakRSS(cmd)}
	}
}

// zoneRows counts the records of a files output: its closed files and its
// open window.
func zoneRows(dir string) (int64, error) {
	var n int64
	err := files.ReadManifestFunc(dir, func(e files.Entry) error { n += e.Rows; return nil })
	if err != nil {
		return 0, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "_state.json"))
	if err != nil {
		return 0, err
	}
	var st struct {
		Open []struct{ Rows int64 } `json:"open"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return 0, err
	}
	for _, f := range st.Open {
		n += f.Rows
	}
	return n, nil
}

// bintapLoad measures `bintap load` of the FileZone row j wrote (JSON
// lines, its closed windows) into a fresh PostgreSQL database. The workload
// only inserts, so the mirror must hold as many rows as the files.
func bintapLoad(binary string, pg *pgEnv) func(ctx context.Context, w *workload) result {
	return func(ctx context.Context, w *workload) result {
		if why := bintapMissing(binary); why != "" {
			return result{unavailable: why}
		}
		dir := filepath.Join(w.tmpDir, "zone-jsonl")
		var n int64
		if err := files.ReadManifestFunc(dir, func(e files.Entry) error { n += e.Rows; return nil }); err != nil {
			return result{unavailable: "needs row j's files: " + err.Error()}
		}
		name, db, cleanup, err := pg.freshDB(ctx, "l")
		if err != nil {
			return result{err: err}
		}
		defer cleanup()
		cmd := timed(exec.CommandContext(ctx, binary, "load", "--from", dir, "--to", pg.srv.DSN(name)))
		_, elapsed, r := timeRun(cmd, false, "bintap load")
		if r.err != nil {
			return r
		}
		var got int64
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM bench.items").Scan(&got); err != nil {
			return result{err: err}
		}
		if got != n {
			return result{err: fmt.Errorf("the target holds %d rows, the closed files %d", got, n)}
		}
		return result{rows: n, elapsed: elapsed, cpu: r.cpu, rss: peakRSS(cmd)}
	}
}
