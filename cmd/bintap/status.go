package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/bintap/bintap/internal/server"
)

// runStatus prints the state of a stream running with --http.
func runStatus(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(errOut)
	addr := fs.String("http", os.Getenv("BINTAP_HTTP"), "address the stream serves HTTP on (its --http), such as 127.0.0.1:7070")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *addr == "" {
		fmt.Fprintln(errOut, "bintap status: --http is required: the address of a stream started with --http HOST:PORT")
		return 2
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + *addr + "/status")
	if err != nil {
		fmt.Fprintf(errOut, "bintap status: no stream answers on %s: %v\n", *addr, err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintf(errOut, "bintap status: %s answered %s: %s\n", *addr, resp.Status, body)
		return 1
	}
	if *asJSON {
		out.Write(body)
		return 0
	}
	var st server.Status
	if err := json.Unmarshal(body, &st); err != nil {
		fmt.Fprintf(errOut, "bintap status: %s did not answer with a bintap status: %v\n", *addr, err)
		return 1
	}
	printStatus(out, &st)
	return 0
}

func printStatus(w io.Writer, st *server.Status) {
	fmt.Fprintf(w, "bintap %s  %s (%s)  state %s  up %s\n", st.Version, st.Source, st.Flavor, st.State, time.Since(st.Started).Round(time.Second))
	if st.Error != "" {
		fmt.Fprintf(w, "error:      %s\n", st.Error)
	}
	fmt.Fprintf(w, "events:     %d in %d batches\n", st.Events, st.Batches)
	if st.Checkpoint != "" {
		fmt.Fprintf(w, "checkpoint: %s (written %s ago)\n", st.Checkpoint, time.Since(st.CheckpointWritten).Round(time.Second))
	}
	if !st.LastCommit.IsZero() {
		fmt.Fprintf(w, "last change committed at %s\n", st.LastCommit.Format(time.RFC3339))
	}
	for _, o := range st.Outputs {
		fmt.Fprintf(w, "output %s: %s", o.Name, o.State)
		if o.Error != "" {
			fmt.Fprintf(w, " (%s)", o.Error)
		}
		fmt.Fprintln(w)
	}
	for name, sec := range st.Sections {
		b, _ := json.Marshal(sec)
		fmt.Fprintf(w, "%s: %s\n", name, b)
	}
}
