package target

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
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

	pending  map[string]*entry // merged changes by key
	order    []*entry          // pending merged changes, in first-touch order
	appends  []*entry          // pending changes of an append-only table
	logs     []*entry          // pending _log rows
	truncate bool              // the initial snapshot begins: empty it first
	status   string            // status to store with the batch ("": unchanged)
}

// version is one version of a source table, bound to its target.
type version struct {
	src   *change.Table
	tg    *target
	names []string // its columns
	key   []int    // its primary key columns
	extra []string // target columns it lacks (dropped at the source): NULL from now on
}

// entry is one pending change.
type entry struct {
	v       *version
	args    []any // one per column of v
	deleted bool
	op      byte // c, u, d, r
	tsMs    int64
	txID    string
	order   int64
	num     uint64
}

// transactionOrder orders transactions by their binlog coordinates: the
// binlog file's number in the high bits, the transaction's start position
// in the low 32. It strictly increases with commit order and is the same on
// every re-run.
func transactionOrder(file string, pos uint32) int64 {
	return int64(position.FileSeq(file))<<32 | int64(pos)
}

// add takes one change.
func (t *Destination) add(v *version, ev *change.Event) error {
	tx := ev.Tx
	meta := entry{v: v, tsMs: int64(tx.Timestamp) * 1000, order: transactionOrder(tx.File, tx.Pos), num: ev.EventNumber, txID: tx.GTID}
	if meta.txID == "" {
		meta.txID = tx.File + ":" + strconv.FormatUint(uint64(tx.Pos), 10)
	}
	if ev.Op == change.OpRead {
		// The snapshot holds the table as of its position: just before the
		// transaction that starts there.
		meta.order--
		if !t.streaming && t.status[v.tg.full] != statusMigrating {
			v.tg.truncate, v.tg.status = true, statusMigrating
			t.setStatus(v.tg.full, statusMigrating)
			t.touch(v.tg)
		}
	} else {
		t.snapshotOnly = false
		if t.status[v.tg.full] != statusStreaming && t.streaming {
			v.tg.status = statusStreaming
			t.setStatus(v.tg.full, statusStreaming)
			t.touch(v.tg)
		}
	}
	switch ev.Op {
	case change.OpInsert:
		return t.change(v, ev.After, false, 'c', meta)
	case change.OpRead:
		return t.change(v, ev.After, false, 'r', meta)
	case change.OpDelete:
		return t.change(v, ev.Before, true, 'd', meta)
	case change.OpUpdate:
		if len(v.key) > 0 && !sameKey(v.key, ev.Before, ev.After) {
			// A new primary key: the old row goes, the new one comes.
			if err := t.merge(v, ev.Before, true, 'd', meta); err != nil {
				return err
			}
		}
		return t.change(v, ev.After, false, 'u', meta)
	}
	return nil
}

// change merges (or appends) a row image and logs it.
func (t *Destination) change(v *version, row []change.Value, deleted bool, op byte, meta entry) error {
	if err := t.merge(v, row, deleted, op, meta); err != nil {
		return err
	}
	if v.tg.qlog == "" {
		return nil
	}
	e, err := t.entry(v, row, deleted, op, meta)
	if err != nil {
		return err
	}
	v.tg.logs = append(v.tg.logs, e)
	return nil
}

func (t *Destination) merge(v *version, row []change.Value, deleted bool, op byte, meta entry) error {
	e, err := t.entry(v, row, deleted, op, meta)
	if err != nil {
		return err
	}
	tg := v.tg
	t.touch(tg)
	t.rows++
	if !tg.keyed {
		tg.appends = append(tg.appends, e)
		return nil
	}
	t.keyBuf = appendKey(t.keyBuf[:0], v.key, row)
	if old, ok := tg.pending[string(t.keyBuf)]; ok {
		*old = *e // the last image of a key wins; its place in the order stays
		return nil
	}
	tg.pending[string(t.keyBuf)] = e
	tg.order = append(tg.order, e)
	return nil
}

// entry converts a row image into driver arguments (copies: the event's
// values are gone after Write).
func (t *Destination) entry(v *version, row []change.Value, deleted bool, op byte, meta entry) (*entry, error) {
	e := meta
	e.deleted, e.op = deleted, op
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

func (t *Destination) touch(tg *target) {
	for _, x := range t.touched {
		if x == tg {
			return
		}
	}
	t.touched = append(t.touched, tg)
}

func (t *Destination) setStatus(full, status string) {
	t.mu.Lock()
	t.status[full] = status
	t.mu.Unlock()
}

func (t *Destination) clearPending() {
	for _, tg := range t.touched {
		clear(tg.pending)
		clear(tg.order)
		tg.order, tg.appends, tg.logs = tg.order[:0], tg.appends[:0], tg.logs[:0]
		tg.truncate, tg.status = false, ""
	}
	t.touched = t.touched[:0]
	t.rows = 0
	t.snapshotOnly = !t.streaming
}

// applyTarget writes one target's pending changes in tx.
func (t *Destination) applyTarget(ctx context.Context, tx *sql.Tx, tg *target) error {
	if tg.truncate {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+tg.qname); err != nil {
			return t.stmtErr(tg, "empty it for the initial snapshot", err)
		}
	}
	var upserts, deletes []*entry
	for _, e := range tg.order {
		if e.deleted && t.opt.HardDeletes {
			deletes = append(deletes, e)
		} else {
			upserts = append(upserts, e)
		}
	}
	if err := t.runs(deletes, func(run []*entry) error { return t.deleteRows(ctx, tx, tg, run) }); err != nil {
		return err
	}
	if err := t.runs(upserts, func(run []*entry) error { return t.writeRows(ctx, tx, tg.qname, tg, run, false) }); err != nil {
		return err
	}
	if err := t.runs(tg.appends, func(run []*entry) error { return t.writeRows(ctx, tx, tg.qname, tg, run, true) }); err != nil {
		return err
	}
	if err := t.runs(tg.logs, func(run []*entry) error { return t.writeRows(ctx, tx, tg.qlog, tg, run, true) }); err != nil {
		return err
	}
	if tg.status != "" {
		raw, _ := json.Marshal(tg.types)
		q := t.upsertSQL(stateTable(t.d, "tables"), []string{"target_table", "source_table", "status", "columns", "updated_at"}, []string{"target_table"}, 1, nil)
		if _, err := tx.ExecContext(ctx, q, tg.full, tg.source, tg.status, string(raw), time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return t.stmtErr(tg, "store its status", err)
		}
	}
	return nil
}

