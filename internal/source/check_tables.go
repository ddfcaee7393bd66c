package source

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/bintap/bintap/internal/config"
)

// checkCapture is what Check considers captured.
type checkCapture struct {
	all        bool            // no filter: every non-system schema
	wantSchema map[string]bool // schemas captured whole
	tables     map[string]bool // single tables "db.t" captured
	schemas    []string        // every schema holding captured tables, sorted
	noSelect   map[string]bool // schemas and "db.t" the account cannot read
}

func (f *checkCapture) captured(db, table string) bool {
	return f.wantSchema[db] || f.tables[db+"."+table]
}

// checkEngines are storage engines whose changes the binary log does not
// carry faithfully, with the reason.
// MEMORY and BLACKHOLE tables are not captured at all (config.UncapturedEngine);
// the others are captured with a warning.
var checkEngines = map[string]string{
	"FEDERATED": "FEDERATED tables keep their rows on another server; changes made there directly never reach this binary log",
	"CONNECT":   "CONNECT tables keep their rows outside the server; changes made there directly never reach this binary log",
	"SPIDER":    "SPIDER tables keep their rows on other servers; changes made there directly never reach this binary log",
}

// checkMaxListed bounds how many tables one item names and how many items
// one kind of problem gets, so a server with thousands of tables stays readable.
const checkMaxListed = 20

type checkTable struct{ db, name, kind, engine string }

func (t checkTable) String() string { return t.db + "." + t.name }

func (t checkTable) quoted() string { return checkQuoteIdent(t.db) + "." + checkQuoteIdent(t.name) }

// checkPlaceholders returns "?,?,?" for n values.
func checkPlaceholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func checkArgs(ss []string) []any {
	args := make([]any, len(ss))
	for i, s := range ss {
		args[i] = s
	}
	return args
}

