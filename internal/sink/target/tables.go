package target

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/change"
)

// The metadata columns (DESIGN.md, "Change rows in databases and files").
var (
	mirrorMeta = []metaColumn{{"__deleted", "BOOLEAN"}, {"__ts_ms", "BIGINT"}, {"__transaction_id", "VARCHAR(255)"}, {"__transaction_order", "BIGINT"}}
	logMeta    = []metaColumn{{"__op", "VARCHAR(1)"}, {"__deleted", "BOOLEAN"}, {"__ts_ms", "BIGINT"}, {"__transaction_id", "VARCHAR(255)"}, {"__transaction_order", "BIGINT"}, {"__event_number", "BIGINT"}}
)

type metaColumn struct{ name, typ string }

// target is one target table, with its _log table.
type target struct {
	full    string // schema.table, unquoted: its key in the state table
	source  string // db.table
	qname   string // quoted schema.table
	qlog    string // quoted schema.table_log ("" without log tables)
	keyed   bool   // it has a primary key: merged; else append-only
	columns []string
	types   map[string]string // declared type of each column bintap created, by lower-case name

	cur *batch // its open batch in Destination.steps; nil when none is open
}

// batch is what a transaction writes to one target between schema changes.
type batch struct {
	qname    string // the target's names when the batch began (renames come between batches)
	qlog     string
	full     string
	source   string
	pending  map[string]*entry // merged changes by key
	order    []*entry          // merged changes, in first-touch order
	appends  []*entry          // changes of an append-only table
	logs     []*entry          // _log rows
	truncate bool              // the initial snapshot begins: empty it first
	cleared  *entry            // a TRUNCATE of the source: its metadata
	status   string            // status to store ("": unchanged)
	types    string            // with status: the declared column types, as JSON
}

// step is one thing a transaction does, in order: a target's batch, or a
// schema change that must come between batches (renames).
type step struct {
	tg   *target
	full string // tg's name when the step was made (the writer goroutine reads this, not tg)
	b    *batch
	ddl  string
	done bool // the statement ran (MySQL commits DDL at once: a retry skips it)
}

// version is one version of a source table, bound to its target.
type version struct {
	src    *change.Table
	tg     *target
	names  []string          // its columns
	key    []int             // its primary key columns
	extra  []string          // target columns it lacks (dropped at the source): NULL from now on
	pg     []pgColumn        // PostgreSQL: how its columns travel (pgcopy.go)
	pgSize int               // PostgreSQL: the room a row's fields take, about
	sql    map[string]string // PostgreSQL: its statements, by table and kind
}

// entry is one pending change.
type entry struct {
	v    *version
	args []any // one per column of v (PostgreSQL: nil, see text)
	// PostgreSQL: the values as the fields of a binary COPY row (pgEntry),
	// and the order of an integer key (sortable).
	text     []byte
	sortKey  uint64
	sortable bool
	deleted  bool
	op       byte // c, u, d, r
	tsMs     int64
	txID     string
	order    int64
	num      uint64
}

// add takes one change.
func (t *Destination) add(v *version, ev *change.Event) error {
	if ev.Op == change.OpRead {
		if !t.streaming && t.status[v.tg.full] != statusMigrating {
			b := t.touch(v.tg)
			b.truncate, b.status = true, statusMigrating
			t.setStatus(v.tg.full, statusMigrating)
		}
	} else if t.status[v.tg.full] != statusStreaming && t.streaming {
		t.touch(v.tg).status = statusStreaming
		t.setStatus(v.tg.full, statusStreaming)
	}
	return change.Rows(ev, func(m change.Meta, row []change.Value) error { return t.row(v, m, row, true) })
}

// row takes one change row; log false leaves it out of the _log table (a
// load pushing again a row it loaded before).
func (t *Destination) row(v *version, m change.Meta, row []change.Value, log bool) error {
	meta := entry{v: v, tsMs: m.TsMs, order: m.Order, num: m.Event, txID: m.TxID}
	if m.Op == 't' {
		return t.truncateTable(v, meta, log)
	}
	return t.change(v, row, m.Deleted, m.Op, meta, log)
}

