package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// workload is what every measurement reads: the binlog files the load wrote,
// closed by FLUSH BINARY LOGS.
type workload struct {
	rows       int      // row changes written
	port       int      // private server's TCP port
	files      []string // closed binlog files holding the workload, oldest first
	activeFile string   // the file opened by the flush; reading stops there
	bytes      int64    // total size of files
	tmpDir     string   // scratch space for outputs and state
	db         *sql.DB  // the private server, for checking what a row loaded
	start      string   // FILE:POS where the workload begins ("": the oldest binlog)
}

// measurement is one row of the result table. Adding a row (Kafka sink,
// snapshot, index) means adding one value to the list in main.
type measurement struct {
	key  string // short name used in ratios: "a", "b", "c"
	name string
	run  func(ctx context.Context, w *workload) result
	// table: it reads the workload table, not the binlog (no binlog MB/s).
	table bool
}

// result is the outcome of one run of a measurement.
type result struct {
	rows        int64
	elapsed     time.Duration
	cpu         time.Duration // user + system CPU time of the measured process, when known
	serverCPU   time.Duration // the same of the database server it wrote to, when known
	sourceCPU   time.Duration // the same of the source MariaDB during the run, when known
	brokerCPU   time.Duration // the same of the Kafka broker (kfake) it wrote to, when known
	brokerGOGC  int           // the broker process's GOGC during the run (-broker-gogc)
	unavailable string        // set when the measured thing does not exist (yet)
	err         error         // set when it ran and failed
	detail      string        // captured output worth showing on failure
	// rss is the peak resident set of the measured process in bytes (0:
	// not measured, such as go-mysql in this process); the best result of
	// several runs carries the highest of them.
	rss int64
}

// cpuNote is ", N.NNs CPU" when the CPU time is known.
func (r result) cpuNote() string {
	s := ""
	if r.cpu > 0 {
		s = fmt.Sprintf(", %.2fs CPU", r.cpu.Seconds())
	}
	if r.serverCPU > 0 {
		s += fmt.Sprintf(", PostgreSQL %.2fs CPU", r.serverCPU.Seconds())
	}
	if r.brokerCPU > 0 && r.brokerGOGC != 100 {
		s += fmt.Sprintf(", broker (kfake, GOGC %d) %.2fs CPU", r.brokerGOGC, r.brokerCPU.Seconds())
	} else if r.brokerCPU > 0 {
		s += fmt.Sprintf(", broker (kfake) %.2fs CPU", r.brokerCPU.Seconds())
	}
	if r.sourceCPU > 0 {
		s += fmt.Sprintf(", MariaDB %.2fs CPU", r.sourceCPU.Seconds())
	}
	return s
}

// sourceTicks is the CPU time (user + system) the private MariaDB has used
// so far, from /proc/PID/stat; 0 when it cannot be read.
func sourceTicks(w *workload) time.Duration {
	raw, err := os.ReadFile(filepath.Join(w.tmpDir, "mysqld.pid"))
	if err != nil {
		return 0
	}
	t, ok := procTicks(strings.TrimSpace(string(raw)), false)
	if !ok {
		return 0
	}
	return time.Duration(t) * time.Second / 100 // USER_HZ
}

// withSourceCPU wraps a table row's run: the result carries the MariaDB
// server's CPU time during the run (it serves the rows, on the same cores).
func withSourceCPU(run func(ctx context.Context, w *workload) result) func(ctx context.Context, w *workload) result {
	return func(ctx context.Context, w *workload) result {
		before := sourceTicks(w)
		r := run(ctx, w)
		if after := sourceTicks(w); before > 0 && after > before {
			r.sourceCPU = after - before
		}
		return r
	}
}

// timeBinary is GNU time, which reports a command's peak RSS.
const timeBinary = "/usr/bin/time"

// rssFiles maps a command run through GNU time to the file it writes the
// peak RSS (KB) to.
var rssFiles sync.Map

