// Command bintap turns the binary log of MySQL and MariaDB into an exact,
// ordered, resumable stream of row changes.
//
// This file is wiring only: it parses flags, calls into internal/, and maps
// errors to exit codes (0 ok, 1 failure, 2 bad usage).
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
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/index"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/schema"
	"github.com/bintap/bintap/internal/server"
	"github.com/bintap/bintap/internal/sink/file"
	sinkindex "github.com/bintap/bintap/internal/sink/index"
	"github.com/bintap/bintap/internal/sink/kafka"
	"github.com/bintap/bintap/internal/sink/stdout"
	"github.com/bintap/bintap/internal/source"
)

const version = "0.1.0"

const usage = `bintap turns the MySQL/MariaDB binary log into exact, ordered, resumable change events.

Usage:
  bintap stream --source mysql://USER:PASS@HOST:PORT [flags]   stream changes (bintap stream --help)
  bintap check  --source mysql://USER:PASS@HOST:PORT           check that a server is ready for CDC
  bintap status --http HOST:PORT                               show a running stream's state (it runs with --http)
  bintap snapshot --http HOST:PORT --table db.t                incremental snapshot of tables, taken by the running stream
  bintap query --table db.t [--pk K] [filters]                  changes from the change index (--output index)
  bintap recover --table db.t [filters] [--output FILE]        SQL script that undoes the selected changes
  bintap reconstruct --table db.t --pk K --at TIME|--gtid G|--history   a row as it was
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
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
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
	if err := stream(ctx, cfg, out, log); err != nil {
		log.Error("bintap stream stopped", "err", err)
		return 1
	}
	return 0
}

func stream(ctx context.Context, cfg *config.Config, out io.Writer, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	unlock, err := lockDir(cfg.StateDir)
	if err != nil {
		return err
	}
	defer unlock()
	if cfg.Reset {
		if err := position.Remove(cfg.StateDir); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(cfg.StateDir, schema.FileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		log.Info("checkpoint and schema history discarded (--reset)")
	}
	hist, err := schema.Open(cfg.StateDir)
	if err != nil {
		return err
	}
	ckpt, err := position.Load(cfg.StateDir)
	if err != nil {
		return err
	}
	outputs, err := openOutputs(ctx, cfg, out, log)
	if err != nil {
		return err
	}
	defer func() {
		for _, o := range outputs {
			if o.Dest != nil {
				o.Dest.Close()
			}
		}
	}()
	if ckpt, err = oldestPosition(ckpt, outputs, log); err != nil {
		return err
	}
	src, err := source.Open(ctx, cfg, hist, log)
	if err != nil {
		return err
	}
	defer src.Close()
	plan, ckpt, err := planSnapshot(ctx, cfg, src, ckpt, hist, log)
	if err != nil {
		return err
	}

	var start source.Start
	if ckpt != nil {
		if ckpt.Flavor != "" && ckpt.Flavor != src.Flavor() {
			return fmt.Errorf("the checkpoint in %s was written for a %s server but the source is %s: use another --state-dir or --reset", cfg.StateDir, ckpt.Flavor, src.Flavor())
		}
		start = source.Start{File: ckpt.File, Pos: ckpt.Pos, Skip: ckpt.Skip, GTID: ckpt.GTID, GTIDState: ckpt.GTIDState}
		hist.Rewind(schema.Mark{File: ckpt.File, Pos: ckpt.Pos})
		log.Info("resuming from checkpoint", "position", ckpt.String(), "flavor", src.Flavor())
	} else {
		sp, _ := config.ParseStart(cfg.Start)
		if start, err = src.Resolve(ctx, sp); err != nil {
			return err
		}
		log.Info("no checkpoint; starting", "start", cfg.Start, "file", start.File, "pos", start.Pos, "gtid", start.GTIDSet, "flavor", src.Flavor())
	}

	p := &pipeline.Pipeline{Outputs: outputs, StateDir: cfg.StateDir, Interval: cfg.CheckpointInterval, Log: log}
	p.Durable = plan.durable
	began := time.Now()
	if cfg.HTTP != "" {
		srv, err := server.Listen(cfg.HTTP, func() server.Status { return status(cfg, src, p, outputs, plan, began) }, log)
		if err != nil {
			return err
		}
		defer srv.Close()
		if plan.inc != nil {
			srv.OnSnapshot(plan.inc.Request)
		}
	}
	free := source.NewBatches(8)
	batches := make(chan *source.Batch, 6)
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		stats pipeline.Stats
		err   error
	}
	done := make(chan result, 1)
	if cfg.HeartbeatTable != "" && cfg.HeartbeatInterval > 0 {
		if err := src.CheckHeartbeatTable(ctx, cfg.HeartbeatTable); err != nil {
			return err
		}
		go src.WriteHeartbeats(streamCtx, cfg.HeartbeatTable, cfg.HeartbeatInterval)
	}
	go func() {
		stats, err := p.Run(batches, free)
		if err != nil {
			cancel()
			for b := range batches { // let the source finish
				free <- b
			}
		}
		done <- result{stats, err}
	}()
	srcErr := runSnapshotThenStream(streamCtx, plan, src, start, batches, free)
	res := <-done
	var closeErr error
	for i, o := range outputs {
		if err := o.Dest.Close(); err != nil && closeErr == nil {
			closeErr = fmt.Errorf("output %s: %w", o.Name, err)
		}
		outputs[i].Dest = nil
	}
	elapsed := time.Since(began)
	log.Info("bintap stream finished", "events", res.stats.Events, "seconds", fmt.Sprintf("%.2f", elapsed.Seconds()),
		"checkpoint", res.stats.Checkpoint.String())
	return errors.Join(res.err, srcErr, closeErr)
}

func openOutputs(ctx context.Context, cfg *config.Config, out io.Writer, log *slog.Logger) ([]pipeline.Output, error) {
	var outputs []pipeline.Output
	for _, o := range cfg.Outputs {
		enc, err := newEncoder(cfg)
		if err != nil {
			return nil, err
		}
		switch {
		case o == "-":
			outputs = append(outputs, pipeline.Output{Name: "stdout", Dest: lineOutput(enc, stdout.New(out))})
		case strings.HasPrefix(o, "file://"):
			dir := config.FileOutputDir(o)
			s, err := file.New(dir, cfg.FileMaxBytes)
			if err != nil {
				return nil, err
			}
			outputs = append(outputs, pipeline.Output{Name: o, Dest: lineOutput(enc, s)})
		case strings.HasPrefix(o, "kafka://"):
			d, err := openKafka(ctx, cfg, o, log)
			if err != nil {
				return nil, err
			}
			outputs = append(outputs, pipeline.Output{Name: o, Dest: d})
		case o == "index" || index.IsServerURL(o):
			out, err := openIndexOutput(cfg, o)
			if err != nil {
				return nil, err
			}
			outputs = append(outputs, out)
		}
	}
	return outputs, nil
}

// status is what the HTTP server reports.
func status(cfg *config.Config, src *source.Stream, p *pipeline.Pipeline, outputs []pipeline.Output, plan snapshotPlan, began time.Time) server.Status {
	st := p.Stats()
	s := server.Status{Version: version, Source: cfg.Source.Redacted(), Flavor: src.Flavor(), State: "streaming", Started: began,
		Events: st.Events, Batches: st.Batches, Sections: map[string]any{}}
	if plan.inc != nil {
		s.Sections["incremental_snapshot"] = plan.inc.Status()
	}
	if plan.snap != nil {
		s.Sections["initial_snapshot"] = plan.snap.Progress().Status()
	}
	if st.Checkpoint.File != "" {
		s.Checkpoint, s.CheckpointWritten = st.Checkpoint.String(), st.Checkpoint.Written
	}
	if st.LastCommit != 0 {
		s.LastCommit = time.Unix(int64(st.LastCommit), 0).UTC()
	}
	for _, o := range outputs {
		out := server.Output{Name: o.Name, State: "ok"}
		if h, ok := o.Dest.(pipeline.Reporter); ok {
			if state, err := h.Health(); state != "" {
				out.State = state
				if err != nil {
					out.Error = err.Error()
				}
			}
		}
		s.Outputs = append(s.Outputs, out)
		if k, ok := o.Dest.(*kafka.Destination); ok {
			s.Sections[o.Name] = k.Status()
		}
		if ix, ok := o.Dest.(*sinkindex.Destination); ok {
			s.Sections[o.Name] = ix.Status()
		}
	}
	return s
}

// oldestPosition returns the oldest of the state dir's checkpoint and the
// positions stored by the destinations that keep their own: the stream
// resumes there and each such destination drops what it already holds.
func oldestPosition(ckpt *position.Checkpoint, outputs []pipeline.Output, log *slog.Logger) (*position.Checkpoint, error) {
	for _, o := range outputs {
		p, ok := o.Dest.(pipeline.Positioned)
		if !ok {
			continue
		}
		c, err := p.Position()
		if err != nil {
			return nil, fmt.Errorf("output %s: read its position: %w", o.Name, err)
		}
		if c == nil {
			continue
		}
		log.Info("output holds a position", "output", o.Name, "position", c.String())
		if ckpt == nil || c.Before(ckpt) {
			ckpt = c
		}
	}
	return ckpt, nil
}

// lockDir keeps two bintap processes off one state dir.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("state dir %s is in use by another bintap process", dir)
	}
	return func() { f.Close() }, nil
}

func runCheck(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(errOut)
	srcURL := fs.String("source", os.Getenv("BINTAP_SOURCE"), "source server URL: mysql://USER:PASS@HOST:PORT")
	schemas := fs.String("schemas", os.Getenv("BINTAP_SCHEMAS"), "comma-separated databases to capture (default: all)")
	tables := fs.String("tables", os.Getenv("BINTAP_TABLES"), "comma-separated db.table names to capture (default: all)")
	heartbeat := fs.String("heartbeat-table", os.Getenv("BINTAP_HEARTBEAT_TABLE"), "DB.TABLE bintap updates so the binlog moves (checked when given)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *srcURL == "" {
		fmt.Fprintln(errOut, "bintap check: --source is required: mysql://USER:PASSWORD@HOST:PORT")
		return 2
	}
	src, err := config.ParseSource(*srcURL)
	if err != nil {
		fmt.Fprintf(errOut, "bintap check: invalid --source: %v\n", err)
		return 2
	}
	db, err := source.OpenDB(src)
	if err != nil {
		fmt.Fprintf(errOut, "bintap check: %v\n", err)
		return 1
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := source.DetectFlavor(ctx, db, "auto"); err != nil {
		fmt.Fprintf(errOut, "bintap check: %v\n", err)
		return 1
	}
	rep, err := source.Check(ctx, db, source.CheckOptions{Schemas: splitList(*schemas), Tables: splitList(*tables), User: src.User, HeartbeatTable: *heartbeat})
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

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
