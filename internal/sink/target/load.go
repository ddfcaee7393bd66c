package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/sink"
)

// A load (bintap load) pushes change rows read from files into a target
// with the same merge as a stream. Instead of a stream position it keeps,
// per target table, a Mark in the state table bintap.loads: the last file
// loaded, its window start and how many of its rows are in. A mark is
// stored in the transaction that holds its rows, so a load stopped at any
// moment (kill -9 included) resumes after the last row it committed, and
// nothing is applied twice.

// Mark is how far a load has come in one target table.
type Mark struct {
	Table  string    // the target table, schema.table
	Source string    // the source table, db.table
	File   string    // the file (its path in the files directory)
	Window time.Time // the file's window start
	Rows   int64     // how many of the file's rows are in
	Of     int64     // how many rows the file holds
}

// Done reports whether the mark's file is loaded whole.
func (m Mark) Done() bool { return m.Rows >= m.Of }

// LoadTarget is a database target validated for a load.
type LoadTarget struct{ o output }

// ParseLoad validates a load's target: spec is a database target URL
// (postgres://, mysql://, duckdb:///PATH) and s holds the target settings
// (target-table, target-deletes, target-log-tables, batch-size). Its
// errors name what is wrong and never show a password.
func ParseLoad(spec string, s sink.Settings) (*LoadTarget, error) {
	if spec == "duckdb" {
		return nil, errors.New("a load needs the DuckDB file: duckdb:///PATH/FILE.duckdb")
	}
	checks := []struct {
		name  string
		check func(string) error
	}{
		{"target-table", checkTemplate},
		{"target-deletes", func(v string) error { return sink.OneOf(v, "soft", "hard") }},
		{"target-log-tables", func(v string) error { _, err := sink.ParseBool(v); return err }},
	}
	for _, c := range checks {
		if err := c.check(s.Get(c.name)); err != nil {
			return nil, &sink.SettingError{Field: c.name, Value: s.Get(c.name), Reason: err.Error()}
		}
	}
	if v := s.Get("batch-size"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return nil, &sink.SettingError{Field: "batch-size", Value: v, Reason: "accepted is a whole number of changes per transaction, 1 or more"}
		}
	}
	out, err := parse(spec, s)
	if err != nil {
		return nil, err
	}
	o := out.(output)
	return &LoadTarget{o: o}, nil
}

// Name is the target without its password.
func (l *LoadTarget) Name() string { return l.o.Name() }

// Open connects to the target (waiting up to 30 s when it does not
// answer) and creates bintap's state tables there, bintap.loads included.
func (l *LoadTarget) Open(ctx context.Context, log *slog.Logger) (*Loader, error) {
	dest, err := l.o.Open(ctx, sink.Env{Log: log, Source: "load"})
	if err != nil {
		return nil, err
	}
	d := dest.(*Destination)
	// Every row of a load is a change to merge: 'r' rows do not start a
	// migration (nothing is emptied), and the tables stream.
	d.streaming = true
	d.marks = map[[2]string]Mark{}
	if _, err := d.db.ExecContext(ctx, loadsDDL(d.d)); err != nil {
		d.db.Close()
		return nil, fmt.Errorf("target %s: create bintap's state table loads (the user needs CREATE there): %w", d.name, err)
	}
	return &Loader{d: d, defs: map[string]*change.Table{}}, nil
}

func loadsDDL(d dialect) string {
	text, key := "TEXT", "VARCHAR(255)"
	if _, ok := d.(mysql); ok {
		text = "LONGTEXT"
	}
	return "CREATE TABLE IF NOT EXISTS " + stateTable(d, "loads") + " (target_table " + key + " NOT NULL, source_table " + key + " NOT NULL, " +
		"last_file " + text + " NOT NULL, window_start VARCHAR(40) NOT NULL, loaded_rows BIGINT NOT NULL, file_rows BIGINT NOT NULL, " +
		"updated_at VARCHAR(40) NOT NULL, PRIMARY KEY (target_table, source_table))"
}

var loadsColumns = []string{"target_table", "source_table", "last_file", "window_start", "loaded_rows", "file_rows", "updated_at"}

// Loader adds change rows to a target and commits them with the load's
// marks. Its methods run on one goroutine.
type Loader struct {
	d     *Destination
	defs  map[string]*change.Table // one *Table per distinct definition
	order int64                    // __transaction_order of the last row added
	added bool
}

// Name is the target without its password.
func (l *Loader) Name() string { return l.d.name }

// TargetTable is the target table (schema.table) of a source table.
func (l *Loader) TargetTable(src *change.Table) string {
	schema, name := l.d.targetName(src)
	return schema + "." + name
}