// change merges (or appends) a row image and logs it.
func (t *Destination) change(v *version, row []change.Value, deleted bool, op byte, meta entry, log bool) error {
	if !log && !v.tg.keyed {
		return nil // an append-only table is a log: the row is in it
	}
	if err := t.merge(v, row, deleted, op, meta); err != nil {
		return err
	}
	if v.tg.qlog == "" || !log {
		return nil
	}
	e, err := t.entry(v, row, deleted, op, meta)
	if err != nil {
		return err
	}
	b := t.touch(v.tg)
	b.logs = append(b.logs, e)
	return nil
}

func (t *Destination) merge(v *version, row []change.Value, deleted bool, op byte, meta entry) error {
	e, err := t.entry(v, row, deleted, op, meta)
	if err != nil {
		return err
	}
	b := t.touch(v.tg)
	t.rows++
	if !v.tg.keyed {
		b.appends = append(b.appends, e)
		return nil
	}
	t.keyBuf = change.AppendKey(t.keyBuf[:0], row, v.key)
	if old, ok := b.pending[string(t.keyBuf)]; ok {
		*old = *e // the last image of a key wins; its place in the order stays
		return nil
	}
	b.pending[string(t.keyBuf)] = e
	b.order = append(b.order, e)
	return nil
}

// entry converts a row image into driver arguments (copies: the event's
// values are gone after Write).
func (t *Destination) entry(v *version, row []change.Value, deleted bool, op byte, meta entry) (*entry, error) {
	e := meta
	e.deleted, e.op = deleted, op
	if _, ok := t.d.(postgres); ok {
		return &e, t.pgEntry(v, row, &e)
	}
	e.args = make([]any, len(row))
	for i := range row {
		c := &v.src.Columns[i]
		a, err := t.d.arg(c, &row[i])
		if err != nil {
			return nil, fmt.Errorf("target %s: table %s column %s: %w", t.name, v.src.FullName(), c.Name, err)
		}
		if b, ok := a.([]byte); ok {
			a = bytes.Clone(b)
		}
		e.args[i] = a
	}
	return &e, nil
}

// truncateTable takes a TRUNCATE of the source table: every row goes
// (soft: marked deleted; hard: removed). Pending changes before it are
// deletes now; the statement runs before the changes that follow it.
func (t *Destination) truncateTable(v *version, meta entry, log bool) error {
	tg := v.tg
	b := t.touch(tg)
	t.rows++
	meta.op, meta.deleted, meta.args = 't', true, make([]any, len(v.src.Columns))
	if _, ok := t.d.(postgres); ok {
		meta.args = nil
		for range v.src.Columns {
			meta.text = append(meta.text, pgNull...)
		}
	}
	for _, e := range b.order {
		e.deleted = true
		e.tsMs, e.txID, e.order = meta.tsMs, meta.txID, meta.order
	}
	switch {
	case tg.keyed:
		b.cleared = &meta
	case log:
		b.appends = append(b.appends, &meta)
	}
	if tg.qlog != "" && log {
		e := meta
		b.logs = append(b.logs, &e)
	}
	return nil
}

// touch returns tg's open batch, opening one as the next step.
func (t *Destination) touch(tg *target) *batch {
	if tg.cur == nil {
		tg.cur = &batch{qname: tg.qname, qlog: tg.qlog, full: tg.full, source: tg.source, pending: map[string]*entry{}}
		t.steps = append(t.steps, step{tg: tg, full: tg.full, b: tg.cur})
	}
	return tg.cur
}

// schemaStep queues a statement that must run after what tg has pending
// and before what comes next.
func (t *Destination) schemaStep(tg *target, q string) {
	tg.cur = nil
	t.steps = append(t.steps, step{tg: tg, full: tg.full, ddl: q})
}

func (t *Destination) setStatus(full, status string) {
	t.mu.Lock()
	t.status[full] = status
	t.mu.Unlock()
}

// runStep runs one step in tx.
func (t *Destination) runStep(ctx context.Context, x execer, st *step) error {
	if st.b != nil {
		return t.applyTarget(ctx, x, st.b)
	}
	if st.done {
		return nil
	}
	err := x.exec(ctx, st.ddl, func(err error) error {
		if transient(err) {
			return err
		}
		return fmt.Errorf("target %s: table %s: the target refused the schema change %s: %w; make the change by hand and start bintap again", t.name, st.full, st.ddl, err)
	})
	if err != nil {
		return err
	}
	if f, ok := x.(interface{ flush(context.Context) error }); ok {
		if err := f.flush(ctx); err != nil {
			return err
		}
	}
	if _, ok := t.d.(mysql); ok {
		// MySQL committed what came before the statement: the rest of the
		// batch, and the position, go in a new transaction.
		st.done = true
		return x.exec(ctx, "START TRANSACTION", nil)
	}
	return nil
}