// timed makes cmd run through GNU time (when installed) so that peakRSS can
// report its peak RSS. The rusage Go's os/exec returns cannot: Go starts a
// child with vfork (CLONE_VM), and Linux carries the parent's peak RSS into
// the child's across exec, so a child of a large harness would read as
// large as the harness.
func timed(cmd *exec.Cmd) *exec.Cmd {
	if _, err := os.Stat(timeBinary); err != nil {
		return cmd
	}
	f, err := os.CreateTemp("", "bintap-bench-rss-")
	if err != nil {
		return cmd
	}
	f.Close()
	cmd.Args = append([]string{timeBinary, "-f", "%M", "-o", f.Name(), cmd.Path}, cmd.Args[1:]...)
	cmd.Path = timeBinary
	rssFiles.Store(cmd, f.Name())
	return cmd
}

// peakRSS is the peak resident set of cmd's process (run through timed),
// which has exited; 0 when unknown.
func peakRSS(cmd *exec.Cmd) int64 {
	name, ok := rssFiles.LoadAndDelete(cmd)
	if !ok {
		return 0
	}
	defer os.Remove(name.(string))
	raw, err := os.ReadFile(name.(string))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(raw))
	if len(fields) == 0 {
		return 0
	}
	kb, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err != nil {
		return 0
	}
	return kb * 1024
}

// runLine is how one run is reported: its time, rate and peak RSS.
func runLine(r result) string {
	s := fmt.Sprintf("%.3fs (%.0f rows/s)", r.elapsed.Seconds(), r.rate())
	if r.rss > 0 {
		s += fmt.Sprintf(", peak RSS %.1f MB", float64(r.rss)/(1<<20))
	}
	return s + r.cpuNote()
}

func (r result) ok() bool { return r.unavailable == "" && r.err == nil }

func (r result) rate() float64 {
	if !r.ok() || r.elapsed <= 0 {
		return 0
	}
	return float64(r.rows) / r.elapsed.Seconds()
}

// best runs m k times and keeps the fastest successful run; it stops at the
// first run that is unavailable or fails.
func best(ctx context.Context, m measurement, w *workload, k int, log io.Writer) result {
	var b result
	for i := 0; i < k; i++ {
		r := m.run(ctx, w)
		if !r.ok() {
			return r
		}
		if k > 1 { // every run, for medians and spread on a shared machine
			fmt.Fprintf(log, "  run %d: %s\n", i+1, runLine(r))
		}
		peak := max(b.rss, r.rss)
		if i == 0 || r.elapsed < b.elapsed {
			b = r
		}
		b.rss = peak
	}
	return b
}

// rawTransfer measures mariadb-binlog copying the binlog files verbatim over
// the replication protocol: the floor any reader pays for the bytes.
func rawTransfer(ctx context.Context, w *workload) result {
	bin, err := exec.LookPath("mariadb-binlog")
	if err != nil {
		if bin, err = exec.LookPath("mysqlbinlog"); err != nil {
			return result{unavailable: "mariadb-binlog not found"}
		}
	}
	out := filepath.Join(w.tmpDir, "raw")
	if err := os.RemoveAll(out); err != nil {
		return result{err: err}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return result{err: err}
	}
	args := []string{"--no-defaults", "--read-from-remote-server", "--raw",
		"--host=127.0.0.1", "--port=" + strconv.Itoa(w.port), "--user=root",
		"--result-file=" + out + string(os.PathSeparator)}
	args = append(args, w.files...)
	cmd := timed(exec.CommandContext(ctx, bin, args...))
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return result{err: fmt.Errorf("%s: %w", bin, err), detail: stderr.String()}
	}
	var got int64
	for _, f := range w.files {
		st, err := os.Stat(filepath.Join(out, f))
		if err != nil {
			return result{err: fmt.Errorf("raw copy: %w", err), detail: stderr.String()}
		}
		got += st.Size()
	}
	if got != w.bytes {
		return result{err: fmt.Errorf("raw copy holds %d bytes, binlog has %d", got, w.bytes)}
	}
	_ = os.RemoveAll(out)
	return result{rows: int64(w.rows), elapsed: elapsed, rss: peakRSS(cmd)}
}

