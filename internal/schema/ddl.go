package schema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bintap/bintap/internal/change"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// ApplyDDL applies the statement of a QUERY event to the history. at and gtid
// tag any version it creates. It returns the tables that got a new version
// (created, altered, renamed to; dropped tables are not returned).
//
// Statements that are not DDL on a table or database (BEGIN, COMMIT, GRANT,
// CREATE VIEW, SET, ...) and TRUNCATE are ignored. When DDL on a table cannot
// be parsed or applied, the table is marked unknown (IsUnknown) and the error
// returned wraps ErrInvalidated; ApplyDDL never panics.
func (h *History) ApplyDDL(defaultSchema, sql, gtid string, at Mark) (affected []*change.Table, err error) {
	return h.ApplyDDLMode(defaultSchema, sql, gtid, at, false)
}

// SQLModeANSIQuotes is the ANSI_QUOTES bit of sql_mode, as the binlog's
// QUERY events carry it (both MySQL and MariaDB).
const SQLModeANSIQuotes = 1 << 2

// QueryStatus is what bintap reads from the status variables of a binlog
// QUERY event.
type QueryStatus struct {
	SQLMode uint64 // sql_mode (0 when absent)
	// ClientCollation is the collation id of character_set_client, the
	// character set of the statement's text (0 when absent).
	ClientCollation uint16
}

// ParseQueryStatus walks the status variables of a QUERY event (MySQL and
// MariaDB codes); it stops at a code it does not know, keeping what it read.
func ParseQueryStatus(vars []byte) QueryStatus {
	var st QueryStatus
	v := vars
	need := func(n int) bool { return len(v) >= n }
	for len(v) > 0 {
		code := v[0]
		v = v[1:]
		n := 0
		switch code {
		case 0, 3, 10: // flags2, auto_increment, master_data_written
			n = 4
		case 1: // sql_mode
			if !need(8) {
				return st
			}
			st.SQLMode = binary.LittleEndian.Uint64(v)
			n = 8
		case 2: // catalog (old): length, text, NUL
			if !need(1) {
				return st
			}
			n = 1 + int(v[0]) + 1
		case 4: // charset: client, connection, server collations
			if !need(6) {
				return st
			}
			st.ClientCollation = binary.LittleEndian.Uint16(v)
			n = 6
		case 5, 6: // time zone, catalog: length, text
			if !need(1) {
				return st
			}
			n = 1 + int(v[0])
		case 7, 8, 18: // lc_time_names, charset_database, default_collation_for_utf8mb4
			n = 2
		case 9, 17, 129: // table_map_for_update, ddl_logged_with_xid, MariaDB xid
			n = 8
		case 11: // invoker: user, host
			if !need(1) {
				return st
			}
			u := int(v[0])
			if !need(1 + u + 1) {
				return st
			}
			n = 1 + u + 1 + int(v[1+u])
		case 12: // updated db names: count, NUL-terminated names
			if !need(1) {
				return st
			}
			n = 1
			if cnt := int(v[0]); cnt < 254 {
				for i := 0; i < cnt; i++ {
					j := n
					for j < len(v) && v[j] != 0 {
						j++
					}
					n = j + 1
				}
			}
		case 13, 128: // microseconds, MariaDB hrnow
			n = 3
		case 16, 19, 20, 130: // explicit_defaults_for_timestamp, sql_require_primary_key, default_table_encryption, MariaDB gtid flags
			n = 1
		default:
			return st
		}
		if !need(n) {
			return st
		}
		v = v[n:]
	}
	return st
}

// ANSIQuotes reports whether the statement ran with ANSI_QUOTES.
func (st QueryStatus) ANSIQuotes() bool { return st.SQLMode&SQLModeANSIQuotes != 0 }

