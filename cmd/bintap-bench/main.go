// Command bintap-bench measures how fast bintap reads a binlog, next to the
// floor (mariadb-binlog copying the raw bytes) and the common baseline
// (go-mysql's BinlogSyncer with generic row decoding), on the same workload
// in a private MariaDB started for the run. It is what `make bench` runs.
//
//	go run ./cmd/bintap-bench [-rows 1000000] [-narrow] [-mix-changes 1000000] [-bintap bin/bintap] [-runs 1] [-keep]
//
// The workload table is wide (8 columns: integers, VARCHAR, DECIMAL,
// DATETIME(6), DOUBLE, TEXT, JSON; ~530 binlog bytes per row), or with
// -narrow its first five columns only (~4 times fewer bytes per row, where
// per-row costs weigh more than per-byte ones).
//
// The throughput rows (keys a, b, c, k, i, j, q, l, d, e, e1, f, and p, p0 below) read a
// loaded workload of -rows rows; -runs and -interleave apply to them, and
// to the merge rows m and n below. Rows a, c, k, i (and c0, k0, i0) and the
// table rows d, e, e1 and f (and e0, the -baseline binary's default
// snapshot) print the source MariaDB's CPU time during each run (its binlog
// dump thread, or the threads serving the table's rows), read from
// /proc/PID/stat of mariadbd: it shares the two cores with the row's client.
//
// The latency rows measure commit → delivered while the source is live:
// ls, bintap's stdout output (a pipe into this process, read line by line),
// and lk, its Kafka output (kfake on a TCP port, consumed by a franz-go
// consumer in this process). For each rate of -latency-rates (default 1,000
// and 5,000 commits/s), writers on 4 connections commit one-row INSERT
// transactions into bench.latency on a fixed schedule, 1 s of warm-up and
// then -latency-measure (5 s) measured, and record when each COMMIT
// returned; bintap runs with --start newest and reads the rows as they come,
// and go-mysql's BinlogSyncer reads the same rows in the same run (the
// floor). Writing starts once every reader has delivered a probe row. A row's
// latency is the time the harness saw its id minus its commit time (one
// monotonic clock); a row not delivered 15 s after the writers stop is
// missing: counted in "delivered", ranked above every delivered row in p50
// and p99, and the run fails as a throughput row does when rows are lost. The
// binlog can reach a reader before the client has its OK, so a latency (the
// floor's, mostly) can be slightly negative. "reached" is the rate the
// writers achieved. Targets: ls p99 <= 25 ms at 1,000 commits/s; lk p99 <=
// 15 ms at 5,000 commits/s asked, judged at the rate reached, which the
// target line prints. The latency rows run once each and add about a minute;
// `-only ls,lk` runs only them (no workload is loaded).
//
// The PostgreSQL rows load into a private PostgreSQL 15 started for the run,
// a new database per run: p, bintap's initial snapshot of the workload table
// (--snapshot initial_only --output postgres://...), next to p0, pgloader
// loading the same table from the same server (Debian's pgloader; its
// command line cannot pick tables, so the two URLs go into a command file
// with INCLUDING ONLY TABLE NAMES MATCHING 'items'; it runs with a 4 GB
// Lisp heap, as its 1 GB default is exhausted by this table). Each run's
// copy is then compared with the source, row by row (id, qty, name, price,
// created). Target: p/p0 >= 1.0.
//
// The merge rows apply a mixed workload of -mix-changes changes (1,000,000:
// inserts, updates and deletes over 200,000 keys of bench.m in transactions
// of 1 to 20 changes, from a fixed seed; mix.go), loaded into the binlog
// after the rows above have run: m, bintap merging it from the binlog into
// PostgreSQL (--start at the workload, --stop-at-end, --snapshot never,
// --tables bench.m, --output postgres://...), next to n, the harness
// applying the same changes as a JDBC-style sink does, one INSERT, UPDATE or
// DELETE by key per change, each a round trip, committed every 500 changes,
// through pgx. After each run the rows that are not deleted (__deleted is
// not true) are compared with the source, row by row (id, ver, qty, name,
// price, updated, note). Targets: m/n >= 10, m >= 100,000 changes/s. With
// -baseline, row m0 runs the older binary as row m, interleaved with it.
// Rows m, m0 and p print bintap's CPU time and PostgreSQL's (its processes'
// times from /proc, before and after the run); row n prints PostgreSQL's.
// `-only m,n,p,p0` runs only the PostgreSQL rows. On 2 CPUs loading the
// mixed workload takes 30-40 s and n 1.5-3 minutes; the four rows add about
// 5 minutes to the run.
//
// Row k streams the workload to kfake (franz-go's Kafka protocol
// implementation) started in this process; it prints bintap's CPU time and
// the broker's (this process's CPU time during the run, which is kfake's).
// -kafka-flags adds bintap flags to row k only (such as "--kafka-compression
// snappy"); with -baseline, row k0 runs the older binary with the default
// flags, in the same run (k/k0). Target: k/c >= 0.8. kfake allocates a
// buffer for each produce request and this process's live heap is about 1
// MB, so at Go's default GOGC (100) most of the broker's CPU is this
// process collecting garbage every 4 MB; -broker-gogc sets this process's
// GOGC while rows k and k0 run (the rows print it when it is not 100).
// Below k/c (and c/a, e/d, i/c) the bench prints the highest ratio the
// cores allow given what the row's run cost: bintap's, the broker's and the
// source MariaDB's CPU seconds spread over every core can finish no sooner
// than their sum divided by the cores, so k/c <= cores × c's seconds / that
// sum. A ratio below its target and near its ceiling is bound by the
// machine's CPU, not by how bintap spreads its work.
// BINTAP_BENCH_CPUPROFILE=PATH writes bintap's profile of run N of row k to
// PATH.k.N (k0: PATH.k0.N) and this process's (the broker's) to
// PATH.k.N.broker.
//
// It exits 0 whether or not bintap meets its target (it is a measurement) and
// non-zero when the harness itself fails or bintap runs and fails.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/bintap/bintap/internal/testutil"
)

