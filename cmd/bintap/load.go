package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bintap/bintap/internal/dburl"
	"github.com/bintap/bintap/internal/sink"
	"github.com/bintap/bintap/internal/sink/files"
	"github.com/bintap/bintap/internal/sink/target"
)

// loadSettings are the target settings of a load (sink.Settings).
type loadSettings map[string]string

func (s loadSettings) Get(name string) string { return s[name] }
func (s loadSettings) Given(name string) bool { _, ok := s[name]; return ok }

// runLoad pushes the closed files of a files output into a database
// target: bintap load --from DIR --to URL.
func runLoad(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(errOut)
	from := fs.String("from", "", "the directory of a files output (bintap stream --output files:///DIR); its _manifest.jsonl lists the closed files")
	to := fs.String("to", "", "the database target: postgres://USER[:PASS]@HOST[:PORT]/DB, mysql://USER[:PASS]@HOST[:PORT]/DB or duckdb:///PATH/FILE.duckdb")
	s := loadSettings{}
	for name, def := range map[string]string{"target-table": "{database}.{table}", "target-deletes": "soft", "batch-size": "10000"} {
		fs.Func(name, "", func(v string) error { s[name] = v; return nil })
		s[name] = def
	}
	fs.Lookup("target-table").Usage = "the target table of each source table; {database} and {table} stand for the source's (default {database}.{table})"
	fs.Lookup("target-deletes").Usage = "soft (a deleted row stays with __deleted = true) or hard (it is removed) (default soft)"
	fs.Lookup("batch-size").Usage = "changes per target transaction (default 10000)"
	logTables := fs.Bool("target-log-tables", false, "also keep {table}_log beside each table, append-only, one row per change")
	every := fs.String("every", "", "keep running: load again on this schedule (such as 15m) until SIGINT or SIGTERM")
	since := fs.String("since", "", "load again from the window that starts at this time (RFC 3339 UTC, such as 2026-11-27T10:15:00Z): the mirror is merged again, _log rows are not written twice")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(errOut, "bintap load: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q (all settings are --flags)", fs.Arg(0))
	}
	s["target-log-tables"] = strconv.FormatBool(*logTables)
	if *from == "" {
		return fail("--from is required: the directory of a files output (bintap stream --output files:///DIR)")
	}
	dir := strings.TrimPrefix(*from, "files://")
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fail("invalid --from %q: accepted is the directory of a files output, which must exist", *from)
	}
	if _, err := os.Stat(filepath.Join(dir, files.ManifestName)); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "_state.json")); serr != nil {
			return fail("invalid --from %q: it holds no %s: accepted is the directory of a files output (bintap stream --output files:///DIR)", *from, files.ManifestName)
		}
	}
	if *to == "" {
		return fail("--to is required: postgres://USER[:PASS]@HOST[:PORT]/DB, mysql://USER[:PASS]@HOST[:PORT]/DB or duckdb:///PATH/FILE.duckdb")
	}
	if k, err := sink.Lookup(*to); err != nil || k.Name != "target" {
		return fail("invalid --to %q: accepted are database targets: postgres://USER[:PASS]@HOST[:PORT]/DB, mysql://USER[:PASS]@HOST[:PORT]/DB or duckdb:///PATH/FILE.duckdb", dburl.Redact(*to))
	}
	lt, err := target.ParseLoad(*to, s)
	if err != nil {
		var se *sink.SettingError
		if errors.As(err, &se) {
			return fail("%v", err)
		}
		return fail("invalid --to %q: %v", dburl.Redact(*to), err)
	}
	var period time.Duration
	if *every != "" {
		if period, err = time.ParseDuration(*every); err != nil || period < time.Second {
			return fail("invalid --every %q: accepted is a duration of 1s or more, such as 15m or 1h", *every)
		}
	}
	var start time.Time
	if *since != "" {
		start, err = time.Parse(time.RFC3339, *since)
		if _, off := start.Zone(); err != nil || off != 0 {
			return fail("invalid --since %q: accepted is a window start in RFC 3339 UTC, such as 2026-11-27T10:15:00Z", *since)
		}
		if msg := checkSince(dir, start.UTC()); msg != "" {
			return fail("invalid --since %q: %s", *since, msg)
		}
		start = start.UTC()
	}

	log := newLogger(errOut, *level)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	for {
		began := time.Now()
		sum, err := loadOnce(ctx, dir, lt, start, log)
		fmt.Fprintln(out, sum.line(lt.Name(), time.Since(began)))
		switch {
		case err != nil && ctx.Err() == nil && period == 0:
			log.Error("bintap load failed", "err", err)
			return 1
		case err != nil && ctx.Err() == nil:
			log.Error("bintap load failed; trying again on schedule", "err", err, "next_in", period.String())
		}
		if period == 0 || ctx.Err() != nil {
			return 0
		}
		start = time.Time{} // --since is for the first run
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(time.Until(began.Add(period))):
		}
	}
}