// ApplyDDLMode is ApplyDDL for a statement that ran with sql_mode
// ANSI_QUOTES when ansiQuotes is set ("x" is then an identifier).
// TableEngine is what a CREATE or ALTER TABLE statement says of its table's
// storage engine.
type TableEngine struct {
	// Schema and Name are the table's ("" schema: the default database).
	Schema, Name string
	// Engine is the ENGINE table option, upper-case; "" when the
	// statement has none.
	Engine string
	// Create is set for CREATE TABLE: without an ENGINE option the table
	// has the server's default engine, or with Like the engine of that
	// table ("schema.table", or "table" in the default database).
	Create bool
	Like   string
	// Renames are the tables a RENAME TABLE or ALTER TABLE ... RENAME
	// moves: from, to ("schema.table", or "table" in the default
	// database). A table keeps its engine under its new name.
	Renames [][2]string
}

func (tn tableName) text() string {
	if tn.schema == "" {
		return tn.name
	}
	return tn.schema + "." + tn.name
}

// StatementEngine reads the storage engine a DDL statement gives its table
// (the zero TableEngine for any other statement), as the history's server
// reads it (versioned comments) and with the statement's ANSI_QUOTES.
func (h *History) StatementEngine(sql string, ansiQuotes bool) TableEngine {
	h.mu.Lock()
	sv := h.server
	h.mu.Unlock()
	sv.ansiQuotes = ansiQuotes
	p := prepareFor(sql, sv)
	if len(p.tables) == 0 {
		return TableEngine{}
	}
	tn := p.tables[0]
	switch p.kind {
	case kindCreateTable:
		if p.temporary {
			return TableEngine{}
		}
		te := TableEngine{Schema: tn.schema, Name: tn.name, Engine: p.engine, Create: true}
		if l := p.like; l != nil && p.engine == "" {
			te.Like = l.text()
		}
		return te
	case kindAlterTable:
		te := TableEngine{Schema: tn.schema, Name: tn.name, Engine: p.engine}
		if p.renameTo != nil {
			te.Renames = [][2]string{{tn.text(), p.renameTo.text()}}
		}
		return te
	case kindRenameTable:
		var te TableEngine
		for i := 0; i+1 < len(p.tables); i += 2 {
			te.Renames = append(te.Renames, [2]string{p.tables[i].text(), p.tables[i+1].text()})
		}
		return te
	}
	return TableEngine{}
}

