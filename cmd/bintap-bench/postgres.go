package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/testutil"
)

// The PostgreSQL rows load into a private PostgreSQL started for the run
// (testutil.StartPostgres: its own data directory and port, fsync off), one
// new database per run, dropped after the run is verified (-keep keeps them):
//
//	p   bintap --snapshot initial_only --output postgres://... (the workload table)
//	p0  pgloader, the same table, from the same server
//	m   bintap merging the mixed workload from the binlog (mix.go)
//	n   the same changes, one statement per change through pgx (mix.go)

// pgEnv is the private PostgreSQL, started by the first row that needs it.
type pgEnv struct {
	dir     string // where its files go
	keep    bool   // keep each run's database
	srv     *testutil.Postgres
	err     error // why it did not start
	started bool
	dbs     int // databases made so far
}

// server starts the server on first use; a start that failed is not retried.
func (e *pgEnv) server(ctx context.Context) (*testutil.Postgres, error) {
	if !e.started {
		e.started = true
		if e.err = os.MkdirAll(e.dir, 0o755); e.err == nil {
			e.srv, e.err = testutil.StartPostgres(ctx, e.dir)
		}
		if e.err != nil {
			e.err = fmt.Errorf("start PostgreSQL: %w", e.err)
		}
	}
	return e.srv, e.err
}