// errBintapFailed marks a run in which only the bintap measurement failed.
var errBintapFailed = errors.New("a measurement failed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "bintap-bench:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "bintap-bench:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

type options struct {
	rows        int
	bintap      string
	keep        bool
	runs        int
	rowMetadata string
	verify      bool
	// indexChanges is the size of the index the key-history query runs on.
	indexChanges int
	serverArgs   []string
	// only, when set, names the measurements to run (their keys).
	only map[string]bool
	// interleave runs the measurements round-robin, -runs times.
	interleave bool
	// latencyRates are the commit rates of the latency rows, commits/s.
	latencyRates []int
	// latencyMeasure is how long each latency run is measured.
	latencyMeasure time.Duration
	// baseline is an older bintap binary measured as rows c0, k0, i0, e0 and m0 ("": none).
	baseline string
	// mixChanges is the size of the mixed workload of rows m and n.
	mixChanges int
	// kafkaFlags are extra bintap flags of row k (not k0), such as
	// "--kafka-compression lz4".
	kafkaFlags []string
	// narrow loads the narrow table instead of the wide one.
	narrow bool
	// brokerGOGC is this process's GOGC while rows k and k0 run (the
	// in-process broker's garbage collection).
	brokerGOGC int
}

// keys are the measurements -only accepts: the throughput and PostgreSQL
// rows, then the latency rows.
var keys = []string{"a", "b", "c", "c0", "k", "k0", "i", "i0", "j", "q", "l", "d", "e", "e0", "e1", "f", "p", "p0", "m", "m0", "n", "ls", "lk"}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bintap-bench", flag.ContinueOnError)
	fs.IntVar(&o.rows, "rows", 1_000_000, "rows to insert and then read back")
	fs.StringVar(&o.bintap, "bintap", "bin/bintap", "path of the bintap binary to measure")
	fs.StringVar(&o.baseline, "baseline", "", "path of an older bintap binary: rows c0, k0, i0, e0 and m0 measure it as rows c, k, i, e and m, in the same run (c/c0, i/i0, e/e0 and m/m0 are the change)")
	fs.Func("kafka-flags", "extra bintap flags of row k only (not of k0), space-separated, such as \"--kafka-compression lz4\"", func(v string) error {
		o.kafkaFlags = strings.Fields(v)
		return nil
	})
	fs.IntVar(&o.brokerGOGC, "broker-gogc", 100, "GOGC of this process, which runs the Kafka broker (kfake), while rows k and k0 run (100 is Go's default; the row prints it when changed)")
	fs.BoolVar(&o.keep, "keep", false, "keep the server's directory (data, binlogs, error log) after the run")
	fs.IntVar(&o.runs, "runs", 1, "runs of each measurement; the best is reported")
	fs.StringVar(&o.rowMetadata, "row-metadata", "", "binlog_row_metadata of the server: no_log, minimal or full (default: the server default, NO_LOG in 10.11)")
	fs.IntVar(&o.mixChanges, "mix-changes", 1_000_000, "changes in the mixed workload of rows m and n (over a fifth as many keys)")
	fs.IntVar(&o.indexChanges, "index-changes", 5_000_000, "changes in the index for the primary-key history query (0 skips it)")
	fs.BoolVar(&o.narrow, "narrow", false, "load a narrow table (id, qty, name, price, created: no DOUBLE, TEXT or JSON) instead of the wide one")
	fs.BoolVar(&o.verify, "verify", false, "count bintap's output lines instead of writing them to /dev/null")
	fs.BoolVar(&o.interleave, "interleave", false, "run the measurements round-robin (a b c ... a b c ...) instead of each -runs times in a row")
	fs.Func("only", "run only these measurements, by key: a comma-separated list such as d,e,f (ls,lk: only the latency rows)", func(v string) error {
		o.only = map[string]bool{}
		for _, k := range strings.Split(v, ",") {
			k = strings.TrimSpace(k)
			if !slices.Contains(keys, k) {
				return fmt.Errorf("unknown measurement %q: accepted keys are %s", k, strings.Join(keys, ", "))
			}
			o.only[k] = true
		}
		return nil
	})
	o.latencyRates = []int{1000, 5000}
	fs.Func("latency-rates", "commit rates of the latency rows, commits/s, comma-separated (default 1000,5000)", func(v string) error {
		o.latencyRates = nil
		for _, f := range strings.Split(v, ",") {
			r, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || r < 1 || r > 1_000_000 {
				return fmt.Errorf("%q: want a whole number of commits/s from 1 to 1000000", f)
			}
			o.latencyRates = append(o.latencyRates, r)
		}
		return nil
	})
	fs.DurationVar(&o.latencyMeasure, "latency-measure", 5*time.Second, "how long each latency run is measured, after a warm-up of "+latencyWarmUp.String())
	fs.Func("server-arg", "extra mariadbd argument, such as --max-binlog-size=100M (repeatable)", func(v string) error {
		if !strings.HasPrefix(v, "--") {
			return errors.New("must start with --")
		}
		o.serverArgs = append(o.serverArgs, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if o.rows < 1 {
		return o, fmt.Errorf("%w: -rows %d: must be at least 1", errUsage, o.rows)
	}
	if o.mixChanges < 1 {
		return o, fmt.Errorf("%w: -mix-changes %d: must be at least 1", errUsage, o.mixChanges)
	}
	if o.only != nil && !o.only["i"] {
		o.indexChanges = 0 // the key-history line belongs to the index measurement
	}
	if o.latencyMeasure < time.Second || o.latencyMeasure > time.Hour {
		return o, fmt.Errorf("%w: -latency-measure %s: must be from 1s to 1h", errUsage, o.latencyMeasure)
	}
	if o.brokerGOGC < 1 {
		return o, fmt.Errorf("%w: -broker-gogc %d: must be at least 1", errUsage, o.brokerGOGC)
	}
	if o.runs < 1 {
		return o, fmt.Errorf("%w: -runs %d: must be at least 1", errUsage, o.runs)
	}
	switch strings.ToLower(o.rowMetadata) {
	case "", "no_log", "minimal", "full":
	default:
		return o, fmt.Errorf("%w: -row-metadata %q: accepted values are no_log, minimal and full", errUsage, o.rowMetadata)
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) (err error) {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bintap-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep {
			fmt.Fprintf(out, "kept %s\n", dir)
			return
		}
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = rmErr
		}
	}()

	serverArgs := o.serverArgs
	if o.rowMetadata != "" {
		serverArgs = append(serverArgs, "--binlog-row-metadata="+strings.ToUpper(o.rowMetadata))
	}
	fmt.Fprintf(out, "starting private MariaDB in %s\n", dir)
	srv, err := testutil.StartMariaDB(ctx, testutil.Options{Args: serverArgs, Dir: dir})
	if err != nil {
		return fmt.Errorf("start MariaDB: %w", err)
	}
	defer srv.Stop()
	db, err := srv.Open("")
	if err != nil {
		return err
	}
	defer db.Close()

	var version, rowMeta string
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), @@binlog_row_metadata").Scan(&version, &rowMeta); err != nil {
		return fmt.Errorf("server version: %w", err)
	}

	bintapPath := o.bintap
	if abs, err := filepath.Abs(o.bintap); err == nil {
		bintapPath = abs
	}
	pg := &pgEnv{dir: filepath.Join(dir, "postgres"), keep: o.keep}
	defer pg.stop()
	cName := "bintap stream → /dev/null"
	if o.verify {
		cName = "bintap stream → line counter"
	}
	measurements := []measurement{
		{key: "a", name: "raw transfer (mariadb-binlog --raw)", run: withSourceCPU(rawTransfer)},
		{key: "b", name: "go-mysql BinlogSyncer, generic decode", run: goMySQL},
		{key: "c", name: cName, run: withSourceCPU(bintapStream(bintapPath, o.verify))},
		{key: "k", name: "bintap stream → Kafka (kfake broker in this process)", run: withSourceCPU(bintapKafka(bintapPath, "state-kafka", o.kafkaFlags, o.brokerGOGC))},
		{key: "i", name: "bintap stream → change index (--output index)", run: withSourceCPU(bintapRun(bintapPath, false, "index"))},
		{key: "j", name: "bintap stream → files, JSON lines, 5s windows (--output files://)", run: bintapFiles(bintapPath, "jsonl")},
		{key: "q", name: "bintap stream → files, Parquet, 5s windows", run: bintapFiles(bintapPath, "parquet")},
		{key: "l", name: "bintap load of row j's closed files → PostgreSQL", run: bintapLoad(bintapPath, pg)},
		{key: "d", name: "mariadb-dump --single-transaction --quick → /dev/null", run: withSourceCPU(dumpTable), table: true},
		{key: "e", name: "bintap initial snapshot → /dev/null (default settings)", run: withSourceCPU(bintapSnapshot(bintapPath, o.verify, 0)), table: true},
		{key: "e1", name: "bintap initial snapshot, --snapshot-parallelism 1", run: withSourceCPU(bintapSnapshot(bintapPath, o.verify, 1)), table: true},
		{key: "f", name: "bintap initial snapshot, --snapshot-parallelism 2", run: withSourceCPU(bintapSnapshot(bintapPath, o.verify, 2)), table: true},
		{key: "p", name: "bintap initial snapshot → PostgreSQL (--output postgres://)", run: bintapPostgresLoad(bintapPath, pg), table: true},
		{key: "p0", name: "pgloader mysql:// → postgresql://, this table only", run: pgloaderLoad(pg), table: true},
	}
	if o.baseline != "" {
		base := o.baseline
		if abs, err := filepath.Abs(base); err == nil {
			base = abs
		}
		measurements = slices.Insert(measurements, 3, measurement{key: "c0", name: cName + " (-baseline binary)", run: withSourceCPU(bintapStream(base, o.verify))})
		measurements = slices.Insert(measurements, 5, measurement{key: "k0", name: "bintap stream → Kafka (-baseline binary, default flags)", run: withSourceCPU(bintapKafka(base, "state-kafka0", nil, o.brokerGOGC))})
		for i, m := range measurements {
			if m.key == "i" {
				measurements = slices.Insert(measurements, i+1, measurement{key: "i0", name: "bintap stream → change index (-baseline binary)", run: withSourceCPU(bintapRun(base, false, "index"))})
				break
			}
		}
		for i, m := range measurements {
			if m.key == "e" {
				measurements = slices.Insert(measurements, i+1, measurement{key: "e0", name: "bintap initial snapshot, default settings (-baseline binary)",
					run: withSourceCPU(bintapSnapshot(base, o.verify, 0)), table: true})
				break
			}
		}
	}
	mixed := []measurement{
		{key: "m", name: "bintap stream → PostgreSQL (merge, --output postgres://)", run: bintapPostgresMerge(bintapPath, pg, "m", 4248)},
		{key: "n", name: fmt.Sprintf("pgx: a statement (round trip) per change, %d per transaction", mixBatch), run: pgxStatements(pg), table: true},
	}
	if o.baseline != "" {
		base := o.baseline
		if abs, err := filepath.Abs(base); err == nil {
			base = abs
		}
		mixed = slices.Insert(mixed, 1, measurement{key: "m0", name: "bintap merge → PostgreSQL (-baseline binary)", run: bintapPostgresMerge(base, pg, "m0", 4249)})
	}
	unselected := func(m measurement) bool { return o.only != nil && !o.only[m.key] }
	measurements = slices.DeleteFunc(measurements, unselected)
	mixed = slices.DeleteFunc(mixed, unselected)
	latencies := slices.DeleteFunc(slices.Clone(latencyOutputs), func(l latencyOutput) bool { return o.only != nil && !o.only[l.key] })

	var w *workload // what the throughput rows read
	if len(measurements) > 0 {
		if w, err = loadWorkload(ctx, db, o.rows, o.narrow, out); err != nil {
			return err
		}
		w.port, w.tmpDir, w.db = srv.Port, dir, db
	}
	results, failed, err := measureAll(ctx, o, measurements, w, out)
	if err != nil {
		return err
	}
	// The mixed workload goes into the binlog after the rows above have
	// read it (c reads to the end of the binlog as of its start).
	var mw *workload // what rows m and n apply
	var mix mixStats
	var mixResults map[string]result
	if len(mixed) > 0 {
		if mw, mix, err = loadMix(ctx, db, o.mixChanges, out); err != nil {
			return fmt.Errorf("mixed workload: %w", err)
		}
		mw.port, mw.tmpDir, mw.db = srv.Port, dir, db
		var mixFailed bool
		if mixResults, mixFailed, err = measureAll(ctx, o, mixed, mw, out); err != nil {
			return err
		}
		failed = failed || mixFailed
	}
	var hist historyResult
	var histErr error
	if o.indexChanges > 0 {
		fmt.Fprintf(out, "measuring primary-key history on an index of %d changes (building it)...\n", o.indexChanges)
		hist, histErr = keyHistory(ctx, dir, o.indexChanges, 1000)
	}
	latencyResults := map[string][]latencyResult{}
	latencyMissing := ""
	if len(latencies) > 0 {
		latencyMissing = bintapMissing(bintapPath)
	}
	if len(latencies) > 0 && latencyMissing == "" {
		for _, q := range []string{"CREATE DATABASE IF NOT EXISTS bench", createLatencyTable} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("latency table: %w", err)
			}
		}
		le := &latencyEnv{db: db, port: srv.Port, dir: dir, binary: bintapPath, measure: o.latencyMeasure}
		for _, l := range latencies {
			for _, rate := range o.latencyRates {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				fmt.Fprintf(out, "measuring latency (%s) %s at %d commits/s...\n", l.key, l.name, rate)
				r := le.measureLatency(ctx, l, rate)
				latencyResults[l.key] = append(latencyResults[l.key], r)
				if r.err != nil {
					failed = true
					fmt.Fprintf(out, "(%s) at %d commits/s failed: %v\n", l.key, rate, r.err)
				}
				if lost := r.bintap.written - r.bintap.delivered; lost > 0 {
					failed = true // like a throughput row that wrote fewer lines than rows
					fmt.Fprintf(out, "(%s) at %d commits/s: %d of %d rows not delivered within %s\n", l.key, rate, lost, r.bintap.written, latencyDrain)
				}
				if r.detail != "" {
					fmt.Fprintf(out, "--- output of (%s) at %d commits/s ---\n%s\n--- end ---\n", l.key, rate, tail(r.detail, 8000))
				}
			}
		}
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "machine: %d CPUs (%s), %s %s/%s; MariaDB %s, binlog_row_metadata=%s\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH, version, rowMeta)
	if w != nil {
		printReport(out, o, w, measurements, results)
	}
	if mw != nil {
		printMixReport(out, o, mw, mix, mixed, mixResults)
	}
	switch {
	case histErr != nil:
		failed = true
		fmt.Fprintf(out, "\nprimary-key history measurement failed: %v\n", histErr)
	case o.indexChanges > 0:
		printHistory(out, hist)
	}
	switch {
	case latencyMissing != "":
		fmt.Fprintf(out, "\nlatency rows: not available: %s\n", latencyMissing)
	case len(latencies) > 0:
		printLatency(out, o.latencyMeasure, latencies, latencyResults)
	}
	if failed {
		return errBintapFailed
	}
	return nil
}

