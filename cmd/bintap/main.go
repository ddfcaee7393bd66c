// Command bintap turns the binary log of MySQL and MariaDB into an exact,
// ordered, resumable stream of row changes.
//
// This package is wiring only: it parses flags, calls into internal/ (the
// stream itself is internal/engine), and maps errors to exit codes (0 ok,
// 1 failure, 2 bad usage).
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
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/engine"
	"github.com/bintap/bintap/internal/sink"
	_ "github.com/bintap/bintap/internal/sink/all" // every kind of output
	"github.com/bintap/bintap/internal/source"
)

const version = "0.1.0"

const usage = `bintap turns the MySQL/MariaDB binary log into exact, ordered, resumable change events.

Usage:
  bintap stream --source mysql://USER:PASS@HOST:PORT [flags]   stream changes (bintap stream --help)
  bintap check  --source mysql://USER:PASS@HOST:PORT           check that a server is ready for CDC
  bintap check  --ddl FILE [--database DB]                     check that the schema history understands a DDL file
  bintap status --http HOST:PORT                               show a running stream's state (it runs with --http)
  bintap snapshot --http HOST:PORT --table db.t                incremental snapshot of tables, taken by the running stream
  bintap query --table db.t [--pk K] [filters]                  changes from the change index (--output index)
  bintap recover --table db.t [filters] [--output FILE]        SQL script that undoes the selected changes
  bintap reconstruct --table db.t --pk K --at TIME|--gtid G|--history   a row as it was
  bintap load --from DIR --to URL [--every 15m] [--since TIME]   push the closed files of a files output into a database target
  bintap version

`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, out, errOut io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(errOut, usage)
		return 2
	}
	switch args[0] {
	case "stream":
		return runStream(args[1:], out, errOut)
	case "check":
		return runCheck(args[1:], out, errOut)
	case "status":
		return runStatus(args[1:], out, errOut)
	case "snapshot":
		return runSnapshotRequest(args[1:], out, errOut)
	case "query":
		return runQuery(args[1:], out, errOut)
	case "recover":
		return runRecover(args[1:], out, errOut)
	case "reconstruct":
		return runReconstruct(args[1:], out, errOut)
	case "load":
		return runLoad(args[1:], out, errOut)
	case "version", "--version":
		fmt.Fprintln(out, "bintap", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return 0
	}
	fmt.Fprintf(errOut, "bintap: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: errorText}))
}

// errorText logs an error as its message. The text handler formats other
// values with %+v, which makes the errors of go-mysql (pingcap/errors)
// print their stack trace into the log line.
func errorText(_ []string, a slog.Attr) slog.Attr {
	if err, ok := a.Value.Any().(error); ok && a.Value.Kind() == slog.KindAny {
		return slog.String(a.Key, err.Error())
	}
	return a
}

func runStream(args []string, out, errOut io.Writer) int {
	cfg, err := config.Load("stream", args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(out, config.Usage("stream"))
		return 0
	}
	if err != nil {
		fmt.Fprintf(errOut, "bintap stream: %v\n(bintap stream --help lists every setting)\n", err)
		return 2
	}
	log := newLogger(errOut, cfg.LogLevel)
	if path := os.Getenv("BINTAP_CPUPROFILE"); path != "" { // for benchmark analysis
		if f, err := os.Create(path); err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err = engine.New(cfg, engine.Options{Version: version, Stdout: out, Progress: terminal(os.Stderr), Log: log}).Run(ctx)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return 0 // a signal while it waited for the source to start: nothing was streamed yet
	}
	return streamExit(err, log, errOut)
}

// streamExit reports how a stream ended and gives its exit status.
func streamExit(err error, log *slog.Logger, errOut io.Writer) int {
	if err != nil {
		log.Error("bintap stream stopped", "err", err)
		if _, usage := errors.AsType[*config.UsageError](err); usage {
			fmt.Fprintf(errOut, "bintap stream: %v\n", err)
			return 2
		}
		return 1
	}
	return 0
}

// terminal returns f when it is a terminal (for the progress bar), else nil.
func terminal(f *os.File) io.Writer {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}

// envOr is the environment variable, or def when it is empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func runCheck(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(errOut)
	srcURL := fs.String("source", os.Getenv("BINTAP_SOURCE"), "source server URL: mysql://USER:PASS@HOST:PORT")
	schemas := fs.String("schemas", os.Getenv("BINTAP_SCHEMAS"), "comma-separated databases to capture (default: all)")
	tables := fs.String("tables", os.Getenv("BINTAP_TABLES"), "comma-separated db.table names to capture (default: all)")
	heartbeat := fs.String("heartbeat-table", os.Getenv("BINTAP_HEARTBEAT_TABLE"), "DB.TABLE bintap updates so the binlog moves (checked when given)")
	sshSpec := fs.String("ssh", os.Getenv("BINTAP_SSH"), "reach the source through an SSH tunnel: USER@HOST[:PORT]")
	sshKey := fs.String("ssh-key", os.Getenv("BINTAP_SSH_KEY"), "private key file for --ssh (passphrase in BINTAP_SSH_KEY_PASSPHRASE)")
	knownHosts := fs.String("ssh-known-hosts", envOr("BINTAP_SSH_KNOWN_HOSTS", "~/.ssh/known_hosts"), "known_hosts file for --ssh")
	ddl := fs.String("ddl", "", "SQL file (- for standard input) to run through the schema history, without a server: reports each statement applied, ignored (and why) or not understood")
	database := fs.String("database", "test", "with --ddl: the default database until the file's first USE")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errOut, "bintap check: unexpected argument %q (a DDL file is given with --ddl FILE)\n", fs.Arg(0))
		return 2
	}
	if *ddl != "" {
		code := checkDDL(*ddl, *database, out, errOut)
		if *srcURL == "" || code == 2 {
			return code
		}
		if c := runCheck(removeDDLFlags(args), out, errOut); c > code {
			code = c
		}
		return code
	}
	if *srcURL == "" {
		fmt.Fprintln(errOut, "bintap check: --source is required: mysql://USER:PASSWORD@HOST:PORT (or --ddl FILE to check DDL without a server)")
		return 2
	}
	src, err := config.ParseSource(*srcURL)
	if err != nil {
		fmt.Fprintf(errOut, "bintap check: invalid --source: %v\n", err)
		return 2
	}
	if *sshSpec != "" || *sshKey != "" {
		if *sshSpec == "" || *sshKey == "" {
			fmt.Fprintln(errOut, "bintap check: --ssh and --ssh-key go together")
			return 2
		}
		if src.SSH, err = config.ParseSSH(*sshSpec); err != nil {
			fmt.Fprintf(errOut, "bintap check: invalid --ssh: %v\n", err)
			return 2
		}
		src.SSH.KeyFile, src.SSH.KnownHosts = *sshKey, config.ExpandHome(*knownHosts)
		src.SSH.Passphrase = os.Getenv("BINTAP_SSH_KEY_PASSPHRASE")
	}
	router, err := source.NewRouter(src, nil)
	if err != nil {
		fmt.Fprintf(errOut, "bintap check: %v\n", err)
		return 1
	}
	defer router.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := router.FindPrimary(ctx); err != nil {
		fmt.Fprintf(errOut, "bintap check: %v\n", err)
		return 1
	}
	if len(router.Hosts()) > 1 {
		fmt.Fprintf(out, "checking the primary %s\n", router.Target().Addr())
	}
	db, err := source.OpenDB(router.Source())
	if err != nil {
		fmt.Fprintf(errOut, "bintap check: %v\n", err)
		return 1
	}
	defer db.Close()
	if _, err := source.DetectFlavor(ctx, db, "auto"); err != nil {
		fmt.Fprintf(errOut, "bintap check: %v\n", err)
		return 1
	}
	rep, err := source.Check(ctx, db, source.CheckOptions{Schemas: sink.List(*schemas), Tables: sink.List(*tables), User: src.User, HeartbeatTable: *heartbeat})
	if err != nil {
		fmt.Fprintf(errOut, "bintap check: %v\n", err)
		return 1
	}
	rep.Print(out)
	if rep.Failed() {
		return 1
	}
	return 0
}