// cpu is the CPU time (user + system) the server's processes have used so
// far: the postmaster's own and its reaped children's (from its
// /proc/PID/stat), plus each live child's; 0 when it cannot be read.
func (e *pgEnv) cpu() time.Duration {
	if e.srv == nil {
		return 0
	}
	raw, err := os.ReadFile(filepath.Join(e.srv.DataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _, _ := strings.Cut(string(raw), "\n")
	ticks, ok := procTicks(strings.TrimSpace(pid), true)
	if !ok {
		return 0
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		if parent, ok := procParent(p.Name()); ok && parent == strings.TrimSpace(pid) {
			if t, ok := procTicks(p.Name(), false); ok {
				ticks += t
			}
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// cpuSince is the server's CPU time since before (a cpu reading), once the
// backends of the run just ended have exited; 0 when unknown.
func (e *pgEnv) cpuSince(before time.Duration) time.Duration {
	if before == 0 {
		return 0
	}
	time.Sleep(300 * time.Millisecond) // the run's backend exits after its client
	if now := e.cpu(); now > before {
		return now - before
	}
	return 0
}

// procStat is the fields of /proc/PID/stat after the command name.
func procStat(pid string) ([]string, bool) {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(raw[i+1:])), true
}

func procParent(pid string) (string, bool) {
	f, ok := procStat(pid)
	if !ok || len(f) < 2 {
		return "", false
	}
	return f[1], true
}

// procTicks is utime + stime of a process (and its reaped children's with
// children), in clock ticks.
func procTicks(pid string, children bool) (int64, bool) {
	f, ok := procStat(pid)
	if !ok || len(f) < 15 {
		return 0, false
	}
	n := 2 // fields 14-17 of stat, counted from the state (field 3)
	if children {
		n = 4
	}
	var sum int64
	for _, s := range f[11 : 11+n] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		sum += v
	}
	return sum, true
}

func (e *pgEnv) stop() {
	if e.srv != nil {
		e.srv.Stop()
	}
}

// freshDB starts the server if needed and creates an empty database named
// for the row. It returns the database's name, a handle on it and a cleanup
// that closes the handle and drops the database (unless -keep).
func (e *pgEnv) freshDB(ctx context.Context, row string) (string, *sql.DB, func(), error) {
	srv, err := e.server(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	e.dbs++
	name := fmt.Sprintf("bench_%s_%d", row, e.dbs)
	admin, err := srv.Open("postgres")
	if err != nil {
		return "", nil, nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, nil, fmt.Errorf("create database %s: %w", name, err)
	}
	db, err := srv.Open(name)
	if err != nil {
		admin.Close()
		return "", nil, nil, err
	}
	cleanup := func() {
		db.Close()
		if !e.keep {
			// Bounded: a drop that hangs must not hang the benchmark.
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, _ = admin.ExecContext(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			cancel()
		}
		admin.Close()
	}
	return name, db, cleanup, nil
}

// findTable returns the quoted schema.table of the one table in db named
// name, in any schema but the system ones.
func findTable(ctx context.Context, db *sql.DB, name string) (string, error) {
	rows, err := db.QueryContext(ctx, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`)
	if err != nil {
		return "", fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var all, found []string
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			return "", fmt.Errorf("list tables: %w", err)
		}
		all = append(all, schema+"."+table)
		if table == name {
			found = append(found, pgIdent(schema)+"."+pgIdent(table))
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("list tables: %w", err)
	}
	if len(found) != 1 {
		return "", fmt.Errorf("want one table named %s, found %d; the database holds [%s]",
			name, len(found), strings.Join(all, ", "))
	}
	return found[0], nil
}

func pgIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// liveRows is the WHERE clause that keeps the rows of a bintap target table,
// aliased t, that are not deleted: with soft deletes (the default) a deleted row stays,
// with __deleted true. It is empty when the table has no __deleted column.
func liveRows(ctx context.Context, db *sql.DB, table string) (string, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_attribute
		WHERE attrelid = $1::regclass AND attname = '__deleted' AND NOT attisdropped`, table).Scan(&n)
	if err != nil {
		return "", fmt.Errorf("columns of %s: %w", table, err)
	}
	if n == 0 {
		return "", nil
	}
	return " WHERE t.__deleted IS NOT TRUE", nil
}

// sameRows reads two queries that return the same columns ordered by the
// key (the first column) and compares them value by value, as text; it
// returns the number of rows, or an error naming the first difference.
func sameRows(ctx context.Context, src *sql.DB, srcQuery string, dst *sql.DB, dstQuery string) (int64, error) {
	a, err := src.QueryContext(ctx, srcQuery)
	if err != nil {
		return 0, fmt.Errorf("read source: %w", err)
	}
	defer a.Close()
	b, err := dst.QueryContext(ctx, dstQuery)
	if err != nil {
		return 0, fmt.Errorf("read target: %w", err)
	}
	defer b.Close()
	cols, err := a.Columns()
	if err != nil {
		return 0, err
	}
	if bc, err := b.Columns(); err != nil || len(bc) != len(cols) {
		return 0, fmt.Errorf("target query returns %d columns, source %d (%v)", len(bc), len(cols), err)
	}
	av, bv := make([]sql.NullString, len(cols)), make([]sql.NullString, len(cols))
	scan := func(r *sql.Rows, v []sql.NullString) (bool, error) {
		if !r.Next() {
			return false, r.Err()
		}
		dest := make([]any, len(v))
		for i := range v {
			dest[i] = &v[i]
		}
		return true, r.Scan(dest...)
	}
	var n int64
	for {
		okA, err := scan(a, av)
		if err != nil {
			return n, fmt.Errorf("read source: %w", err)
		}
		okB, err := scan(b, bv)
		if err != nil {
			return n, fmt.Errorf("read target: %w", err)
		}
		switch {
		case !okA && !okB:
			return n, nil
		case !okB:
			return n, fmt.Errorf("target has %d rows, source more: first missing %s", n, showRow(cols, av))
		case !okA:
			return n, fmt.Errorf("source has %d rows, target more: first extra %s", n, showRow(cols, bv))
		}
		for i := range av {
			if av[i] != bv[i] {
				return n, fmt.Errorf("row %d differs: source %s, target %s", n+1, showRow(cols, av), showRow(cols, bv))
			}
		}
		n++
	}
}

func showRow(cols []string, v []sql.NullString) string {
	parts := make([]string, len(v))
	for i, x := range v {
		s := "NULL"
		if x.Valid {
			s = strconv.Quote(x.String)
		}
		parts[i] = cols[i] + "=" + s
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// copyCheck says how a PostgreSQL copy of a source table is compared with
// the source: the rows of source, ordered by the key, with the same columns
// of the copy, as PostgreSQL text, from the table aliased t (so that ORDER
// BY t.id orders by the number, not by the text of the output column id).
type copyCheck struct {
	table   string // the copy's name; bintap (--target-table {database}.{table}) and pgloader put it in schema bench
	source  string
	columns string
}

var (
	itemsCopy = copyCheck{table: "items",
		source:  "SELECT id, qty, name, price, created FROM bench.items ORDER BY id",
		columns: "t.id::text, t.qty::text, t.name::text, t.price::text, " + pgDateTime6("t.created")}
	mixCopy = copyCheck{table: "m",
		source:  "SELECT id, ver, qty, name, price, updated, note FROM bench.m ORDER BY id",
		columns: "t.id::text, t.ver::text, t.qty::text, t.name::text, t.price::text, " + pgDateTime6("t.updated") + ", t.note::text"}
)

// pgDateTime6 is the SQL that prints a timestamp column as MariaDB prints a
// DATETIME(6) (the server's time zone is UTC, should the column be a
// timestamptz, as pgloader makes it).
func pgDateTime6(col string) string { return "to_char(" + col + ", 'YYYY-MM-DD HH24:MI:SS.US')" }

// verify compares the rows of the copy in db that are not deleted with the
// rows of the source in src.
func (c copyCheck) verify(ctx context.Context, src, db *sql.DB) error {
	table, err := findTable(ctx, db, c.table)
	if err != nil {
		return err
	}
	where, err := liveRows(ctx, db, table)
	if err != nil {
		return err
	}
	if _, err := sameRows(ctx, src, c.source, db, "SELECT "+c.columns+" FROM "+table+" AS t"+where+" ORDER BY t.id"); err != nil {
		return fmt.Errorf("verify %s: %w", table, err)
	}
	return nil
}

// bintapIntoPostgres measures the bintap binary run with flags(w) and
// --output a new database of pg named for row, then checks the copy there.
func bintapIntoPostgres(binary string, pg *pgEnv, row string, serverID int, check copyCheck, flags func(w *workload) []string) func(ctx context.Context, w *workload) result {
	return func(ctx context.Context, w *workload) result {
		if why := bintapMissing(binary); why != "" {
			return result{unavailable: why}
		}
		name, db, cleanup, err := pg.freshDB(ctx, row)
		if err != nil {
			return result{err: err}
		}
		defer cleanup()
		cmd, err := bintapCommand(ctx, binary, w.port, serverID, filepath.Join(w.tmpDir, "state-pg-"+row),
			append(flags(w), "--output", pg.srv.DSN(name))...)
		if err != nil {
			return result{err: err}
		}
		if p := os.Getenv("BINTAP_BENCH_CPUPROFILE"); p != "" {
			cmd.Env = append(os.Environ(), "BINTAP_CPUPROFILE="+p+"."+row)
		}
		pg0 := pg.cpu()
		_, elapsed, r := timeRun(cmd, false, "bintap stream")
		if r.err != nil {
			return r
		}
		pgCPU := pg.cpuSince(pg0)
		if err := check.verify(ctx, w.db, db); err != nil {
			return result{err: err}
		}
		return result{rows: int64(w.rows), elapsed: elapsed, rss: peakRSS(cmd), cpu: r.cpu, serverCPU: pgCPU}
	}
}

// bintapPostgresLoad measures bintap's initial snapshot of the workload
// table into an empty PostgreSQL database (--snapshot initial_only
// --output postgres://...).
func bintapPostgresLoad(binary string, pg *pgEnv) func(ctx context.Context, w *workload) result {
	return bintapIntoPostgres(binary, pg, "p", 4247, itemsCopy, func(*workload) []string {
		return []string{"--snapshot", "initial_only", "--tables", "bench.items"}
	})
}

// pgloaderHeapMB is the Lisp heap pgloader gets (SBCL's --dynamic-space-size,
// MB). Debian's build has 1 GB, which its default batching (prefetch rows =
// 100000) exhausts on the 1,000,000-row table ("Heap exhausted, game over").
const pgloaderHeapMB = 4096

func pgloaderLoad(pg *pgEnv) func(ctx context.Context, w *workload) result {
	return func(ctx context.Context, w *workload) result {
		bin, err := exec.LookPath("pgloader")
		if err != nil {
			return result{unavailable: "pgloader not found (make setup installs Debian's pgloader)"}
		}
		name, db, cleanup, err := pg.freshDB(ctx, "p0")
		if err != nil {
			return result{err: err}
		}
		defer cleanup()
		dir := filepath.Join(w.tmpDir, "pgloader")
		if err := os.RemoveAll(dir); err != nil {
			return result{err: err}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return result{err: err}
		}
		load := filepath.Join(dir, "items.load")
		command := fmt.Sprintf("LOAD DATABASE\n  FROM mysql://root@127.0.0.1:%d/bench\n  INTO %s\n  INCLUDING ONLY TABLE NAMES MATCHING 'items';\n",
			w.port, pg.srv.DSN(name))
		if err := os.WriteFile(load, []byte(command), 0o644); err != nil {
			return result{err: err}
		}
		cmd := timed(exec.CommandContext(ctx, bin, "--dynamic-space-size", strconv.Itoa(pgloaderHeapMB),
			"--root-dir", dir, "--logfile", filepath.Join(dir, "pgloader.log"), load))
		var output bytes.Buffer
		cmd.Stdout, cmd.Stderr = &output, &output
		start := time.Now()
		err = cmd.Run()
		elapsed := time.Since(start)
		if err != nil {
			return result{err: fmt.Errorf("pgloader: %w", err), detail: output.String()}
		}
		if err := itemsCopy.verify(ctx, w.db, db); err != nil {
			return result{err: err, detail: output.String()}
		}
		return result{rows: int64(w.rows), elapsed: elapsed, rss: peakRSS(cmd)}
	}
}