func (c *checkRun) checkTables(ctx context.Context) {
	schemas := c.capture.schemas
	if len(schemas) == 0 {
		c.add("captured tables", CheckWarn, "no schema to capture was found (or this account can see none)",
			"create the schema, or grant SELECT on it (see above), or name the schemas to capture")
		return
	}
	// information_schema.TABLES with only names, type and engine: no table
	// is opened for statistics, which keeps this fast with many tables.
	rows, err := c.db.QueryContext(ctx,
		"SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ("+
			checkPlaceholders(len(schemas))+") ORDER BY TABLE_SCHEMA, TABLE_NAME", checkArgs(schemas)...)
	if err != nil {
		c.add("captured tables", CheckWarn, "could not list tables: "+err.Error(), "")
		return
	}
	var tables, views, uncaptured []checkTable
	var versioned []string
	found := map[string]bool{}
	for rows.Next() {
		var t checkTable
		var engine sql.NullString
		if err := rows.Scan(&t.db, &t.name, &t.kind, &engine); err != nil {
			rows.Close()
			c.add("captured tables", CheckWarn, "could not list tables: "+err.Error(), "")
			return
		}
		t.engine = strings.ToUpper(engine.String)
		if !c.capture.captured(t.db, t.name) {
			continue
		}
		switch t.kind {
		case "BASE TABLE", "SYSTEM VERSIONED":
			found[t.db] = true
			found[t.String()] = true
			if config.UncapturedEngine(t.engine) != "" {
				uncaptured = append(uncaptured, t)
				continue
			}
			tables = append(tables, t)
			if t.kind == "SYSTEM VERSIONED" {
				versioned = append(versioned, t.String())
			}
		case "VIEW":
			views = append(views, t)
			found[t.db] = true
			found[t.String()] = true
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		c.add("captured tables", CheckWarn, "could not list tables: "+err.Error(), "")
		return
	}

	var missing []string
	for _, db := range checkKeys(c.capture.wantSchema) {
		if !found[db] && !c.capture.noSelect[db] {
			missing = append(missing, "schema "+db)
		}
	}
	for _, t := range checkKeys(c.capture.tables) {
		db, _, _ := strings.Cut(t, ".")
		if !found[t] && !c.capture.noSelect[t] && !c.capture.noSelect[db] && !c.capture.wantSchema[db] {
			missing = append(missing, "table "+t)
		}
	}
	if len(missing) > 0 {
		c.add("not found", CheckWarn,
			"captured but not found (empty, misspelt, or not visible to "+c.account+"): "+checkList(missing, checkMaxListed),
			"check the names given to --schemas/--tables, and that the account has SELECT on them")
	}
	inSchemas := map[string]bool{}
	for _, t := range tables {
		inSchemas[t.db] = true
	}
	c.add("captured tables", CheckInfo, fmt.Sprintf("%s in %s: %s",
		checkPlural(len(tables), "table"), checkPlural(len(inSchemas), "schema"), checkList(checkKeys(inSchemas), checkMaxListed)), "")

	c.checkPrimaryKeys(ctx, schemas, tables)
	c.checkEngines(tables, uncaptured)
	if len(versioned) > 0 {
		c.add("system-versioned tables", CheckInfo, "captured by the stream and snapshots with their period columns (row_start and row_end, or the AS ROW START/END columns), "+
			"as the binary log carries them; rows kept as history are not read by a snapshot, only the current ones: "+checkList(versioned, checkMaxListed), "")
	}

	detail := "views and temporary tables are never captured: changes made through a view are logged as changes of its base tables, and temporary tables never reach the binary log in ROW format"
	if len(views) > 0 {
		names := make([]string, len(views))
		for i, v := range views {
			names[i] = v.String()
		}
		detail += "; views in the captured schemas: " + checkList(names, checkMaxListed)
	} else {
		detail += "; the captured schemas hold no views"
	}
	c.add("views", CheckInfo, detail, "")
}

// checkPrimaryKeys warns about captured tables without a primary key, and
// suggests a NOT NULL unique key as the primary key where one exists.
func (c *checkRun) checkPrimaryKeys(ctx context.Context, schemas []string, tables []checkTable) {
	if len(tables) == 0 {
		return
	}
	rows, err := c.db.QueryContext(ctx,
		"SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, COLUMN_NAME, NULLABLE FROM information_schema.STATISTICS WHERE NON_UNIQUE = 0 AND TABLE_SCHEMA IN ("+
			checkPlaceholders(len(schemas))+") ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX", checkArgs(schemas)...)
	if err != nil {
		c.add("primary keys", CheckWarn, "could not read indexes: "+err.Error(), "")
		return
	}
	type key struct {
		cols    []string
		notNull bool
	}
	hasPK := map[string]bool{}
	unique := map[string]map[string]*key{} // table -> index -> key
	for rows.Next() {
		var db, table, index string
		var col, nullable sql.NullString
		if err := rows.Scan(&db, &table, &index, &col, &nullable); err != nil {
			rows.Close()
			c.add("primary keys", CheckWarn, "could not read indexes: "+err.Error(), "")
			return
		}
		t := db + "." + table
		if index == "PRIMARY" {
			hasPK[t] = true
			continue
		}
		if unique[t] == nil {
			unique[t] = map[string]*key{}
		}
		k := unique[t][index]
		if k == nil {
			k = &key{notNull: true}
			unique[t][index] = k
		}
		if !col.Valid { // functional index part: not a column
			k.notNull = false
			continue
		}
		k.cols = append(k.cols, col.String)
		if strings.EqualFold(nullable.String, "YES") {
			k.notNull = false
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		c.add("primary keys", CheckWarn, "could not read indexes: "+err.Error(), "")
		return
	}
	var without []string
	var fixes []string
	for _, t := range tables {
		if hasPK[t.String()] {
			continue
		}
		without = append(without, t.String())
		if len(fixes) >= checkMaxListed {
			continue
		}
		cols := "<columns that identify a row>"
		note := ""
		indexes := unique[t.String()]
		names := make([]string, 0, len(indexes))
		for name := range indexes {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if k := indexes[name]; k.notNull && len(k.cols) > 0 {
				quoted := make([]string, len(k.cols))
				for i, col := range k.cols {
					quoted[i] = checkQuoteIdent(col)
				}
				cols, note = strings.Join(quoted, ", "), "   -- the columns of its NOT NULL unique key "+name
				break
			}
		}
		fixes = append(fixes, fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (%s);%s", t.quoted(), cols, note))
	}
	if len(without) == 0 {
		c.add("primary keys", CheckOK, "every captured table has a primary key", "")
		return
	}
	if len(without) > len(fixes) {
		fixes = append(fixes, fmt.Sprintf("-- and %d more tables", len(without)-len(fixes)))
	}
	c.add("primary keys", CheckWarn,
		fmt.Sprintf("%s without a primary key: %s. Their updates and deletes are keyed by all columns, which is slower and cannot tell identical rows apart",
			checkPlural(len(without), "table"), checkList(without, checkMaxListed)),
		strings.Join(fixes, "\n"))
}

// checkEngines warns, table by table, about engines whose changes the
// binary log does not carry.
func (c *checkRun) checkEngines(tables, uncaptured []checkTable) {
	var rest, left, named []string
	for _, t := range uncaptured {
		if c.capture.tables[t.String()] {
			named = append(named, t.String()+" ("+t.engine+"): "+config.UncapturedEngine(t.engine))
		} else {
			left = append(left, t.String()+" ("+t.engine+")")
		}
	}
	for _, t := range tables {
		why, bad := checkEngines[t.engine]
		if !bad {
			continue
		}
		if c.countItems(CheckWarn, "engine of ") >= checkMaxListed {
			rest = append(rest, t.String()+" ("+t.engine+")")
			continue
		}
		c.add("engine of "+t.String(), CheckWarn, t.engine+": "+why,
			fmt.Sprintf("ALTER TABLE %s ENGINE=InnoDB;\nor leave the table out of the captured tables", t.quoted()))
	}
	if len(rest) > 0 {
		c.add("engines", CheckWarn, "more tables whose changes cannot be captured: "+checkList(rest, checkMaxListed),
			"ALTER TABLE <table> ENGINE=InnoDB; for each, or leave them out of the captured tables")
	}
	if len(named) > 0 {
		c.add("tables never captured", CheckFail,
			"--tables names MEMORY or BLACKHOLE tables, which bintap never captures (bintap stream stops at start, exit status 2): "+strings.Join(named, "; "),
			"remove them from --tables (or --tables-file), or ALTER TABLE <table> ENGINE=InnoDB;")
	}
	if len(left) > 0 {
		c.add("tables never captured", CheckWarn,
			"MEMORY and BLACKHOLE tables are left out of the stream and of snapshots (what the binary log says of them is not what they hold): "+checkList(left, checkMaxListed),
			"ALTER TABLE <table> ENGINE=InnoDB; to capture one")
	}
}

// countItems counts items with the status whose name starts with prefix.
func (c *checkRun) countItems(st CheckStatus, prefix string) int {
	n := 0
	for _, it := range c.rep.Items {
		if it.Status == st && strings.HasPrefix(it.Name, prefix) {
			n++
		}
	}
	return n
}