// execer runs the statements of a transaction: one by one (database/sql),
// or queued and sent together (PostgreSQL: pgqueue.go). wrap, when set,
// explains an error of that statement.
type execer interface {
	exec(ctx context.Context, q string, wrap func(error) error, args ...any) error
}

// sqlTx runs each statement at once in a database/sql transaction.
type sqlTx struct{ tx *sql.Tx }

func (x sqlTx) exec(ctx context.Context, q string, wrap func(error) error, args ...any) error {
	_, err := x.tx.ExecContext(ctx, q, args...)
	if err != nil && wrap != nil {
		return wrap(err)
	}
	return err
}

// stmtWrap explains an error of statement q on b's table.
func (t *Destination) stmtWrap(b named, q string) func(error) error {
	return func(err error) error { return t.stmtErr(b, q, err) }
}

// applyTarget writes one target's pending changes in tx.
func (t *Destination) applyTarget(ctx context.Context, x execer, b *batch) error {
	if b.truncate {
		if err := x.exec(ctx, "DELETE FROM "+b.qname, t.stmtWrap(b, "empty it for the initial snapshot")); err != nil {
			return err
		}
	}
	if e := b.cleared; e != nil {
		q := "DELETE FROM " + b.qname
		var args []any
		if !t.opt.HardDeletes {
			q = "UPDATE " + b.qname + " SET " + t.d.quote("__deleted") + " = " + t.ph(1) + ", " + t.d.quote("__ts_ms") + " = " + t.ph(2) + ", " +
				t.d.quote("__transaction_id") + " = " + t.ph(3) + ", " + t.d.quote("__transaction_order") + " = " + t.ph(4) +
				" WHERE " + t.d.quote("__deleted") + " IS NOT TRUE"
			args = []any{true, e.tsMs, e.txID, e.order}
		}
		if err := x.exec(ctx, q, t.stmtWrap(b, q), args...); err != nil {
			return err
		}
	}
	var upserts, deletes []*entry
	for _, e := range b.order {
		if e.deleted && t.opt.HardDeletes {
			deletes = append(deletes, e)
		} else {
			upserts = append(upserts, e)
		}
	}
	if err := t.runs(deletes, func(run []*entry) error { return t.deleteRows(ctx, x, b.qname, b, run) }); err != nil {
		return err
	}
	if err := t.runs(upserts, func(run []*entry) error { return t.writeRows(ctx, x, b.qname, b, run, false) }); err != nil {
		return err
	}
	if err := t.runs(b.appends, func(run []*entry) error { return t.writeRows(ctx, x, b.qname, b, run, true) }); err != nil {
		return err
	}
	if err := t.runs(b.logs, func(run []*entry) error { return t.writeRows(ctx, x, b.qlog, b, run, true) }); err != nil {
		return err
	}
	if b.status != "" {
		q := t.upsertSQL(stateTable(t.d, "tables"), []string{"target_table", "source_table", "status", "columns", "updated_at"}, []string{"target_table"}, 1, nil)
		if err := x.exec(ctx, q, t.stmtWrap(b, "store its status"), b.full, b.source, b.status, b.types, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return err
		}
	}
	return nil
}

// runs calls fn for each run of entries of one version, in order, at most
// as many rows as fit the bind parameter limit.
func (t *Destination) runs(es []*entry, fn func([]*entry) error) error {
	for len(es) > 0 {
		per := len(es[0].v.names) + len(logMeta)
		limit := max(1, maxParams/per)
		if _, ok := t.d.(postgres); ok {
			limit = len(es) // one array per column: no parameter limit
		}
		n := 1
		for n < len(es) && n < limit && es[n].v == es[0].v {
			n++
		}
		if err := fn(es[:n]); err != nil {
			return err
		}
		es = es[n:]
	}
	return nil
}

