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

	"github.com/bintap/bintap/internal/server"
)

// runStatus prints the state of a stream running with --http.
func runStatus(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	conn, code := parseStreamFlags(fs, args, errOut)
	if code >= 0 {
		return code
	}
	addr := conn.addr
	status, body, err := callStream(http.MethodGet, conn, "/status", nil)
	if err != nil {
		fmt.Fprintf(errOut, "bintap status: %v\n", err)
		return 1
	}
	if status != http.StatusOK {
		fmt.Fprintf(errOut, "bintap status: %s answered %d: %s\n", addr, status, body)
		return 1
	}
	if *asJSON {
		out.Write(body)
		return 0
	}
	var st server.Status
	if err := json.Unmarshal(body, &st); err != nil {
		fmt.Fprintf(errOut, "bintap status: %s did not answer with a bintap status: %v\n", addr, err)
		return 1
	}
	printStatus(out, &st)
	return 0
}

// stream is how a command reaches a running stream's HTTP API.
type stream struct {
	addr  string // HOST:PORT, or a URL with http:// or https://
	token string // its --http-token, "" when it has none
}

// parseStreamFlags adds --http and --http-token to the flags of a command
// that talks to a running stream and parses args. A code of 0 or more is
// the exit status to return at once (help, bad usage).
func parseStreamFlags(fs *flag.FlagSet, args []string, errOut io.Writer) (st stream, code int) {
	fs.SetOutput(errOut)
	fs.StringVar(&st.addr, "http", os.Getenv("BINTAP_HTTP"), "address the stream serves HTTP on (its --http), such as 127.0.0.1:7070, or https://HOST:PORT when it serves HTTPS")
	fs.StringVar(&st.token, "http-token", os.Getenv("BINTAP_HTTP_TOKEN"), "the stream's --http-token, for actions (prefer the BINTAP_HTTP_TOKEN environment variable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return st, 0
		}
		return st, 2
	}
	if st.addr == "" {
		fmt.Fprintf(errOut, "bintap %s: --http is required: the address of a stream started with --http HOST:PORT\n", fs.Name())
		return st, 2
	}
	return st, -1
}

// callStream sends one request to a running stream's HTTP API.
func callStream(method string, st stream, path string, body []byte) (int, []byte, error) {
	addr, base := st.addr, st.addr
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if st.token != "" && method == http.MethodPost {
		req.Header.Set("Authorization", "Bearer "+st.token)
	}
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("no stream answers on %s: %w", addr, err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	return resp.StatusCode, reply, err
}

func printStatus(w io.Writer, st *server.Status) {
	fmt.Fprintf(w, "bintap %s  %s (%s)  state %s since %s  up %s\n", st.Version, st.Source, st.Flavor, st.State,
		st.StateSince.UTC().Format(time.RFC3339), time.Since(st.Started).Round(time.Second))
	if !st.Healthy {
		fmt.Fprintln(w, "health:     UNHEALTHY (/healthz answers 503)")
	}
	if st.Reason != "" {
		fmt.Fprintf(w, "reason:     %s\n", st.Reason)
	}
	if st.Error != "" {
		fmt.Fprintf(w, "error:      %s\n", st.Error)
	}
	fmt.Fprintf(w, "events:     %d in %d batches\n", st.Events, st.Batches)
	if st.LagSeconds != nil {
		fmt.Fprintf(w, "lag:        %.1f s\n", *st.LagSeconds)
	}
	if st.Checkpoint != "" {
		fmt.Fprintf(w, "checkpoint: %s (written %s ago)\n", st.Checkpoint, time.Since(st.CheckpointWritten).Round(time.Second))
	}
	if !st.LastCommit.IsZero() {
		fmt.Fprintf(w, "last change committed at %s\n", st.LastCommit.Format(time.RFC3339))
	}
	for _, t := range st.Tables {
		fmt.Fprintf(w, "table %s: %d inserts, %d updates, %d deletes, %d snapshot reads\n", t.Name, t.Inserts, t.Updates, t.Deletes, t.Reads)
	}
	for _, o := range st.Outputs {
		fmt.Fprintf(w, "output %s: %s, %d messages, %d bytes", o.Name, o.State, o.Messages, o.Bytes)
		if o.Error != "" {
			fmt.Fprintf(w, " (%s)", o.Error)
		}
		fmt.Fprintln(w)
	}
	for name, sec := range st.Sections {
		b, _ := json.Marshal(sec)
		fmt.Fprintf(w, "%s: %s\n", name, b)
	}
	if st.SnapshotPaused {
		fmt.Fprintln(w, "incremental snapshots are paused (bintap snapshot --resume)")
	}
	for i, n := range st.Notices {
		if i == 5 {
			fmt.Fprintf(w, "(%d more warnings and errors: bintap status --json)\n", len(st.Notices)-i)
			break
		}
		fmt.Fprintf(w, "%s %s %s\n", n.Time.Format(time.RFC3339), n.Level, n.Message)
	}
}
