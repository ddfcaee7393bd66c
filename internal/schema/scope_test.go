package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustScope(t *testing.T, mode string, schemas, tables []string, match, exclude string) *Scope {
	t.Helper()
	sc, err := NewScope(mode, schemas, tables, match, exclude)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestScopeContains(t *testing.T) {
	cases := []struct {
		name        string
		sc          *Scope
		in, out     []string // db.table
		dbIn, dbOut []string
	}{
		{name: "all", sc: mustScope(t, ScopeAll, []string{"a"}, nil, "", ""),
			in: []string{"a.t", "b.t", "mysql.user"}, dbIn: []string{"a", "b"}},
		{name: "tables", sc: mustScope(t, ScopeCapturedTables, nil, []string{"a.t1", "b.x"}, "", ""),
			in: []string{"a.t1", "b.x"}, out: []string{"a.t2", "c.t1", "mysql.user"},
			dbIn: []string{"a", "b"}, dbOut: []string{"c", "mysql"}},
		{name: "tables and schemas", sc: mustScope(t, ScopeCapturedTables, []string{"s"}, []string{"a.t1"}, "", `\.skip$`),
			in: []string{"a.t1", "s.any"}, out: []string{"a.t2", "s.skip"}, dbIn: []string{"a", "s"}, dbOut: []string{"b"}},
		{name: "databases", sc: mustScope(t, ScopeCapturedDatabase, []string{"s"}, []string{"a.t1"}, "", ""),
			in: []string{"a.t1", "a.t2", "s.x"}, out: []string{"b.t1", "sys.x"}, dbIn: []string{"a", "s"}, dbOut: []string{"b"}},
		{name: "pattern only", sc: mustScope(t, ScopeCapturedTables, nil, nil, `^app\.`, ""),
			in: []string{"app.t"}, out: []string{"other.t", "mysql.db"}, dbIn: []string{"app", "other"}, dbOut: []string{"mysql"}},
		{name: "databases, pattern only", sc: mustScope(t, ScopeCapturedDatabase, nil, nil, `^app\.`, ""),
			in: []string{"app.t", "other.t"}, out: []string{"mysql.db"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, full := range c.in {
				db, tbl, _ := strings.Cut(full, ".")
				if !c.sc.Contains(db, tbl) {
					t.Errorf("%s: %s not in scope", c.sc, full)
				}
			}
			for _, full := range c.out {
				db, tbl, _ := strings.Cut(full, ".")
				if c.sc.Contains(db, tbl) {
					t.Errorf("%s: %s in scope", c.sc, full)
				}
			}
			for _, db := range c.dbIn {
				if !c.sc.ContainsDatabase(db) {
					t.Errorf("%s: database %s not in scope", c.sc, db)
				}
			}
			for _, db := range c.dbOut {
				if c.sc.ContainsDatabase(db) {
					t.Errorf("%s: database %s in scope", c.sc, db)
				}
			}
		})
	}
	if _, err := NewScope("captured", nil, nil, "", ""); err == nil || !strings.Contains(err.Error(), "captured-tables") {
		t.Errorf("bad mode: %v", err)
	}
	if _, err := NewScope(ScopeCapturedTables, nil, nil, "(", ""); err == nil || !strings.Contains(err.Error(), `match "("`) {
		t.Errorf("bad pattern: %v", err)
	}
}

// TestScopeKeepsOnlyCapturedDDL applies DDL on tables inside and outside a
// captured-tables scope: only the captured tables are kept, renames across
// the scope's edge leave the new name unknown or forget the old one.
func TestScopeKeepsOnlyCapturedDDL(t *testing.T) {
	dir := t.TempDir()
	h, _ := Open(dir)
	if _, err := h.SetScope(mustScope(t, ScopeCapturedTables, nil, []string{"db.kept", "db.into", "db.moved"}, "", ""), Mark{}); err != nil {
		t.Fatal(err)
	}
	runSteps(t, h, []ddlStep{
		{sql: "CREATE TABLE kept (id INT PRIMARY KEY, a INT)", want: map[string]string{"db.kept": "v1 id int, a int null | pk id"}},
		{sql: "CREATE TABLE other (id INT PRIMARY KEY, b INT)", want: map[string]string{"db.other": "none"}, affected: []string{}},
		{sql: "ALTER TABLE other ADD COLUMN c INT", want: map[string]string{"db.other": "none"}, affected: []string{}},
		{sql: "ALTER TABLE other ADD COLUMN ( ) garbage", want: map[string]string{"db.other": "none"}},
		{sql: "CREATE TABLE db2.x (id INT)", want: map[string]string{"db2.x": "none"}},
		{sql: "ALTER TABLE kept ADD COLUMN b VARCHAR(5)", want: map[string]string{"db.kept": "v2 id int, a int null, b varchar(5) null utf8mb4 | pk id"}},
		// Into the scope: the new name's definition was not kept.
		{sql: "RENAME TABLE other TO into", want: map[string]string{"db.into": "unknown", "db.other": "none"}},
		// Out of it: the old name is gone, the new one is not kept.
		{sql: "ALTER TABLE kept RENAME TO gone", want: map[string]string{"db.kept": "none", "db.gone": "none"}},
		{sql: "CREATE TABLE moved (id INT)", want: map[string]string{"db.moved": "v1 id int null"}},
		{sql: "RENAME TABLE moved TO away", want: map[string]string{"db.moved": "none", "db.away": "none"}},
		{sql: "CREATE TABLE src (id INT)", want: map[string]string{"db.src": "none"}},
		{sql: "ALTER TABLE src RENAME TO moved", want: map[string]string{"db.moved": "unknown"}},
	})
	if r := h.UnknownReason("db", "into"); !strings.Contains(r, "db.other") || !strings.Contains(r, "outside the schema-history scope") {
		t.Errorf("reason of db.into: %q", r)
	}
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`"other"`, `"db2"`, `"x"`, `"src"`, `"away"`, `"gone"`} {
		if strings.Contains(string(b), name) {
			t.Errorf("the history file holds %s, outside the scope:\n%s", name, b)
		}
	}
	if !strings.Contains(string(b), `"mode": "captured-tables"`) {
		t.Errorf("the history file does not hold its scope:\n%s", b)
	}
}