// writeRows inserts rows of one version into table: upserted by key into a
// mirror, or appended (a log table, a table without a primary key) with
// every metadata column.
func (t *Destination) writeRows(ctx context.Context, x execer, table string, tg *batch, rows []*entry, appendOnly bool) error {
	if _, ok := t.d.(postgres); ok {
		return t.pgWriteRows(ctx, x, table, tg, rows, appendOnly)
	}
	v := rows[0].v
	meta := mirrorMeta
	if appendOnly {
		meta = logMeta
	}
	cols := make([]string, 0, len(v.names)+len(v.extra)+len(meta))
	cols = append(cols, v.names...)
	cols = append(cols, v.extra...)
	for _, m := range meta {
		cols = append(cols, m.name)
	}
	args := make([]any, 0, len(rows)*(len(v.names)+len(meta)))
	n := 0
	param := func(col int) string {
		switch {
		case col < len(v.names):
			n++
			return t.d.param(&v.src.Columns[col], n)
		case col < len(v.names)+len(v.extra):
			return "NULL"
		}
		n++
		return t.ph(n)
	}
	for _, e := range rows {
		args = append(args, e.args...)
		if appendOnly {
			args = append(args, string(e.op))
		}
		args = append(args, e.deleted, e.tsMs, e.txID, e.order)
		if appendOnly {
			args = append(args, int64(e.num))
		}
	}
	var key []string
	if !appendOnly {
		for _, i := range v.key {
			key = append(key, v.names[i])
		}
	}
	q := t.upsertSQL(table, cols, key, len(rows), param)
	return x.exec(ctx, q, t.stmtWrap(tg, q), args...)
}

// deleteRows removes rows of one version by key.
func (t *Destination) deleteRows(ctx context.Context, x execer, table string, tg *batch, rows []*entry) error {
	if _, ok := t.d.(postgres); ok {
		return t.pgDeleteRows(ctx, x, table, tg, rows)
	}
	v := rows[0].v
	var b strings.Builder
	b.WriteString("DELETE FROM " + table + " WHERE (")
	for j, i := range v.key {
		if j > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.d.quote(v.names[i]))
	}
	b.WriteString(") IN (")
	var args []any
	n := 0
	for r, e := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, i := range v.key {
			if j > 0 {
				b.WriteString(", ")
			}
			n++
			b.WriteString(t.d.param(&v.src.Columns[i], n))
			args = append(args, e.args[i])
		}
		b.WriteByte(')')
	}
	b.WriteByte(')')
	return x.exec(ctx, b.String(), t.stmtWrap(tg, b.String()), args...)
}

// upsertSQL is INSERT INTO table (cols) VALUES (...) × rows, merged on key
// when key is set. param gives each column's parameter SQL (nil: plain).
func (t *Destination) upsertSQL(table string, cols, key []string, rows int, param func(col int) string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.d.quote(c))
	}
	b.WriteString(") VALUES ")
	n := 0
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i := range cols {
			if i > 0 {
				b.WriteString(", ")
			}
			if param != nil {
				b.WriteString(param(i))
			} else {
				n++
				b.WriteString(t.ph(n))
			}
		}
		b.WriteByte(')')
	}
	if len(key) == 0 {
		return b.String()
	}
	isKey := map[string]bool{}
	for _, k := range key {
		isKey[k] = true
	}
	if _, ok := t.d.(mysql); ok {
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
	} else {
		b.WriteString(" ON CONFLICT (")
		for i, k := range key {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(t.d.quote(k))
		}
		b.WriteString(") DO UPDATE SET ")
	}
	first := true
	for _, c := range cols {
		if isKey[c] {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		q := t.d.quote(c)
		if _, ok := t.d.(mysql); ok {
			b.WriteString(q + " = VALUES(" + q + ")")
		} else {
			b.WriteString(q + " = EXCLUDED." + q)
		}
	}
	return b.String()
}

// stmtErr names the table, the statement (shortened) and, where the
// database says it, the key of a refused change.
func (t *Destination) stmtErr(tg named, stmt string, err error) error {
	if transient(err) {
		return err
	}
	if len(stmt) > 300 {
		stmt = stmt[:300] + "..."
	}
	full, source := tg.names()
	return fmt.Errorf("target %s: table %s (from %s): %s: %w", t.name, full, source, stmt, err)
}

// named is a target or a batch of one: what an error names.
type named interface{ names() (full, source string) }

func (tg *target) names() (string, string) { return tg.full, tg.source }
func (b *batch) names() (string, string)   { return b.full, b.source }

