package main

// The change index: the --output index destination, and the query, recover
// and reconstruct commands that read it.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/index"
)

// indexFlags are the flags query, recover and reconstruct share.
type indexFlags struct {
	fs                          *flag.FlagSet
	stateDir, indexPath         string
	table, pk, since, until     string
	gtid, types, changed, where string
	limit                       int
	order                       string
	format                      string
	filter                      index.Filter
}

func newIndexFlags(name string, errOut io.Writer) *indexFlags {
	f := &indexFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	f.fs.SetOutput(errOut)
	stateDir := os.Getenv("BINTAP_STATE_DIR")
	if stateDir == "" {
		stateDir = "./bintap-state"
	}
	f.fs.StringVar(&f.stateDir, "state-dir", stateDir, "state dir of the stream that writes the index (its index.db)")
	f.fs.StringVar(&f.indexPath, "index", "", "index file (default STATE_DIR/index.db), or the URL of an index on a server: index+mysql://USER[:PASS]@HOST[:PORT]/DB, index+postgres://USER[:PASS]@HOST[:PORT]/DB")
	f.fs.StringVar(&f.table, "table", "", "table as db.table (required)")
	f.fs.StringVar(&f.pk, "pk", "", "primary key value; composite keys as 'a|b' in key order; binary keys in hex")
	return f
}

// filterFlags adds the change filters.
func (f *indexFlags) filterFlags() {
	f.fs.StringVar(&f.since, "since", "", "changes committed at or after this time: RFC3339 or 'YYYY-MM-DD HH:MM:SS' (UTC)")
	f.fs.StringVar(&f.until, "until", "", "changes committed at or before this time: RFC3339 or 'YYYY-MM-DD HH:MM:SS' (UTC)")
	f.fs.StringVar(&f.gtid, "gtid", "", "changes of the transaction with this GTID")
	f.fs.StringVar(&f.types, "type", "", "insert, update or delete (comma-separated for several)")
	f.fs.StringVar(&f.changed, "changed-column", "", "updates that changed this column")
	f.fs.StringVar(&f.where, "where-column", "", "COLUMN=VALUE: changes whose before or after image holds VALUE (as bintap writes it)")
}

// usageError is a bad flag: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func flagErr(name, value, accepted string) error {
	return usageError{fmt.Sprintf("invalid --%s %q: %s", name, value, accepted)}
}