func TestScopeDatabases(t *testing.T) {
	h, _ := Open(t.TempDir())
	h.SetScope(mustScope(t, ScopeCapturedDatabase, []string{"db"}, nil, "", ""), Mark{})
	runSteps(t, h, []ddlStep{
		{sql: "CREATE DATABASE other CHARACTER SET latin1"},
		{sql: "CREATE TABLE other.t (id INT)", want: map[string]string{"other.t": "none"}},
		{sql: "CREATE DATABASE db CHARACTER SET latin1"},
		{sql: "CREATE TABLE a (id INT, s CHAR(2))", want: map[string]string{"db.a": "v1 id int null, s char(2) null latin1"}},
		{sql: "CREATE TABLE b LIKE a", want: map[string]string{"db.b": "v1 id int null, s char(2) null latin1"}},
		{sql: "CREATE TABLE c LIKE other.t", want: map[string]string{"db.c": "unknown"}, wantErr: true},
	})
	if h.dbs["other"] != nil {
		t.Error("the history keeps database other, outside the scope")
	}
}

// TestScopeWidened restarts a history kept for one table with a scope that
// takes in another: the new table is unknown, with a reason naming what it
// needs, until a definition replaces it; rewinding to the checkpoint keeps
// the gap.
func TestScopeWidened(t *testing.T) {
	dir := t.TempDir()
	h, _ := Open(dir)
	narrow := mustScope(t, ScopeCapturedTables, nil, []string{"db.a"}, "", "")
	if earlier, _ := h.SetScope(narrow, Mark{}); earlier != nil {
		t.Fatalf("a new history reports an earlier scope %s", earlier)
	}
	at := func(pos uint32) Mark { return Mark{File: "bin.000001", Pos: pos} }
	mustApply(t, h, "db", "CREATE TABLE a (id INT)", at(100))
	mustApply(t, h, "db", "CREATE TABLE b (id INT)", at(200))
	mustApply(t, h, "db", "ALTER TABLE b ADD COLUMN x INT", at(300))
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}

	// The same scope again: nothing to explain.
	h, _ = Open(dir)
	if earlier, _ := h.SetScope(mustScope(t, ScopeCapturedTables, nil, []string{"db.a"}, "", ""), at(400)); earlier != nil {
		t.Fatalf("the same scope reports an earlier one: %s", earlier)
	}

	wide := mustScope(t, ScopeCapturedTables, nil, []string{"db.a", "db.b", "db.c"}, "", "")
	earlier, err := h.SetScope(wide, at(400))
	if err != nil || earlier == nil || !earlier.Equal(narrow) {
		t.Fatalf("widened scope: earlier %v, %v", earlier, err)
	}
	h.Save()
	h, _ = Open(dir)
	h.Rewind(at(400))
	if r := h.OutsideEarlierScope("db", "b"); !strings.Contains(r, "binlog_row_metadata=FULL") || !strings.Contains(r, "db.a") {
		t.Errorf("db.b: reason %q", r)
	}
	if h.OutsideEarlierScope("db", "a") != "" {
		t.Error("db.a was in scope all along")
	}
	if !h.IsUnknown("db", "b") || h.Get("db", "b") != nil {
		t.Fatalf("db.b: %s, want unknown", summary(h, "db", "b"))
	}
	if summary(h, "db", "a") != "v1 id int null" {
		t.Errorf("db.a: %s", summary(h, "db", "b"))
	}
	// DDL on it now, not knowing the definition: it stays unknown.
	if _, err := h.ApplyDDL("db", "ALTER TABLE b ADD COLUMN y INT", "", at(500)); err == nil {
		t.Error("ALTER of a table without history applied")
	}
	if !h.IsUnknown("db", "b") {
		t.Error("db.b known after an ALTER")
	}
	// A definition proven elsewhere (a snapshot, FULL metadata) replaces it.
	if _, err := h.DefineSQL("db", "CREATE TABLE b (id INT, x INT, y INT)", "", at(600)); err != nil {
		t.Fatal(err)
	}
	if h.IsUnknown("db", "b") || h.OutsideEarlierScope("db", "b") != "" {
		t.Error("db.b still unknown after Define")
	}
	// db.c, created after the restart, is known from its CREATE.
	mustApply(t, h, "db", "CREATE TABLE c (id INT)", at(700))
	if summary(h, "db", "c") != "v1 id int null" {
		t.Errorf("db.c: %s", summary(h, "db", "c"))
	}
	h.Save()

	// Resuming at the old checkpoint again: the gap still holds.
	h, _ = Open(dir)
	h.SetScope(wide, at(400))
	h.Rewind(at(400))
	if !h.IsUnknown("db", "b") {
		t.Errorf("db.b after a rewind to the gap: %s", summary(h, "db", "b"))
	}
	// Back to all: every table kept from now on, the gap stays.
	if earlier, _ := h.SetScope(mustScope(t, ScopeAll, nil, nil, "", ""), at(400)); earlier == nil {
		t.Error("widening to all reports no earlier scope")
	}
}

// TestScopeNarrowedForgets: a narrower scope forgets the tables it leaves out.
func TestScopeNarrowedForgets(t *testing.T) {
	h, _ := Open(t.TempDir())
	mustApply(t, h, "db", "CREATE TABLE a (id INT)", Mark{})
	mustApply(t, h, "db", "CREATE TABLE b (id INT)", Mark{})
	if earlier, _ := h.SetScope(mustScope(t, ScopeCapturedTables, nil, []string{"db.a"}, "", ""), Mark{File: "f.1", Pos: 4}); earlier != nil {
		t.Errorf("narrowing from all reports an earlier scope %s", earlier)
	}
	if len(h.Tables()) != 1 || h.Get("db", "a") == nil {
		t.Errorf("tables kept: %v", h.Tables())
	}
}

func mustApply(t *testing.T, h *History, db, sql string, at Mark) {
	t.Helper()
	if _, err := h.ApplyDDL(db, sql, "", at); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
