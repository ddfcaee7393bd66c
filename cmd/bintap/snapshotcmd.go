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
// incremental snapshot of tables: `bintap snapshot --table db.t1,db.t2`.
// It works on read-only sources too: no signal table is needed.
func runSnapshotRequest(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	var tables multiValue
	fs.Var(&tables, "table", "db.table to snapshot; repeatable or comma-separated")
	addr, code := parseStreamFlags(fs, args, errOut)
	if code >= 0 {
		return code
	}
	if len(tables) == 0 {
		fmt.Fprintln(errOut, "bintap snapshot: --table is required: one or more db.table names")
		return 2
	}
	for _, t := range tables {
		if i := strings.IndexByte(t, '.'); i <= 0 || i == len(t)-1 {
			fmt.Fprintf(errOut, "bintap snapshot: invalid --table %q: accepted form is db.table\n", t)
			return 2
		}
	}
	body, _ := json.Marshal(map[string][]string{"tables": tables})
	status, reply, err := callStream(http.MethodPost, addr, "/snapshot", body)
	// A stream that is still starting answers 503: wait for it a while.
	for deadline := time.Now().Add(time.Minute); err == nil && status == http.StatusServiceUnavailable && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		status, reply, err = callStream(http.MethodPost, addr, "/snapshot", body)
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
	fmt.Fprintf(out, "incremental snapshot queued: %s (progress: bintap status --http %s)\n", strings.Join(tables, ", "), addr)
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