// loadWorkload loads the rows the throughput rows read and closes the
// binlog files that hold them.
func loadWorkload(ctx context.Context, db *sql.DB, rows int, narrow bool, out io.Writer) (*workload, error) {
	table := "wide"
	if narrow {
		table = "narrow"
	}
	fmt.Fprintf(out, "loading %d rows into the %s table\n", rows, table)
	ls, err := loadRows(ctx, db, rows, narrow)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if _, err := db.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
		return nil, fmt.Errorf("flush binary logs: %w", err)
	}
	w, err := binlogFiles(ctx, db, "")
	if err != nil {
		return nil, err
	}
	w.rows = rows
	fmt.Fprintf(out, "loaded %d rows in %.2fs (%.0f rows/s); binlog %s in %d file(s)\n",
		ls.rows, ls.duration.Seconds(), float64(ls.rows)/ls.duration.Seconds(), humanBytes(w.bytes), len(w.files))
	settled := settle(ctx, db)
	fmt.Fprintf(out, "server settled in %.2fs (its dirty pages flushed, the files written to disk)\n\n", settled.Seconds())
	return w, nil
}

// settle waits until the load's writes are done: the server's dirty pages
// flushed (for at most 30s) and the files written to disk, so that the
// background writing of the load does not slow the first measurements
// (row a, first in each round, took twice its time while the kernel wrote
// the binlog it had just loaded).
func settle(ctx context.Context, db *sql.DB) time.Duration {
	start := time.Now()
	var pct string
	if db.QueryRowContext(ctx, "SELECT @@innodb_max_dirty_pages_pct").Scan(&pct) == nil {
		if _, err := db.ExecContext(ctx, "SET GLOBAL innodb_max_dirty_pages_pct = 0"); err == nil {
			defer db.ExecContext(ctx, "SET GLOBAL innodb_max_dirty_pages_pct = "+pct)
			for time.Since(start) < 30*time.Second && ctx.Err() == nil {
				var name string
				var dirty int64
				if db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'").Scan(&name, &dirty) != nil || dirty == 0 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	syscall.Sync()
	return time.Since(start)
}

// measureAll runs the measurements on w, -runs times each (round-robin
// with -interleave), and reports each failure as it comes. It returns the
// best run of each and whether any failed; the error is the context's.
func measureAll(ctx context.Context, o options, ms []measurement, w *workload, out io.Writer) (map[string]result, bool, error) {
	results := make(map[string]result, len(ms))
	failed := false
	if o.interleave {
		// Round-robin: a burst of load from elsewhere on a shared machine
		// then slows one run of each measurement, not all runs of one.
		for i := 0; i < o.runs && ctx.Err() == nil; i++ {
			for _, m := range ms {
				if prev, ok := results[m.key]; ok && !prev.ok() {
					continue
				}
				r := m.run(ctx, w)
				if r.ok() {
					fmt.Fprintf(out, "(%s) run %d: %s\n", m.key, i+1, runLine(r))
				}
				// Keep the fastest run, with the highest peak RSS of all runs.
				prev, ok := results[m.key]
				peak := max(prev.rss, r.rss)
				if !ok || !r.ok() || r.elapsed < prev.elapsed {
					prev = r
				}
				prev.rss = peak
				results[m.key] = prev
			}
		}
	}
	for _, m := range ms {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		r, ok := results[m.key]
		if !ok {
			fmt.Fprintf(out, "measuring (%s) %s...\n", m.key, m.name)
			r = best(ctx, m, w, o.runs, out)
			results[m.key] = r
		}
		if r.err != nil {
			failed = true
			fmt.Fprintf(out, "(%s) failed: %v\n", m.key, r.err)
			if r.detail != "" {
				fmt.Fprintf(out, "--- output of (%s) ---\n%s\n--- end ---\n", m.key, tail(r.detail, 8000))
			}
		}
	}
	return results, failed, nil
}

// binlogFiles lists the closed binlog files after FLUSH BINARY LOGS, from
// the file named from on ("": all of them).
func binlogFiles(ctx context.Context, db *sql.DB, from string) (*workload, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, fmt.Errorf("show binary logs: %w", err)
	}
	defer rows.Close()
	type file struct {
		name string
		size int64
	}
	var files []file
	cols, _ := rows.Columns()
	for rows.Next() {
		var f file
		dest := []any{&f.name, &f.size}
		for len(dest) < len(cols) {
			dest = append(dest, new(sql.RawBytes))
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("show binary logs: %w", err)
		}
		files = append(files, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("show binary logs: %w", err)
	}
	if len(files) < 2 {
		return nil, fmt.Errorf("show binary logs: %d file(s) after FLUSH BINARY LOGS, want at least 2", len(files))
	}
	w := &workload{activeFile: files[len(files)-1].name}
	for _, f := range files[:len(files)-1] {
		if f.name < from { // names end in a zero-padded sequence number
			continue
		}
		w.files = append(w.files, f.name)
		w.bytes += f.size
	}
	return w, nil
}

func printReport(out io.Writer, o options, w *workload, ms []measurement, rs map[string]result) {
	table := "wide table"
	if o.narrow {
		table = "narrow table"
	}
	fmt.Fprintf(out, "workload: %d rows, %s, binlog %s (%d bytes, %.0f bytes/row); best of %d run(s)\n\n",
		w.rows, table, humanBytes(w.bytes), w.bytes, float64(w.bytes)/float64(w.rows), o.runs)

	printTable(out, w, ms, rs, "rows")
	compare(out, rs, "c", "b", "bintap vs go-mysql", 1)
	compare(out, rs, "c", "c0", "this binary vs the -baseline binary", 0)
	compare(out, rs, "k", "k0", "row k vs the -baseline binary's, to Kafka", 0)
	compare(out, rs, "c", "a", "bintap vs raw transfer", 0.85)
	coreBound(out, rs, "c", "a")
	compare(out, rs, "k", "c", "Kafka vs /dev/null; the gap is producing and the broker, which shares the CPUs", 0.8)
	coreBound(out, rs, "k", "c")
	compare(out, rs, "e", "d", "bintap snapshot vs mariadb-dump", 1.5)
	coreBound(out, rs, "e", "d")
	compare(out, rs, "e0", "d", "the -baseline binary's snapshot vs mariadb-dump", 0)
	compare(out, rs, "e", "e0", "this binary's snapshot vs the -baseline binary's", 0)
	compare(out, rs, "e1", "d", "bintap snapshot on 1 connection vs mariadb-dump", 0)
	compare(out, rs, "f", "d", "bintap snapshot on 2 connections vs mariadb-dump", 1)
	compare(out, rs, "p", "p0", "bintap initial load into PostgreSQL vs pgloader", 1)
	rateTarget(out, rs, "i", "change index ingest", 400_000, "rows", "c")
	compare(out, rs, "i", "c", "change index vs /dev/null", 0.5)
	coreBound(out, rs, "i", "c")
	compare(out, rs, "i0", "c0", "the -baseline binary's change index vs its /dev/null", 0)
	compare(out, rs, "i", "i0", "this binary's change index vs the -baseline binary's", 0)
	compare(out, rs, "j", "c", "files (JSON lines) vs /dev/null", 0.8)
	compare(out, rs, "q", "c", "files (Parquet) vs /dev/null", 0.5)
}

// printMixReport prints the rows of the mixed workload.
func printMixReport(out io.Writer, o options, w *workload, st mixStats, ms []measurement, rs map[string]result) {
	fmt.Fprintf(out, "\nmixed workload: %d changes (%d inserts, %d updates, %d deletes) over %d keys in %d transactions of 1-%d changes, %d rows at the end; binlog %s (%.0f bytes/change); best of %d run(s)\n\n",
		w.rows, st.counts[mixInsert], st.counts[mixUpdate], st.counts[mixDelete], st.keys, st.txs, mixMaxTx, st.live,
		humanBytes(w.bytes), float64(w.bytes)/float64(w.rows), o.runs)
	printTable(out, w, ms, rs, "changes")
	compare(out, rs, "m", "n", "bintap merge vs a statement per change", 10)
	compare(out, rs, "m", "m0", "this binary vs the -baseline binary", 0)
	rateTarget(out, rs, "m", "merge into PostgreSQL", 100_000, "changes", "n")
}

// printTable prints a line per measurement: how many it did per second,
// and the binlog it read per second unless it does not read the binlog.
func printTable(out io.Writer, w *workload, ms []measurement, rs map[string]result, unit string) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tmeasurement\t%s\tseconds\t%s/s\tbinlog MB/s\tpeak RSS MB\t\n", unit, unit)
	for _, m := range ms {
		r := rs[m.key]
		switch {
		case r.unavailable != "":
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\tnot available: %s\n", m.key, m.name, r.unavailable)
		case r.err != nil:
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\tfailed: %v\n", m.key, m.name, r.err)
		case m.table: // reads the table, not the binlog
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%.0f\t-\t%s\t\n", m.key, m.name, r.rows, r.elapsed.Seconds(), r.rate(), rssMB(r))
		default:
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%.0f\t%.1f\t%s\t\n", m.key, m.name, r.rows, r.elapsed.Seconds(),
				r.rate(), float64(w.bytes)/1e6/r.elapsed.Seconds(), rssMB(r))
		}
	}
	tw.Flush()
	fmt.Fprintln(out)
}

// rssMB is the peak RSS column: the highest of the runs of a measurement
// ("-" for one measured inside this process).
func rssMB(r result) string {
	if r.rss <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(r.rss)/(1<<20))
}