func (h *History) ApplyDDLMode(defaultSchema, sql, gtid string, at Mark, ansiQuotes bool) (affected []*change.Table, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("apply DDL %.80q: internal error: %v", sql, r)
		}
	}()
	sv := h.server
	sv.ansiQuotes = ansiQuotes
	p := prepareFor(sql, sv)
	switch p.kind {
	case kindNone, kindTruncate:
		return nil, nil
	case kindCreateTable, kindDropTable, kindCreateSequence:
		if p.temporary {
			return nil, nil // temporary tables never appear in row events
		}
	}
	keys := make([]key, 0, len(p.tables))
	for _, tn := range p.tables {
		keys = append(keys, qualify(defaultSchema, tn))
	}
	if p.kind == kindCreateTable && len(keys) > 1 {
		keys = keys[:1] // the LIKE source stays as it is
	}
	if !h.scope.all() && !h.ddlInScope(defaultSchema, p, keys) {
		return nil, nil // nothing the history keeps (--schema-history)
	}
	fail := func(cause error) ([]*change.Table, error) {
		for _, k := range keys {
			if h.inScope(k) {
				h.invalidate(k, at, gtid, cause.Error())
			}
		}
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.schema + "." + k.name
		}
		return nil, fmt.Errorf("apply DDL on %s: %w: %w", strings.Join(names, ", "), ErrInvalidated, cause)
	}
	if p.kind == kindCreateSequence {
		if len(keys) == 0 {
			return fail(errors.New("CREATE SEQUENCE: no sequence name"))
		}
		k := keys[0]
		cur, _ := h.current(k)
		if p.ifNotExists && (cur != nil || h.isUnknown(k)) {
			return nil, nil
		}
		t := sequenceTable(k)
		if got := h.define(k, t, "binary", gtid, at, cur); got != cur {
			affected = append(affected, got)
		}
		return affected, nil
	}
	switch p.kind {
	case kindCreateDB, kindAlterDB, kindDropDB:
		// Only the name and the character set matter, and the tokenizer
		// found them: the TiDB parser does not know every database
		// option (ENCRYPTION, READ ONLY, UPGRADE DATA DIRECTORY NAME).
		h.applyDatabase(defaultSchema, p, gtid, at)
		return nil, nil
	}
	node, perr := parseOne(p.sql)
	if perr != nil {
		if p.kind == kindAlterTable && p.renameTo != nil && len(keys) == 1 {
			// Renamed as well: the new name is unknown, the old one gone.
			if nk := qualify(defaultSchema, *p.renameTo); nk != keys[0] {
				old := keys[0]
				keys = append(keys, nk)
				res, ferr := fail(fmt.Errorf("cannot parse %.200q: %w", sql, perr))
				h.drop(old, at, gtid)
				return res, ferr
			}
		}
		return fail(fmt.Errorf("cannot parse %.200q: %w", sql, perr))
	}
	switch stmt := node.(type) {
	case *ast.CreateTableStmt:
		t, err := h.applyCreate(defaultSchema, stmt, p, gtid, at)
		if err != nil {
			return fail(err)
		}
		if t != nil {
			affected = append(affected, t)
		}
		return affected, nil
	case *ast.AlterTableStmt:
		k := qualifyName(defaultSchema, stmt.Table)
		keys = []key{k}
		if nk, ok := alterRenameTo(defaultSchema, stmt); ok && h.inScope(k) != h.inScope(nk) {
			// Renamed across the scope's edge: into it, the new name is
			// unknown (its DDL was not kept); out of it, it is gone.
			if h.inScope(nk) {
				h.invalidate(nk, at, gtid, outOfScopeRename(k))
			} else {
				h.drop(k, at, gtid)
			}
			return nil, nil
		}
		if cur, _ := h.current(k); cur == nil && p.noColumnChange && !p.addVersioning && !p.dropVersioning {
			// Indexes, options, partitions of a table the history does not
			// have (never seen, or unknown): nothing to learn or to lose.
			return nil, nil
		}
		t, _, err := h.applyAlter(defaultSchema, stmt, p, gtid, at)
		if err != nil {
			// The table's new name (RENAME TO) is unknown too, and the old
			// one is gone.
			for _, spec := range stmt.Specs {
				if spec.Tp == ast.AlterTableRenameTable {
					if nk := qualifyName(defaultSchema, spec.NewTable); nk != k {
						keys = append(keys, nk)
						res, ferr := fail(err)
						h.drop(k, at, gtid)
						return res, ferr
					}
				}
			}
			return fail(err)
		}
		if t != nil {
			affected = append(affected, t)
		}
		return affected, nil
	case *ast.RenameTableStmt:
		for _, tt := range stmt.TableToTables {
			from, to := qualifyName(defaultSchema, tt.OldTable), qualifyName(defaultSchema, tt.NewTable)
			switch fromIn, toIn := h.inScope(from), h.inScope(to); {
			case !fromIn && !toIn:
				continue
			case !fromIn:
				h.invalidate(to, at, gtid, outOfScopeRename(from))
				continue
			case !toIn:
				h.drop(from, at, gtid)
				continue
			}
			if t := h.rename(from, to, gtid, at); t != nil {
				affected = append(affected, t)
			}
		}
		return affected, nil
	case *ast.DropTableStmt:
		if stmt.IsView {
			return nil, nil
		}
		for _, tn := range stmt.Tables {
			h.drop(qualifyName(defaultSchema, tn), at, gtid)
		}
		return nil, nil
	}
	return nil, nil
}