// goMySQL measures go-mysql's BinlogSyncer as its users run it: default
// configuration, generic row decoding into [][]any, events through GetEvent.
func goMySQL(ctx context.Context, w *workload) result {
	start := time.Now()
	syncer := replication.NewBinlogSyncer(syncerConfig(w.port, 4242))
	defer syncer.Close()
	streamer, err := syncer.StartSync(mysql.Position{Name: w.files[0], Pos: 4})
	if err != nil {
		return result{err: fmt.Errorf("start sync: %w", err)}
	}
	var rows int64
	var sink uint64 // folded from every decoded value so no decoding is skipped
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			return result{err: fmt.Errorf("get event after %d rows: %w", rows, err)}
		}
		switch e := ev.Event.(type) {
		case *replication.RowsEvent:
			for _, row := range e.Rows {
				for _, v := range row {
					sink += touch(v)
				}
			}
			n := int64(len(e.Rows))
			if e.Type() == replication.EnumRowsEventTypeUpdate {
				n /= 2 // before and after image of one change
			}
			rows += n
		case *replication.RotateEvent:
			// The real rotate (not the fake one sent at connect, which has
			// timestamp 0) into the file opened by the flush ends the workload.
			if ev.Header.Timestamp != 0 && string(e.NextLogName) == w.activeFile {
				elapsed := time.Since(start)
				if rows != int64(w.rows) {
					return result{err: fmt.Errorf("go-mysql saw %d rows, want %d", rows, w.rows)}
				}
				if sink == 1 { // practically never; keeps sink alive
					fmt.Fprint(io.Discard, sink)
				}
				return result{rows: rows, elapsed: elapsed}
			}
		}
	}
}

// syncerConfig is go-mysql's default configuration for the private server.
func syncerConfig(port, serverID int) replication.BinlogSyncerConfig {
	return replication.BinlogSyncerConfig{
		ServerID: uint32(serverID),
		Flavor:   mysql.MariaDBFlavor,
		Host:     "127.0.0.1",
		Port:     uint16(port),
		User:     "root",
		Logger:   slog.New(slog.DiscardHandler),
	}
}

// touch reads a decoded value cheaply.
func touch(v any) uint64 {
	switch x := v.(type) {
	case nil:
		return 0
	case int8:
		return uint64(x)
	case int16:
		return uint64(x)
	case int32:
		return uint64(x)
	case int64:
		return uint64(x)
	case uint64:
		return x
	case float32:
		return uint64(x)
	case float64:
		return uint64(x)
	case string:
		return uint64(len(x))
	case []byte:
		return uint64(len(x))
	case fmt.Stringer: // decimal.Decimal, time.Time with other options
		return 1
	default:
		return 2
	}
}

// bintapStream returns the measurement of the bintap binary streaming the
// workload to /dev/null in its default format.
func bintapStream(binary string, verify bool) func(ctx context.Context, w *workload) result {
	return bintapRun(binary, verify, "-")
}

// bintapRun measures the bintap binary streaming the workload to output
// ("-" goes to /dev/null; "index" is the embedded change index).
func bintapRun(binary string, verify bool, output string) func(ctx context.Context, w *workload) result {
	return func(ctx context.Context, w *workload) result {
		if why := bintapMissing(binary); why != "" {
			return result{unavailable: why}
		}
		cmd, err := bintapCommand(ctx, binary, w.port, 4243, filepath.Join(w.tmpDir, "state"),
			"--start", "oldest",
			"--stop-at-end",
			"--output", output)
		if err != nil {
			return result{err: err}
		}
		if p := os.Getenv("BINTAP_BENCH_CPUPROFILE"); p != "" && output != "-" {
			cmd.Env = append(os.Environ(), "BINTAP_CPUPROFILE="+p)
		}
		lines, elapsed, r := timeRun(cmd, verify, "bintap stream")
		if r.err != nil {
			return r
		}
		if lines != nil && lines.n < int64(w.rows) {
			return result{err: fmt.Errorf("bintap wrote %d lines, want at least %d", lines.n, w.rows)}
		}
		return result{rows: int64(w.rows), elapsed: elapsed, cpu: r.cpu, rss: peakRSS(cmd)}
	}
}

// bintapMissing says why binary cannot be run, or "" when it can.
func bintapMissing(binary string) string {
	st, err := os.Stat(binary)
	if err != nil {
		return fmt.Sprintf("%s: %v (build it with 'go build -o %s ./cmd/bintap')", binary, errors.Unwrap(err), binary)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return binary + " is not an executable file"
	}
	return ""
}