// compare prints x/y, and whether it meets target when target > 0, only
// when both measurements ran and succeeded.
func compare(out io.Writer, rs map[string]result, x, y, what string, target float64) {
	rx, okx := rs[x]
	ry, oky := rs[y]
	if !okx || !oky || !rx.ok() || !ry.ok() || ry.rate() == 0 {
		return
	}
	r := rx.rate() / ry.rate()
	cpu := ""
	if rx.cpu > 0 && ry.cpu > 0 && rx.rows > 0 && ry.rows > 0 {
		// The same ratio from CPU time per row: steadier on a busy machine.
		cpu = fmt.Sprintf(" (by CPU time per row: %.2f)", (ry.cpu.Seconds()/float64(ry.rows))/(rx.cpu.Seconds()/float64(rx.rows)))
	}
	fmt.Fprintf(out, "%s/%s (%s): %.2f%s\n", x, y, what, r, cpu)
	if target > 0 {
		fmt.Fprintf(out, "target %s/%s >= %g: %s\n", x, y, target, verdict(r >= target))
	}
}

// coreBound prints the highest x/y the machine's cores allow given the CPU
// time x's run took: x's processes (bintap, the broker, the source MariaDB)
// cannot finish faster than their CPU time spread over every core, so x/y
// <= cores × y's seconds / x's CPU seconds, whatever x's parallelism. It
// prints nothing when x's CPU is not known.
func coreBound(out io.Writer, rs map[string]result, x, y string) {
	rx, okx := rs[x]
	ry, oky := rs[y]
	if !okx || !oky || !rx.ok() || !ry.ok() || rx.cpu == 0 || rx.rows != ry.rows {
		return
	}
	total := rx.cpu + rx.brokerCPU + rx.sourceCPU
	parts := fmt.Sprintf("bintap %.2fs", rx.cpu.Seconds())
	if rx.brokerCPU > 0 {
		parts += fmt.Sprintf(" + broker %.2fs", rx.brokerCPU.Seconds())
	}
	if rx.sourceCPU > 0 {
		parts += fmt.Sprintf(" + MariaDB %.2fs", rx.sourceCPU.Seconds())
	}
	cores := runtime.NumCPU()
	fmt.Fprintf(out, "%s/%s ceiling from %s's CPU (%s over %d cores): %.2f\n", x, y, x, parts, cores,
		float64(cores)*ry.elapsed.Seconds()/total.Seconds())
}

// rateTarget prints whether x reached min units/s, and x/y, when x ran and
// succeeded.
func rateTarget(out io.Writer, rs map[string]result, x, what string, min float64, unit, y string) {
	if rx, ok := rs[x]; ok && rx.ok() {
		fmt.Fprintf(out, "target %s (%s) >= %.0f %s/s: %s (%s/%s %s)\n", x, what, min, unit, verdict(rx.rate() >= min), x, y, ratio(rx, rs[y]))
	}
}

func verdict(met bool) string {
	if met {
		return "MET"
	}
	return "NOT MET"
}

func ratio(x, y result) string {
	if !x.ok() || !y.ok() || y.rate() == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", x.rate()/y.rate())
}

func humanBytes(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// cpuModel is the CPU model from /proc/cpuinfo, or "unknown CPU".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

// tail is the end of s, at most n bytes, without a trailing newline.
func tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