// ddlInScope reports whether a statement touches anything the history's
// scope keeps: a database it keeps, or a table (an old or new name).
func (h *History) ddlInScope(defaultSchema string, p *prepared, keys []key) bool {
	switch p.kind {
	case kindCreateDB, kindAlterDB:
		name := p.dbName
		if name == "" {
			name = defaultSchema
		}
		return h.scope.ContainsDatabase(name)
	case kindDropDB:
		return true // forgets what it held, if anything
	}
	for _, k := range keys {
		if h.inScope(k) {
			return true
		}
	}
	if p.renameTo != nil && h.inScope(qualify(defaultSchema, *p.renameTo)) {
		return true
	}
	return false
}

// alterRenameTo is the new name an ALTER TABLE gives its table, if any.
func alterRenameTo(defaultSchema string, stmt *ast.AlterTableStmt) (key, bool) {
	for _, spec := range stmt.Specs {
		if spec.Tp == ast.AlterTableRenameTable && spec.NewTable != nil {
			return qualifyName(defaultSchema, spec.NewTable), true
		}
	}
	return key{}, false
}

func outOfScopeRename(from key) string {
	return "renamed from " + from.schema + "." + from.name + ", which is outside the schema-history scope: its definition was not kept. " +
		"It needs binlog_row_metadata=FULL on the source, or a snapshot of it, to have a definition proven against the binlog"
}

// applyDatabase applies CREATE, ALTER and DROP DATABASE.
func (h *History) applyDatabase(defaultSchema string, p *prepared, gtid string, at Mark) {
	name := p.dbName
	switch p.kind {
	case kindCreateDB:
		if name == "" {
			return
		}
		if d := h.dbs[name]; p.ifNotExists && d != nil && len(d.Records) > 0 && !d.Records[len(d.Records)-1].Dropped {
			return // exists: unchanged
		}
		h.setDB(name, dbRecord{At: at, Charset: dbOptionCharset(p, h.serverCharsetOrDefault())})
	case kindAlterDB:
		if name == "" {
			name = defaultSchema
		}
		switch {
		case p.charset != "" || p.collate != "":
			h.setDB(name, dbRecord{At: at, Charset: dbOptionCharset(p, h.dbCharset(name))})
		case p.charsetDefault:
			h.setDB(name, dbRecord{At: at, Charset: h.serverCharsetOrDefault()})
		}
	case kindDropDB:
		if name == "" {
			return
		}
		for k := range h.tables {
			if k.schema == name {
				h.drop(k, at, gtid)
			}
		}
		if h.dbs[name] != nil {
			h.setDB(name, dbRecord{At: at, Dropped: true})
		}
	}
}

// ErrNoDefinition is wrapped by ApplyDDL errors for a statement that was
// understood but changes a table whose definition the history does not
// have (never seen, dropped, or unknown).
var ErrNoDefinition = errors.New("table definition unknown")

// sequenceTable is the table MariaDB stores a sequence in (as SHOW CREATE
// TABLE prints it); row events of NEXTVAL and SETVAL use it.
func sequenceTable(k key) *change.Table {
	col := func(name, typ string, unsigned bool) change.Column {
		c := change.Column{Name: name, Type: typ, SQLType: typ, Length: -1, Unsigned: unsigned}
		switch typ {
		case "bigint":
			c.SQLType = "bigint(21)"
		case "tinyint":
			c.SQLType = "tinyint(1)"
		}
		if unsigned {
			c.SQLType += " unsigned"
		}
		return c
	}
	return &change.Table{Schema: k.schema, Name: k.name, Columns: []change.Column{
		col("next_not_cached_value", "bigint", false), col("minimum_value", "bigint", false),
		col("maximum_value", "bigint", false), col("start_value", "bigint", false),
		col("increment", "bigint", false), col("cache_size", "bigint", true),
		col("cycle_option", "tinyint", true), col("cycle_count", "bigint", false),
	}}
}

func (h *History) serverCharsetOrDefault() string {
	if h.serverCharset != "" {
		return h.serverCharset
	}
	return DefaultCharset
}

func dbOptionCharset(p *prepared, fallback string) string {
	return tableCharset(p.charset, p.collate, fallback)
}