// runs calls fn for each run of entries of one version, in order, at most
// as many rows as fit the bind parameter limit.
func (t *Destination) runs(es []*entry, fn func([]*entry) error) error {
	for len(es) > 0 {
		per := len(es[0].args) + len(logMeta)
		limit := max(1, maxParams/per)
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
func (t *Destination) writeRows(ctx context.Context, tx *sql.Tx, table string, tg *target, rows []*entry, appendOnly bool) error {
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
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return t.stmtErr(tg, q, err)
	}
	return nil
}

// deleteRows removes rows of one version by key.
func (t *Destination) deleteRows(ctx context.Context, tx *sql.Tx, tg *target, rows []*entry) error {
	v := rows[0].v
	var b strings.Builder
	b.WriteString("DELETE FROM " + tg.qname + " WHERE (")
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
	if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
		return t.stmtErr(tg, b.String(), err)
	}
	return nil
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
func (t *Destination) stmtErr(tg *target, stmt string, err error) error {
	if transient(err) {
		return err
	}
	if len(stmt) > 300 {
		stmt = stmt[:300] + "..."
	}
	return fmt.Errorf("target %s: table %s (from %s): %s: %w", t.name, tg.full, tg.source, stmt, err)
}

// version binds a source table version to its target, creating or
// altering the target tables when needed (DDL runs at once, outside the
// batch's transaction: it is idempotent, and a replay finds it done).
func (t *Destination) version(ctx context.Context, src *change.Table) (*version, error) {
	if v, ok := t.versions[src]; ok {
		return v, nil
	}
	schema, name := t.targetName(src)
	full := schema + "." + name
	tg := t.targets[full]
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

// targetName renders --target-table for a source table.
func (t *Destination) targetName(src *change.Table) (schema, name string) {
	r := strings.NewReplacer("{database}", src.Schema, "{table}", src.Name).Replace(t.opt.Table)
	if s, n, ok := strings.Cut(r, "."); ok {
		return s, n
	}
	if _, ok := t.d.(mysql); ok {
		return t.database, r
	}
	return "public", r
}

// openTarget creates the target (and log) table when missing and reads
// the columns it has.
func (t *Destination) openTarget(ctx context.Context, schema, name string, src *change.Table) (*target, error) {
	tg := &target{full: schema + "." + name, source: src.FullName(), keyed: len(src.PrimaryKey) > 0,
		qname: t.d.quote(schema) + "." + t.d.quote(name), types: map[string]string{}, pending: map[string]*entry{}}
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
		switch old, known := tg.types[lc]; {
		case !has[lc]:
			for _, tbl := range []string{tg.qname, tg.qlog} {
				if tbl == "" {
					continue
				}
				q := "ALTER TABLE " + tbl + " ADD COLUMN " + t.d.quote(c.Name) + " " + typ
				if _, err := t.db.ExecContext(ctx, q); err != nil && !alreadyExists(err) {
					return t.stmtErr(tg, q, err)
				}
			}
			t.log.Info("target column added", "target", tg.full, "column", c.Name, "type", typ)
			tg.columns = append(tg.columns, c.Name)
			has[lc] = true
		case known && !strings.EqualFold(old, typ):
			for _, tbl := range []string{tg.qname, tg.qlog} {
				if tbl == "" {
					continue
				}
				q := t.alterType(tbl, c.Name, typ)
				if _, err := t.db.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("target %s: table %s column %s: the source changed its type from %s to %s, and the target refused %s: %w; change the column by hand and start bintap again",
						t.name, tg.full, c.Name, old, typ, q, err)
				}
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
	if changed && tg.status == "" {
		// Record the declared types with the next batch.
		tg.status = t.statusOf(tg.full)
		t.touch(tg)
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

func (t *Destination) alterType(table, column, typ string) string {
	if _, ok := t.d.(mysql); ok {
		return "ALTER TABLE " + table + " MODIFY COLUMN " + t.d.quote(column) + " " + typ
	}
	q := t.d.quote(column)
	return "ALTER TABLE " + table + " ALTER COLUMN " + q + " TYPE " + typ + " USING " + q + "::" + typ
}

func alreadyExists(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "already exists") || strings.Contains(msg, "duplicate column")
}
