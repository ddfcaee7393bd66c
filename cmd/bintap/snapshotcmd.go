package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// runSnapshotRequest asks a running stream (started with --http) for an
// incremental snapshot of tables: `bintap snapshot --table db.t1,db.t2`.
// It works on read-only sources too: no signal table is needed.
func runSnapshotRequest(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("snapshot", flag.ContinueOnError)
	fs.SetOutput(errOut)
	addr := fs.String("http", os.Getenv("BINTAP_HTTP"), "address the stream serves HTTP on (its --http), such as 127.0.0.1:7070")
	var tables multiValue
	fs.Var(&tables, "table", "db.table to snapshot; repeatable or comma-separated")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *addr == "" {
		fmt.Fprintln(errOut, "bintap snapshot: --http is required: the address of a stream started with --http HOST:PORT")
		return 2
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
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post("http://"+*addr+"/snapshot", "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(errOut, "bintap snapshot: no stream answers on %s: %v\n", *addr, err)
		return 1
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		var e struct{ Error string }
		if json.Unmarshal(reply, &e) == nil && e.Error != "" {
			fmt.Fprintf(errOut, "bintap snapshot: %s\n", e.Error)
		} else {
			fmt.Fprintf(errOut, "bintap snapshot: %s answered %s: %s\n", *addr, resp.Status, reply)
		}
		return 1
	}
	fmt.Fprintf(out, "incremental snapshot queued: %s (progress: bintap status --http %s)\n", strings.Join(tables, ", "), *addr)
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