// Marks reads the marks stored in the target, by target and source table.
func (l *Loader) Marks(ctx context.Context) (map[[2]string]Mark, error) {
	rows, err := l.d.db.QueryContext(ctx, "SELECT "+strings.Join(loadsColumns[:6], ", ")+" FROM "+stateTable(l.d.d, "loads"))
	if err != nil {
		return nil, fmt.Errorf("target %s: read bintap.loads: %w", l.d.name, err)
	}
	defer rows.Close()
	out := map[[2]string]Mark{}
	for rows.Next() {
		var m Mark
		var window string
		if err := rows.Scan(&m.Table, &m.Source, &m.File, &window, &m.Rows, &m.Of); err != nil {
			return nil, fmt.Errorf("target %s: read bintap.loads: %w", l.d.name, err)
		}
		if m.Window, err = time.Parse(time.RFC3339, window); err != nil {
			return nil, fmt.Errorf("target %s: bintap.loads holds window_start %q for %s, not an RFC 3339 time: delete that row to load the table again", l.d.name, window, m.Table)
		}
		out[[2]string{m.Table, m.Source}] = m
	}
	return out, rows.Err()
}

// Row is one change row of a load.
type Row struct {
	// Table is the table version the values follow.
	Table *change.Table
	// Meta comes from the file as it is: order, transaction id and times
	// are not derived again.
	Meta   change.Meta
	Values []change.Value
	// Mark is the table's mark once this row is in. Its Table and Source
	// are filled in by Add.
	Mark Mark
	// Again: the row was loaded before (a load from an older window,
	// --since): it is merged again (the mirror ends the same) but not
	// logged again, and the mark stays where it is.
	Again bool
}

// Add takes one row. Rows collect into a transaction of about the batch
// size, which ends between two source transactions where it can (at most
// four batches long), and is committed by a writer goroutine with the
// marks while the next rows are read. Values are copied: they may change
// once Add returns.
func (l *Loader) Add(ctx context.Context, r *Row) error {
	d := l.d
	if err := d.err(); err != nil {
		return err
	}
	if d.rows >= d.opt.BatchSize && l.added && (r.Meta.Order != l.order || d.rows >= 4*d.opt.BatchSize) {
		if err := d.submit(ctx, position.Checkpoint{}, nil); err != nil {
			return err
		}
	}
	tbl := l.definition(r.Table)
	v, err := d.version(ctx, tbl)
	if err != nil {
		return err
	}
	if d.status[v.tg.full] != statusStreaming {
		d.touch(v.tg).status = statusStreaming
		d.setStatus(v.tg.full, statusStreaming)
	}
	if err := d.row(v, r.Meta, r.Values, !r.Again); err != nil {
		return err
	}
	if !r.Again {
		m := r.Mark
		m.Table, m.Source = v.tg.full, tbl.FullName()
		d.marks[[2]string{m.Table, m.Source}] = m
	}
	l.order, l.added = r.Meta.Order, true
	return nil
}

// definition returns the one *Table of tbl's definition: a target binds
// each table version once (files each carry their own copy).
func (l *Loader) definition(tbl *change.Table) *change.Table {
	raw, _ := json.Marshal(tbl)
	if t, ok := l.defs[string(raw)]; ok {
		return t
	}
	l.defs[string(raw)] = tbl
	return tbl
}

// Commit commits what was added and waits until everything added is in.
func (l *Loader) Commit(ctx context.Context) error {
	d := l.d
	if err := d.err(); err != nil {
		return err
	}
	if d.rows == 0 && len(d.steps) == 0 && len(d.marks) == 0 && d.work == nil {
		return nil
	}
	return d.wait(ctx, position.Checkpoint{})
}

// Close commits what was added (each transaction whole, with its marks)
// and disconnects.
func (l *Loader) Close(ctx context.Context) error {
	err := l.Commit(ctx)
	l.d.marks = nil // committed, or not at all
	if cerr := l.d.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// storeMarks stores a transaction's marks.
func (t *Destination) storeMarks(ctx context.Context, x execer, marks []Mark) error {
	if len(marks) == 0 {
		return nil
	}
	q := t.upsertSQL(stateTable(t.d, "loads"), loadsColumns, loadsColumns[:2], 1, nil)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, m := range marks {
		err := x.exec(ctx, q, func(err error) error {
			if transient(err) {
				return err
			}
			return fmt.Errorf("target %s: store the load's mark of %s: %w", t.name, m.Table, err)
		}, m.Table, m.Source, m.File, m.Window.UTC().Format(time.RFC3339), m.Rows, m.Of, now)
		if err != nil {
			return err
		}
	}
	return nil
}