// version binds a source table version to its target, creating or
// altering the target tables when needed (DDL runs at once, outside the
// batch's transaction: it is idempotent, and a replay finds it done).
func (t *Destination) version(ctx context.Context, src *change.Table) (*version, error) {
	if v, ok := t.versions[src]; ok {
		return v, nil
	}
	schema, name := t.targetName(src)
	full := schema + "." + name
	if src.Was != "" && t.targets[full] == nil {
		if err := t.renameTable(ctx, src.Was, schema, name); err != nil {
			return nil, err
		}
	}
	tg := t.targets[full]
	if tg != nil {
		tg.source = src.FullName()
	}
	if tg == nil {
		var err error
		if tg, err = t.openTarget(ctx, schema, name, src); err != nil {
			return nil, err
		}
		t.targets[full] = tg
	}
	v := &version{src: src, tg: tg, key: src.PrimaryKey}
	for _, c := range src.Columns {
		v.names = append(v.names, c.Name)
	}
	if err := t.alignColumns(ctx, v); err != nil {
		return nil, err
	}
	t.versions[src] = v
	return v, nil
}

// renameTable follows a RENAME TABLE of the source: the target of the old
// name (and its _log) takes the new name, in order with the changes around
// it, when the old one exists and the new one does not.
func (t *Destination) renameTable(ctx context.Context, was, schema, name string) error {
	oldDB, oldTable, _ := strings.Cut(was, ".")
	oldSchema, oldName := t.targetName(&change.Table{Schema: oldDB, Name: oldTable})
	oldFull, full := oldSchema+"."+oldName, schema+"."+name
	if oldFull == full {
		return nil
	}
	tg := t.targets[oldFull]
	if tg == nil {
		cols, err := t.columnsOf(ctx, oldSchema, oldName)
		if err != nil {
			return fmt.Errorf("target %s: %w", t.name, err)
		}
		newCols, err := t.columnsOf(ctx, schema, name)
		if err != nil {
			return fmt.Errorf("target %s: %w", t.name, err)
		}
		if len(cols) == 0 || len(newCols) > 0 {
			return nil // nothing to move, or done before a restart
		}
		tg = &target{full: oldFull, columns: cols, types: map[string]string{}, keyed: true,
			qname: t.d.quote(oldSchema) + "." + t.d.quote(oldName)}
		var stored string
		if err := t.db.QueryRowContext(ctx, "SELECT columns FROM "+stateTable(t.d, "tables")+" WHERE target_table = "+t.ph(1), oldFull).Scan(&stored); err == nil {
			_ = json.Unmarshal([]byte(stored), &tg.types)
		}
		if t.opt.LogTables {
			tg.qlog = t.d.quote(oldSchema) + "." + t.d.quote(oldName+"_log")
		}
	}
	for _, q := range t.renameSQL(oldSchema, oldName, schema, name) {
		t.schemaStep(tg, q)
	}
	if tg.qlog != "" {
		for _, q := range t.renameSQL(oldSchema, oldName+"_log", schema, name+"_log") {
			t.schemaStep(tg, q)
		}
	}
	t.schemaStep(tg, "UPDATE "+stateTable(t.d, "tables")+" SET target_table = '"+strings.ReplaceAll(full, "'", "''")+"' WHERE target_table = '"+strings.ReplaceAll(oldFull, "'", "''")+"'")
	delete(t.targets, oldFull)
	tg.full, tg.source = full, was
	tg.qname = t.d.quote(schema) + "." + t.d.quote(name)
	if tg.qlog != "" {
		tg.qlog = t.d.quote(schema) + "." + t.d.quote(name+"_log")
	}
	t.targets[full] = tg
	t.mu.Lock()
	if st, ok := t.status[oldFull]; ok {
		t.status[full] = st
		delete(t.status, oldFull)
	}
	t.mu.Unlock()
	t.log.Info("target table renamed", "from", oldFull, "to", full)
	return nil
}

func (t *Destination) renameSQL(oldSchema, oldName, schema, name string) []string {
	q := t.d.quote
	if _, ok := t.d.(mysql); ok {
		return []string{"RENAME TABLE " + q(oldSchema) + "." + q(oldName) + " TO " + q(schema) + "." + q(name)}
	}
	var out []string
	if oldName != name {
		out = append(out, "ALTER TABLE "+q(oldSchema)+"."+q(oldName)+" RENAME TO "+q(name))
	}
	if oldSchema != schema {
		out = append(out, "ALTER TABLE "+q(oldSchema)+"."+q(name)+" SET SCHEMA "+q(schema))
	}
	return out
}