// parse parses args and validates the shared flags.
func (f *indexFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q (all settings are --flags)", f.fs.Arg(0))}
	}
	if f.table == "" {
		return usageError{"--table is required: db.table"}
	}
	db, tbl, ok := strings.Cut(f.table, ".")
	if !ok || db == "" || tbl == "" {
		return flagErr("table", f.table, "accepted form is db.table")
	}
	f.filter.Schema, f.filter.Table = db, tbl
	if f.fs.Lookup("pk") != nil && isSet(f.fs, "pk") {
		if f.pk == "" {
			return flagErr("pk", f.pk, "a key value is required, such as 123 or 'a|b' for a composite key")
		}
		f.filter.PK = strings.Split(f.pk, "|")
	}
	var err error
	if f.filter.Since, err = parseTimeFlag("since", f.since); err != nil {
		return err
	}
	if f.filter.Until, err = parseTimeFlag("until", f.until); err != nil {
		return err
	}
	if !f.filter.Since.IsZero() && !f.filter.Until.IsZero() && f.filter.Until.Before(f.filter.Since) {
		return flagErr("until", f.until, "must not be before --since")
	}
	f.filter.GTID = f.gtid
	if f.gtid != "" {
		if _, err := config.ParseStart(f.gtid); err != nil || strings.Contains(f.gtid, ",") {
			return flagErr("gtid", f.gtid, "accepted is one GTID: domain-server-sequence (0-1-42) or uuid:n")
		}
	}
	if f.types != "" {
		for _, t := range strings.Split(f.types, ",") {
			t = strings.TrimSpace(strings.ToLower(t))
			if t != "insert" && t != "update" && t != "delete" {
				return flagErr("type", f.types, "accepted values are insert, update and delete (comma-separated for several)")
			}
			f.filter.Types = append(f.filter.Types, t)
		}
	}
	f.filter.ChangedColumn = f.changed
	if f.where != "" {
		c, v, ok := strings.Cut(f.where, "=")
		if !ok || c == "" || strings.ContainsAny(c, `"\`) {
			return flagErr("where-column", f.where, "accepted form is COLUMN=VALUE")
		}
		f.filter.WhereColumn, f.filter.WhereValue = c, v
	}
	if f.limit < 0 {
		return flagErr("limit", strconv.Itoa(f.limit), "accepted values are 0 (no limit) or more")
	}
	f.filter.Limit = f.limit
	switch f.order {
	case "", "newest":
	case "oldest":
		f.filter.Oldest = true
	default:
		return flagErr("order", f.order, "accepted values are newest and oldest")
	}
	switch f.format {
	case "", "table", "json", "csv":
	default:
		return flagErr("format", f.format, "accepted values are table, json and csv")
	}
	return nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// parseTimeFlag accepts RFC3339 and "YYYY-MM-DD HH:MM:SS" (UTC).
func parseTimeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, flagErr(name, v, "accepted forms are RFC3339 (2026-11-21T10:00:00Z) and 'YYYY-MM-DD HH:MM:SS' (UTC)")
}

func (f *indexFlags) open() (*index.Store, error) {
	path := f.indexPath
	if index.IsServerURL(path) {
		return index.OpenServer(path, true)
	}
	if path == "" {
		path = index.Path(f.stateDir)
	}
	return index.OpenReadOnly(path)
}

// exitFor maps an error of an index command to its exit status.
func exitFor(cmd string, err error, errOut io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	var ke index.KeyError
	switch {
	case errors.As(err, &ue), errors.As(err, &ke):
		fmt.Fprintf(errOut, "bintap %s: %v\n", cmd, err)
		return 2
	case strings.HasPrefix(err.Error(), "flag provided but not defined") || strings.Contains(err.Error(), "invalid value"):
		return 2 // the flag package printed it
	}
	fmt.Fprintf(errOut, "bintap %s: %v\n", cmd, err)
	return 1
}

func runQuery(args []string, out, errOut io.Writer) int {
	f := newIndexFlags("query", errOut)
	f.filterFlags()
	f.fs.IntVar(&f.limit, "limit", 100, "at most this many changes (0: all)")
	f.fs.StringVar(&f.order, "order", "newest", "newest or oldest first")
	f.fs.StringVar(&f.format, "format", "table", "table, json (one object per line) or csv")
	if err := f.parse(args); err != nil {
		return exitFor("query", err, errOut)
	}
	store, err := f.open()
	if err != nil {
		return exitFor("query", err, errOut)
	}
	defer store.Close()
	changes, err := store.Query(context.Background(), f.filter)
	if err != nil {
		return exitFor("query", err, errOut)
	}
	if err := writeChanges(out, f.format, changes); err != nil {
		return exitFor("query", err, errOut)
	}
	return 0
}

func writeChanges(out io.Writer, format string, changes []index.Change) error {
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		for i := range changes {
			if err := enc.Encode(changeJSON(&changes[i])); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		w := csv.NewWriter(out)
		w.Write([]string{"change_id", "commit_time", "gtid", "binlog_file", "binlog_pos", "event_number", "table", "type", "pk", "changed_columns", "before", "after"})
		for _, c := range changes {
			w.Write([]string{strconv.FormatInt(c.ID, 10), c.CommitTime.Format(time.DateTime), c.GTID, c.File, strconv.FormatUint(uint64(c.Pos), 10),
				strconv.FormatUint(c.EventNumber, 10), c.Schema + "." + c.Table, c.Type, c.PK, c.Changed, c.Before, c.After})
		}
		w.Flush()
		return w.Error()
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tGTID\tPOSITION\tEVENT\tTYPE\tKEY\tCHANGED\tBEFORE\tAFTER")
	for _, c := range changes {
		fmt.Fprintf(tw, "%s\t%s\t%s:%d\t%d\t%s\t%s\t%s\t%s\t%s\n", c.CommitTime.Format(time.DateTime), dash(c.GTID), c.File, c.Pos,
			c.EventNumber, c.Type, dash(c.PK), dash(c.Changed), dash(c.Before), dash(c.After))
	}
	if len(changes) == 0 {
		fmt.Fprintln(tw, "(no changes match)")
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// changeJSON is one change as a JSON object (images stay raw JSON).
func changeJSON(c *index.Change) any {
	raw := func(s string) json.RawMessage {
		if s == "" {
			return json.RawMessage("null")
		}
		return json.RawMessage(s)
	}
	return struct {
		ID          int64           `json:"change_id"`
		CommitTime  string          `json:"commit_time"`
		GTID        string          `json:"gtid,omitempty"`
		File        string          `json:"binlog_file"`
		Pos         uint32          `json:"binlog_pos"`
		EventNumber uint64          `json:"event_number"`
		Schema      string          `json:"table_schema"`
		Table       string          `json:"table_name"`
		Type        string          `json:"type"`
		PK          json.RawMessage `json:"pk"`
		Changed     json.RawMessage `json:"changed_columns"`
		Before      json.RawMessage `json:"before"`
		After       json.RawMessage `json:"after"`
	}{c.ID, c.CommitTime.Format(time.RFC3339), c.GTID, c.File, c.Pos, c.EventNumber, c.Schema, c.Table, c.Type,
		raw(c.PK), raw(c.Changed), raw(c.Before), raw(c.After)}
}

func runRecover(args []string, out, errOut io.Writer) int {
	f := newIndexFlags("recover", errOut)
	f.filterFlags()
	f.fs.IntVar(&f.limit, "limit", 0, "undo at most the newest N matching changes (0: all)")
	outPath := f.fs.String("output", "", "write the script to this file instead of standard output")
	if err := f.parse(args); err != nil {
		return exitFor("recover", err, errOut)
	}
	store, err := f.open()
	if err != nil {
		return exitFor("recover", err, errOut)
	}
	defer store.Close()
	ctx := context.Background()
	changes, err := store.Query(ctx, f.filter) // newest first: the order undo needs
	if err != nil {
		return exitFor("recover", err, errOut)
	}
	if len(changes) == 0 {
		fmt.Fprintln(errOut, "bintap recover: no changes match: nothing to undo")
		return 1
	}
	zone, err := store.Meta("timezone")
	if err != nil {
		return exitFor("recover", err, errOut)
	}
	header := fmt.Sprintf("bintap recover, generated %s\nfilters: %s", time.Now().UTC().Format(time.RFC3339), strings.Join(args, " "))
	w := out
	var file *os.File
	if *outPath != "" {
		if file, err = os.Create(*outPath); err != nil {
			return exitFor("recover", err, errOut)
		}
		w = file
	}
	err = store.RecoverScript(ctx, w, changes, zone, header)
	if file != nil {
		if cerr := file.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return exitFor("recover", err, errOut)
	}
	if file != nil {
		fmt.Fprintf(errOut, "bintap recover: wrote %s (%d change(s) undone)\n", *outPath, len(changes))
	}
	return 0
}

func runReconstruct(args []string, out, errOut io.Writer) int {
	f := newIndexFlags("reconstruct", errOut)
	at := f.fs.String("at", "", "the moment: RFC3339 or 'YYYY-MM-DD HH:MM:SS' (UTC)")
	f.fs.StringVar(&f.gtid, "gtid", "", "the moment right after the transaction with this GTID")
	history := f.fs.Bool("history", false, "list every version of the row instead")
	f.fs.StringVar(&f.format, "format", "table", "table or json")
	if err := f.parse(args); err != nil {
		return exitFor("reconstruct", err, errOut)
	}
	if f.filter.PK == nil {
		return exitFor("reconstruct", usageError{"--pk is required"}, errOut)
	}
	if f.format == "csv" {
		return exitFor("reconstruct", flagErr("format", f.format, "accepted values are table and json"), errOut)
	}
	n := 0
	for _, set := range []bool{*at != "", f.gtid != "", *history} {
		if set {
			n++
		}
	}
	if n != 1 {
		return exitFor("reconstruct", usageError{"give exactly one of --at TIME, --gtid GTID or --history"}, errOut)
	}
	var p index.Point
	if *at != "" {
		t, err := parseTimeFlag("at", *at)
		if err != nil {
			return exitFor("reconstruct", err, errOut)
		}
		p.Time = t
	}
	p.GTID = f.gtid
	store, err := f.open()
	if err != nil {
		return exitFor("reconstruct", err, errOut)
	}
	defer store.Close()
	ctx := context.Background()
	if *history {
		f.filter.Oldest, f.filter.GTID = true, ""
		changes, err := store.Query(ctx, f.filter)
		if err != nil {
			return exitFor("reconstruct", err, errOut)
		}
		return writeHistory(out, errOut, f.format, changes)
	}
	st, err := store.Reconstruct(ctx, f.filter.Schema, f.filter.Table, f.filter.PK, p)
	if err != nil {
		return exitFor("reconstruct", err, errOut)
	}
	if f.format == "json" {
		var ch any
		if st.Change != nil {
			ch = changeJSON(st.Change)
		}
		row := json.RawMessage("null")
		if st.Row != "" {
			row = json.RawMessage(st.Row)
		}
		json.NewEncoder(out).Encode(struct {
			Status string          `json:"status"`
			Row    json.RawMessage `json:"row"`
			Note   string          `json:"note"`
			Change any             `json:"change,omitempty"`
		}{string(st.Status), row, st.Note, ch})
		return 0
	}
	switch st.Status {
	case index.RowExists:
		fmt.Fprintln(out, st.Row)
	case index.RowDeleted:
		fmt.Fprintln(out, "(deleted)")
	case index.RowAbsent:
		fmt.Fprintln(out, "(did not exist)")
	default:
		fmt.Fprintln(out, "(unknown)")
	}
	fmt.Fprintf(errOut, "%s\n", st.Note)
	if c := st.Change; c != nil {
		fmt.Fprintf(errOut, "change %d: %s at %s UTC, GTID %s, %s:%d event %d\n", c.ID, c.Type, c.CommitTime.Format(time.DateTime), dash(c.GTID), c.File, c.Pos, c.EventNumber)
	}
	return 0
}

// writeHistory lists every version of a row, oldest first.
func writeHistory(out, errOut io.Writer, format string, changes []index.Change) int {
	if len(changes) == 0 {
		fmt.Fprintln(errOut, "bintap reconstruct: no change of this key is indexed")
		return 1
	}
	if format == "json" {
		enc := json.NewEncoder(out)
		for i := range changes {
			enc.Encode(changeJSON(&changes[i]))
		}
		return 0
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tGTID\tTYPE\tROW AFTER THE CHANGE")
	for _, c := range changes {
		row := c.After
		if c.Type == "delete" {
			row = "(deleted)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.CommitTime.Format(time.DateTime), dash(c.GTID), c.Type, row)
	}
	tw.Flush()
	return 0
}