func qualify(defaultSchema string, tn tableName) key {
	if tn.schema == "" {
		return key{defaultSchema, tn.name}
	}
	return key{tn.schema, tn.name}
}

func qualifyName(defaultSchema string, tn *ast.TableName) key {
	s := tn.Schema.O
	if s == "" {
		s = defaultSchema
	}
	return key{s, tn.Name.O}
}

func (h *History) applyCreate(defaultSchema string, stmt *ast.CreateTableStmt, p *prepared, gtid string, at Mark) (*change.Table, error) {
	k := qualifyName(defaultSchema, stmt.Table)
	cur, _ := h.current(k)
	if stmt.IfNotExists && (cur != nil || h.isUnknown(k)) {
		// The table exists: nothing changes (an unknown table stays
		// unknown; its definition is not this statement's).
		return nil, nil
	}
	if stmt.ReferTable != nil {
		src := qualifyName(defaultSchema, stmt.ReferTable)
		st, scs := h.current(src)
		if st == nil {
			return nil, fmt.Errorf("CREATE TABLE %s.%s LIKE %s.%s: source %w", k.schema, k.name, src.schema, src.name, ErrNoDefinition)
		}
		return h.define(k, cloneTable(st), scs, gtid, at, cur), nil
	}
	if stmt.Select != nil || p.hasSelect {
		return nil, fmt.Errorf("CREATE TABLE %s.%s ... SELECT: column types come from the query", k.schema, k.name)
	}
	cs := tableCharset(p.charset, p.collate, h.dbCharset(k.schema))
	t, err := buildTable(defaultSchema, stmt, p, cs)
	if err != nil {
		return nil, err
	}
	return h.define(k, t, cs, gtid, at, cur), nil
}

// rename moves a table's definition to a new name; the new name continues
// the version numbering.
func (h *History) rename(from, to key, gtid string, at Mark) *change.Table {
	if h.last(from) == nil {
		return nil // never seen: nothing to move
	}
	t, cs := h.current(from)
	if t == nil {
		if r := h.last(from); r.State == stateUnknown {
			h.invalidate(to, at, gtid, "renamed from "+from.schema+"."+from.name+", whose definition is unknown")
		}
		h.drop(from, at, gtid)
		return nil
	}
	nt := cloneTable(t)
	nt.Was = from.schema + "." + from.name
	nt.Schema, nt.Name = to.schema, to.name
	nt.Version = max(h.maxVersion(from), h.maxVersion(to)) + 1
	nt.GTID = gtid
	h.drop(from, at, gtid)
	h.add(to, record{At: at, GTID: gtid, Table: nt, Charset: cs})
	return nt
}

// alterState is a table being altered: columns, primary key by column name,
// default charset.
type alterState struct {
	t    *change.Table
	pk   []string
	cs   string
	conv string // CONVERT TO CHARACTER SET target
}

func (a *alterState) find(name string) int { return columnIndex(a.t, name) }

func (a *alterState) place(c change.Column, pos *ast.ColumnPosition, replace int) error {
	cols := a.t.Columns
	if replace >= 0 {
		if pos == nil || pos.Tp == ast.ColumnPositionNone {
			cols[replace] = c
			return nil
		}
		cols = slices.Delete(cols, replace, replace+1)
	}
	idx := len(cols)
	if h := hiddenPeriodAt(&change.Table{Columns: cols}); h >= 0 {
		idx = h // hidden system-versioning columns stay last
	}
	if pos != nil {
		switch pos.Tp {
		case ast.ColumnPositionFirst:
			idx = 0
		case ast.ColumnPositionAfter:
			a.t.Columns = cols
			i := a.find(pos.RelativeColumn.Name.O)
			if i < 0 {
				return fmt.Errorf("AFTER %s: no such column", pos.RelativeColumn.Name.O)
			}
			idx = i + 1
		}
	}
	a.t.Columns = slices.Insert(cols, idx, c)
	return nil
}