// targetName renders --target-table for a source table.
func (t *Destination) targetName(src *change.Table) (schema, name string) {
	r := strings.NewReplacer("{database}", src.Schema, "{table}", src.Name).Replace(t.opt.Table)
	if s, n, ok := strings.Cut(r, "."); ok {
		return s, n
	}
	switch t.d.(type) {
	case mysql:
		return t.database, r
	case duck:
		return "main", r
	}
	return "public", r
}

// openTarget creates the target (and log) table when missing and reads
// the columns it has.
func (t *Destination) openTarget(ctx context.Context, schema, name string, src *change.Table) (*target, error) {
	tg := &target{full: schema + "." + name, source: src.FullName(), keyed: len(src.PrimaryKey) > 0,
		qname: t.d.quote(schema) + "." + t.d.quote(name), types: map[string]string{}}
	if t.opt.LogTables {
		tg.qlog = t.d.quote(schema) + "." + t.d.quote(name+"_log")
	}
	if !tg.keyed {
		t.log.Warn("the source table has no primary key: its target table is append-only, one row per change", "table", src.FullName(), "target", tg.full)
	}
	var stored string
	err := t.db.QueryRowContext(ctx, "SELECT columns FROM "+stateTable(t.d, "tables")+" WHERE target_table = "+t.ph(1), tg.full).Scan(&stored)
	if err == nil {
		_ = json.Unmarshal([]byte(stored), &tg.types)
	}
	createSchema := "CREATE SCHEMA IF NOT EXISTS " + t.d.quote(schema)
	if _, ok := t.d.(mysql); ok {
		createSchema = "CREATE DATABASE IF NOT EXISTS " + t.d.quote(schema) + " CHARACTER SET utf8mb4"
	}
	if _, err := t.db.ExecContext(ctx, createSchema); err != nil {
		return nil, t.stmtErr(tg, createSchema, err)
	}
	for _, tbl := range []struct {
		quoted, name string
		keyed        bool
		meta         []metaColumn
	}{{tg.qname, name, tg.keyed, mirrorMeta}, {tg.qlog, name + "_log", false, logMeta}} {
		if tbl.quoted == "" {
			continue
		}
		if !tbl.keyed {
			tbl.meta = logMeta
		}
		if err := t.createTable(ctx, tg, tbl.quoted, src, tbl.keyed, tbl.meta); err != nil {
			return nil, err
		}
	}
	cols, err := t.columnsOf(ctx, schema, name)
	if err != nil {
		return nil, t.stmtErr(tg, "read its columns", err)
	}
	tg.columns = cols
	return tg, nil
}

func (t *Destination) createTable(ctx context.Context, tg *target, quoted string, src *change.Table, keyed bool, meta []metaColumn) error {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS " + quoted + " (")
	for _, c := range src.Columns {
		typ, err := t.d.columnType(&c)
		if err != nil {
			return fmt.Errorf("target %s: table %s: %w", t.name, src.FullName(), err)
		}
		tg.types[strings.ToLower(c.Name)] = typ
		b.WriteString(t.d.quote(c.Name) + " " + typ + ", ")
	}
	for i, m := range meta {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t.d.quote(m.name) + " " + m.typ)
	}
	if keyed {
		b.WriteString(", PRIMARY KEY (")
		for j, i := range src.PrimaryKey {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(t.d.quote(src.Columns[i].Name))
		}
		b.WriteByte(')')
	}
	b.WriteByte(')')
	if _, ok := t.d.(mysql); ok {
		b.WriteString(" DEFAULT CHARSET=utf8mb4")
	}
	if _, err := t.db.ExecContext(ctx, b.String()); err != nil {
		return t.stmtErr(tg, b.String(), err)
	}
	return nil
}