// checkSince says what is wrong with --since ("" when it is the start of a
// window in DIR's manifest).
func checkSince(dir string, since time.Time) string {
	es, err := files.ReadManifest(dir)
	if err != nil {
		return err.Error()
	}
	var starts []time.Time
	for _, e := range es {
		if e.WindowStart.Equal(since) {
			return ""
		}
		if len(starts) == 0 || !starts[len(starts)-1].Equal(e.WindowStart) {
			starts = append(starts, e.WindowStart)
		}
	}
	if len(starts) == 0 {
		return "no window has closed yet in " + dir
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
	return fmt.Sprintf("accepted is the start of a closed window of %s: %d windows from %s to %s", dir, len(starts),
		starts[0].Format(time.RFC3339), starts[len(starts)-1].Format(time.RFC3339))
}

// loadSummary counts what one run loaded.
type loadSummary struct {
	files, rows, again int64
	tables             map[string]int64 // rows by target table
}

func (s loadSummary) line(to string, took time.Duration) string {
	if s.files == 0 {
		return "bintap load: nothing new to load into " + to
	}
	line := fmt.Sprintf("bintap load: %d files, %d rows into %s (%d tables) in %s", s.files, s.rows, to, len(s.tables), took.Round(time.Millisecond))
	if s.again > 0 {
		line += fmt.Sprintf("; %d rows loaded before merged again (--since)", s.again)
	}
	return line
}

// loadOnce pushes the closed files of dir that the target does not hold
// yet, in manifest order, each table from its mark on; from since (when
// set) the files loaded before are pushed again. A stop (ctx) ends it
// between two rows: what was added commits, with its marks.
func loadOnce(ctx context.Context, dir string, lt *target.LoadTarget, since time.Time, log *slog.Logger) (sum loadSummary, err error) {
	sum.tables = map[string]int64{}
	if _, err := os.Stat(filepath.Join(dir, files.ManifestName)); errors.Is(err, os.ErrNotExist) {
		log.Info("no window has closed yet", "dir", dir)
		return sum, nil
	}
	entries, err := files.ReadManifest(dir)
	if err != nil {
		return sum, err
	}
	// The loader's context outlives a stop: what was added commits whole.
	wctx := context.WithoutCancel(ctx)
	l, err := lt.Open(ctx, log)
	if err != nil {
		return sum, err
	}
	defer func() {
		if cerr := l.Close(wctx); err == nil {
			err = cerr
		}
		for t, n := range sum.tables {
			log.Info("table loaded", "target", t, "rows", n)
		}
	}()
	marks, err := l.Marks(ctx)
	if err != nil {
		return sum, err
	}
	type key = [2]string
	keys := make([]key, len(entries))
	markAt := map[key]int{} // where each table's mark is in the manifest
	for i, e := range entries {
		keys[i] = key{l.TargetTable(e.Definition), e.Definition.FullName()}
		if m, ok := marks[keys[i]]; ok && m.File == e.File {
			markAt[keys[i]] = i
		}
	}
	for i, e := range entries {
		if ctx.Err() != nil {
			return sum, nil
		}
		k := keys[i]
		var in int64 // rows of e the target holds
		if m, ok := marks[k]; ok {
			at, found := markAt[k]
			switch {
			case found && i < at, found && i == at && m.Rows >= e.Rows:
				in = e.Rows
			case found && i == at:
				in = m.Rows
			case !found && !e.WindowStart.After(m.Window):
				in = e.Rows // the mark's file is gone from the manifest: by window
			}
		}
		again := !since.IsZero() && !e.WindowStart.Before(since)
		if in >= e.Rows && !again {
			continue
		}
		skip := in
		if again {
			skip = 0
		}
		var n, added int64
		err := files.Read(dir, e, func(r *files.Record) error {
			if n++; n <= skip {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			added++
			return l.Add(wctx, &target.Row{Table: e.Definition, Meta: r.Meta, Values: r.Row, Again: n <= in,
				Mark: target.Mark{File: e.File, Window: e.WindowStart, Rows: n, Of: e.Rows}})
		})
		re := min(added, max(in-skip, 0))
		if added > 0 {
			sum.files++
			sum.rows += added - re
			sum.again += re
			sum.tables[k[0]] += added
		}
		if ctx.Err() != nil {
			log.Info("stopped: what was read commits with its marks", "file", e.File, "rows", added-re, "again", re)
			return sum, nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return sum, fmt.Errorf("%s is in the manifest but gone (deleted by --file-retain before it was loaded?): the target lacks its changes until it is restored: %w", e.File, err)
		}
		if err != nil {
			return sum, err
		}
		log.Info("file loaded", "file", e.File, "table", k[1], "target", k[0], "window", e.WindowStart.Format(time.RFC3339), "rows", added-re, "again", re)
	}
	return sum, l.Commit(wctx)
}