func (a *alterState) renamePK(old, new string) {
	for i, n := range a.pk {
		if strings.EqualFold(n, old) {
			a.pk[i] = new
		}
	}
}

// applyAlter applies ALTER TABLE. It returns the new version (nil when the
// definition did not change) and, for RENAME TO, the new name.
func (h *History) applyAlter(defaultSchema string, stmt *ast.AlterTableStmt, p *prepared, gtid string, at Mark) (*change.Table, key, error) {
	k := qualifyName(defaultSchema, stmt.Table)
	cur, cs := h.current(k)
	if cur == nil {
		return nil, key{}, fmt.Errorf("ALTER TABLE %s.%s: %w", k.schema, k.name, ErrNoDefinition)
	}
	a := &alterState{t: cloneTable(cur), cs: cs}
	a.t.Was = "" // renames are relative to the version before
	for i := range a.t.Columns {
		a.t.Columns[i].Was = ""
	}
	for _, i := range cur.PrimaryKey {
		a.pk = append(a.pk, cur.Columns[i].Name)
	}
	// Table options first: new columns take the new default charset.
	if p.convertCharset != "" || p.convertCollate != "" || p.convertDefault {
		a.conv = tableCharset(p.convertCharset, p.convertCollate, h.dbCharset(k.schema))
		a.cs = a.conv
		for i := range a.t.Columns {
			convertColumn(&a.t.Columns[i], a.conv)
		}
	}
	switch {
	case p.charset != "" || p.collate != "":
		a.cs = tableCharset(p.charset, p.collate, a.cs)
	case p.charsetDefault:
		a.cs = h.dbCharset(k.schema)
	}
	var renameTo *key
	for _, spec := range stmt.Specs {
		switch spec.Tp {
		case ast.AlterTableAddColumns:
			for _, def := range spec.NewColumns {
				if a.find(def.Name.Name.O) >= 0 {
					if spec.IfNotExists {
						continue
					}
					return nil, key{}, fmt.Errorf("ADD COLUMN %s: column exists", def.Name.Name.O)
				}
				c, isPK := buildColumn(def, p.cols[strings.ToLower(def.Name.Name.O)], a.cs)
				if err := a.place(c, spec.Position, -1); err != nil {
					return nil, key{}, err
				}
				if isPK {
					a.pk = []string{c.Name}
				}
			}
		case ast.AlterTableDropColumn:
			name := spec.OldColumnName.Name.O
			i := a.find(name)
			if i < 0 {
				if spec.IfExists {
					continue
				}
				return nil, key{}, fmt.Errorf("DROP COLUMN %s: no such column", name)
			}
			a.t.Columns = slices.Delete(a.t.Columns, i, i+1)
			a.pk = slices.DeleteFunc(a.pk, func(n string) bool { return strings.EqualFold(n, name) })
		case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
			def := spec.NewColumns[0]
			old := def.Name.Name.O
			if spec.Tp == ast.AlterTableChangeColumn {
				old = spec.OldColumnName.Name.O
			}
			i := a.find(old)
			if i < 0 {
				if spec.IfExists {
					continue
				}
				return nil, key{}, fmt.Errorf("%s COLUMN %s: no such column", map[bool]string{true: "CHANGE", false: "MODIFY"}[spec.Tp == ast.AlterTableChangeColumn], old)
			}
			c, isPK := buildColumn(def, p.cols[strings.ToLower(def.Name.Name.O)], a.cs)
			if !strings.EqualFold(old, c.Name) {
				c.Was = a.t.Columns[i].Name
			}
			a.renamePK(old, c.Name)
			if err := a.place(c, spec.Position, i); err != nil {
				return nil, key{}, err
			}
			if isPK {
				a.pk = []string{c.Name}
			}
		case ast.AlterTableRenameColumn:
			old, nw := spec.OldColumnName.Name.O, spec.NewColumnName.Name.O
			i := a.find(old)
			if i < 0 {
				if slices.Contains(p.renameIfExists, strings.ToLower(old)) {
					continue
				}
				return nil, key{}, fmt.Errorf("RENAME COLUMN %s: no such column", old)
			}
			if a.t.Columns[i].Was == "" {
				a.t.Columns[i].Was = a.t.Columns[i].Name
			}
			a.t.Columns[i].Name = nw
			a.renamePK(old, nw)
		case ast.AlterTableAddConstraint:
			c := spec.Constraint
			switch c.Tp {
			case ast.ConstraintPrimaryKey:
				if p.pkIfNotExists && len(a.pk) > 0 {
					continue
				}
				a.pk = a.pk[:0]
				for _, kp := range c.Keys {
					if kp.Column == nil {
						return nil, key{}, fmt.Errorf("ADD PRIMARY KEY on an expression")
					}
					a.pk = append(a.pk, kp.Column.Name.O)
				}
			case ast.ConstraintCheck:
				markJSONCheck(a.t, c.Expr)
			}
		case ast.AlterTableDropPrimaryKey:
			a.pk = nil
		case ast.AlterTableRenameTable:
			nk := qualifyName(defaultSchema, spec.NewTable)
			renameTo = &nk
		}
	}
	switch {
	case p.dropVersioning:
		if i := hiddenPeriodAt(a.t); i >= 0 {
			a.t.Columns = a.t.Columns[:i]
		}
	case p.addVersioning && !p.declaresPeriod() && hiddenPeriodAt(a.t) < 0:
		addHiddenPeriod(a.t)
	}
	a.t.PrimaryKey = nil
	var pk []int
	for _, n := range a.pk {
		i := a.find(n)
		if i < 0 {
			return nil, key{}, fmt.Errorf("primary key column %s does not exist", n)
		}
		pk = append(pk, i)
	}
	setPrimaryKey(a.t, pk)
	if renameTo != nil && *renameTo != k {
		a.t.Was = k.schema + "." + k.name
		a.t.Schema, a.t.Name = renameTo.schema, renameTo.name
		a.t.Version = max(h.maxVersion(k), h.maxVersion(*renameTo)) + 1
		a.t.GTID = gtid
		h.drop(k, at, gtid)
		h.add(*renameTo, record{At: at, GTID: gtid, Table: a.t, Charset: a.cs})
		return a.t, *renameTo, nil
	}
	t := h.define(k, a.t, a.cs, gtid, at, cur)
	if t == cur {
		return nil, key{}, nil
	}
	return t, key{}, nil
}

