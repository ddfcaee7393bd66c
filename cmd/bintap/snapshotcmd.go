package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// runSnapshotRequest asks a running stream (started with --http) for an
// incremental snapshot of tables: `bintap snapshot --table db.t1,db.t2`;
// --pause, --resume and --stop (of --table, or of every one) control them.
// It works on read-only sources too: no signal table is needed.
func runSnapshotRequest(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	var tables multiValue
	fs.Var(&tables, "table", "db.table to snapshot (or to stop with --stop); repeatable or comma-separated")
	pause := fs.Bool("pause", false, "pause the running incremental snapshots")
	resume := fs.Bool("resume", false, "resume paused incremental snapshots")
	stop := fs.Bool("stop", false, "stop the incremental snapshots of --table, or all without --table")
	st, code := parseStreamFlags(fs, args, errOut)
	if code >= 0 {
		return code
	}
	addr := st.addr
	action := ""
	for name, set := range map[string]bool{"pause": *pause, "resume": *resume, "stop": *stop} {
		if set && action != "" {
			fmt.Fprintln(errOut, "bintap snapshot: give one of --pause, --resume and --stop")
			return 2
		}
		if set {
			action = name
		}
	}
	if (action == "pause" || action == "resume") && len(tables) > 0 {
		fmt.Fprintf(errOut, "bintap snapshot: --%s applies to every incremental snapshot; --table goes only with --stop or alone\n", action)
		return 2
	}
	if action == "" && len(tables) == 0 {
		fmt.Fprintln(errOut, "bintap snapshot: --table is required: one or more db.table names (or --pause, --resume, --stop)")
		return 2
	}
	for _, t := range tables {
		if i := strings.IndexByte(t, '.'); i <= 0 || i == len(t)-1 {
			fmt.Fprintf(errOut, "bintap snapshot: invalid --table %q: accepted form is db.table\n", t)
			return 2
		}
	}
	body, _ := json.Marshal(map[string][]string{"tables": tables})
	path := "/snapshot"
	if action != "" {
		path += "/" + action
	}
	status, reply, err := callStream(http.MethodPost, st, path, body)
	// A stream that is still starting answers 503: wait for it a while.
	for deadline := time.Now().Add(time.Minute); err == nil && status == http.StatusServiceUnavailable && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		status, reply, err = callStream(http.MethodPost, st, path, body)
	}
	if err != nil {
		fmt.Fprintf(errOut, "bintap snapshot: %v\n", err)
		return 1
	}
	if status != http.StatusAccepted {
		var e struct{ Error string }
		if json.Unmarshal(reply, &e) == nil && e.Error != "" {
			fmt.Fprintf(errOut, "bintap snapshot: %s\n", e.Error)
		} else {
			fmt.Fprintf(errOut, "bintap snapshot: %s answered %d: %s\n", addr, status, reply)
		}
		return 1
	}
	switch action {
	case "":
		fmt.Fprintf(out, "incremental snapshot queued: %s (progress: bintap status --http %s)\n", strings.Join(tables, ", "), addr)
	case "stop":
		if len(tables) == 0 {
			fmt.Fprintln(out, "incremental snapshots stopped")
		} else {
			fmt.Fprintf(out, "incremental snapshot stopped: %s\n", strings.Join(tables, ", "))
		}
	default:
		fmt.Fprintf(out, "incremental snapshots %sd\n", action)
	}
	return 0
}

// multiValue is a repeatable, comma-separated flag.
type multiValue []string

func (m *multiValue) String() string { return strings.Join(*m, ",") }

func (m *multiValue) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*m = append(*m, p)
		}
	}
	return nil
}