// columnsOf lists a table's columns.
func (t *Destination) columnsOf(ctx context.Context, schema, name string) ([]string, error) {
	rows, err := t.db.QueryContext(ctx, "SELECT column_name FROM information_schema.columns WHERE table_schema = "+t.ph(1)+" AND table_name = "+t.ph(2)+" ORDER BY ordinal_position", schema, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// alignColumns makes the target fit a source version: columns it lacks are
// added, columns whose type widened are altered, and target columns the
// version lacks (dropped at the source) are written NULL from now on.
func (t *Destination) alignColumns(ctx context.Context, v *version) error {
	tg := v.tg
	has := map[string]bool{}
	for _, c := range tg.columns {
		has[strings.ToLower(c)] = true
	}
	inVersion := map[string]bool{}
	changed := false
	for i := range v.src.Columns {
		c := &v.src.Columns[i]
		lc := strings.ToLower(c.Name)
		inVersion[lc] = true
		typ, err := t.d.columnType(c)
		if err != nil {
			return fmt.Errorf("target %s: table %s: %w", t.name, v.src.FullName(), err)
		}
		if was := strings.ToLower(c.Was); c.Was != "" && has[was] && !has[lc] {
			for _, tbl := range []string{tg.qname, tg.qlog} {
				if tbl == "" {
					continue
				}
				t.schemaStep(tg, "ALTER TABLE "+tbl+" RENAME COLUMN "+t.d.quote(c.Was)+" TO "+t.d.quote(c.Name))
			}
			t.log.Info("target column renamed", "target", tg.full, "from", c.Was, "to", c.Name)
			for j, name := range tg.columns {
				if strings.EqualFold(name, c.Was) {
					tg.columns[j] = c.Name
				}
			}
			delete(has, was)
			has[lc] = true
			if typ, ok := tg.types[was]; ok {
				tg.types[lc] = typ
				delete(tg.types, was)
			}
			changed = true
		}
		switch old, known := tg.types[lc]; {
		case !has[lc]:
			for _, tbl := range []string{tg.qname, tg.qlog} {
				if tbl == "" {
					continue
				}
				q := "ALTER TABLE " + tbl + " ADD COLUMN " + t.addIfMissing() + t.d.quote(c.Name) + " " + typ
				if tbl == tg.qname {
					q += t.defaultClause(c) // existing rows read as on the source (not the log's past rows)
				}
				t.schemaStep(tg, q)
			}
			t.log.Info("target column added", "target", tg.full, "column", c.Name, "type", typ)
			tg.columns = append(tg.columns, c.Name)
			has[lc] = true
		case known && !strings.EqualFold(old, typ):
			for _, tbl := range []string{tg.qname, tg.qlog} {
				if tbl == "" {
					continue
				}
				t.schemaStep(tg, t.alterType(tbl, c.Name, typ))
			}
			t.log.Info("target column type changed", "target", tg.full, "column", c.Name, "from", old, "to", typ)
		default:
			if known {
				continue
			}
		}
		tg.types[lc] = typ
		changed = true
	}
	for _, c := range tg.columns {
		lc := strings.ToLower(c)
		if !inVersion[lc] && !strings.HasPrefix(lc, "__") {
			v.extra = append(v.extra, c)
		}
	}
	if changed {
		// Record the declared types with the next batch.
		if b := t.touch(tg); b.status == "" {
			b.status = t.statusOf(tg.full)
		}
	}
	return nil
}

func (t *Destination) statusOf(full string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.status[full]; s != "" {
		return s
	}
	return statusStreaming
}

// defaultClause is " DEFAULT 'literal'" for a column whose source DEFAULT is
// a literal that the target holds as it is ("" otherwise: zero dates and
// values PostgreSQL cannot hold are NULL in the target anyway).
func (t *Destination) defaultClause(c *change.Column) string {
	if c.Default == nil {
		return ""
	}
	v := *c.Default
	if strings.ContainsRune(v, 0) || strings.HasPrefix(v, "0000-") || strings.Contains(v, "-00") {
		return ""
	}
	switch change.BaseType(c.Type) {
	case "bit", "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "timestamp":
		return "" // not a plain literal of the target type
	}
	return " DEFAULT '" + strings.ReplaceAll(v, "'", "''") + "'"
}

// addIfMissing is "IF NOT EXISTS " where ADD COLUMN takes it (all but
// MySQL): a replay after a crash finds the column there.
func (t *Destination) addIfMissing() string {
	if m, ok := t.d.(mysql); ok && !m.mariaDB {
		return ""
	}
	return "IF NOT EXISTS "
}

func (t *Destination) alterType(table, column, typ string) string {
	if _, ok := t.d.(mysql); ok {
		return "ALTER TABLE " + table + " MODIFY COLUMN " + t.d.quote(column) + " " + typ
	}
	q := t.d.quote(column)
	return "ALTER TABLE " + table + " ALTER COLUMN " + q + " TYPE " + typ + " USING " + q + "::" + typ
}