var textSizes = []struct {
	text, blob string
	bytes      int
}{
	{"tinytext", "tinyblob", 255}, {"text", "blob", 65535}, {"mediumtext", "mediumblob", 16777215}, {"longtext", "longblob", 1<<32 - 1},
}

// convertColumn applies CONVERT TO CHARACTER SET cs to one column: character
// columns take cs, and TEXT types grow so that they still hold as many
// characters (as the server does).
func convertColumn(c *change.Column, cs string) {
	if !isCharType(c.Type) {
		return
	}
	old := c.Charset
	for i, s := range textSizes {
		if c.Type != s.text {
			continue
		}
		chars := s.bytes / mbMaxLen(old)
		for j := i; j < len(textSizes); j++ {
			if chars*mbMaxLen(cs) <= textSizes[j].bytes || j == len(textSizes)-1 {
				c.Type = textSizes[j].text
				break
			}
		}
		c.SQLType = c.Type
		break
	}
	c.Charset = cs
	if cs == "binary" {
		switch c.Type {
		case "char":
			c.Type, c.SQLType = "binary", fmt.Sprintf("binary(%d)", c.Length)
		case "varchar":
			c.Type, c.SQLType = "varbinary", fmt.Sprintf("varbinary(%d)", c.Length)
		case "tinytext", "text", "mediumtext", "longtext":
			c.Type = strings.TrimSuffix(c.Type, "text") + "blob"
			c.SQLType = c.Type
		}
	}
}