// bintapCommand is `binary stream` from the private server on port with
// server id serverID, its state in the directory state (emptied first), and
// flags.
func bintapCommand(ctx context.Context, binary string, port, serverID int, state string, flags ...string) (*exec.Cmd, error) {
	if err := os.RemoveAll(state); err != nil {
		return nil, err
	}
	args := append([]string{"stream",
		"--source", fmt.Sprintf("mysql://root@127.0.0.1:%d", port),
		"--server-id", strconv.Itoa(serverID),
		"--state-dir", state}, flags...)
	return timed(exec.CommandContext(ctx, binary, args...)), nil
}

// lineCounter counts newlines written to it.
type lineCounter struct{ n int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// dumpTable measures mariadb-dump --single-transaction --quick of the
// workload table to /dev/null: the baseline for bintap's initial snapshot.
func dumpTable(ctx context.Context, w *workload) result {
	bin, err := exec.LookPath("mariadb-dump")
	if err != nil {
		if bin, err = exec.LookPath("mysqldump"); err != nil {
			return result{unavailable: "mariadb-dump not found"}
		}
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return result{err: err}
	}
	defer null.Close()
	cmd := timed(exec.CommandContext(ctx, bin, "--no-defaults", "--single-transaction", "--quick",
		"--host=127.0.0.1", "--port="+strconv.Itoa(w.port), "--user=root", "bench", "items"))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = null, &stderr
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return result{err: fmt.Errorf("%s: %w", bin, err), detail: stderr.String()}
	}
	return result{rows: int64(w.rows), elapsed: elapsed, rss: peakRSS(cmd)}
}

// bintapSnapshot measures an initial snapshot of the workload table
// (--snapshot initial_only) to /dev/null, or to a line counter with verify;
// parallelism 0 is the default setting (no flag).
func bintapSnapshot(binary string, verify bool, parallelism int) func(ctx context.Context, w *workload) result {
	return func(ctx context.Context, w *workload) result {
		if why := bintapMissing(binary); why != "" {
			return result{unavailable: why}
		}
		flags := []string{"--snapshot", "initial_only", "--tables", "bench.items", "--output", "-"}
		if parallelism > 0 {
			flags = append(flags, "--snapshot-parallelism", strconv.Itoa(parallelism))
		}
		cmd, err := bintapCommand(ctx, binary, w.port, 4244, filepath.Join(w.tmpDir, "snapshot-state"), flags...)
		if err != nil {
			return result{err: err}
		}
		lines, elapsed, r := timeRun(cmd, verify, "bintap snapshot")
		if r.err != nil {
			return r
		}
		if lines != nil && lines.n != int64(w.rows)+1 { // the rows and one schema record
			return result{err: fmt.Errorf("bintap wrote %d lines, want %d", lines.n, w.rows+1)}
		}
		return result{rows: int64(w.rows), elapsed: elapsed, cpu: r.cpu, rss: peakRSS(cmd)}
	}
}

// timeRun runs cmd with its output counted (verify) or sent to /dev/null
// and returns the counter, the time it took, and a failed result if it failed.
func timeRun(cmd *exec.Cmd, verify bool, what string) (*lineCounter, time.Duration, result) {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var lines *lineCounter
	if verify {
		lines = &lineCounter{}
	}
	closer, err := stdoutTo(cmd, lines)
	if err != nil {
		return nil, 0, result{err: err}
	}
	defer closer.Close()
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return nil, 0, result{err: fmt.Errorf("%s: %w", what, err), detail: stderr.String()}
	}
	// CPU time is steadier than wall time on a busy machine.
	return lines, elapsed, result{cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
}

// stdoutTo sends the command's output to lines, or to /dev/null when lines
// is nil; the caller closes what it returns.
func stdoutTo(cmd *exec.Cmd, lines *lineCounter) (io.Closer, error) {
	if lines != nil {
		cmd.Stdout = lines
		return io.NopCloser(nil), nil
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	cmd.Stdout = null
	return null, nil
}
