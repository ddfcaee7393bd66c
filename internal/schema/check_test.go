package schema

import (
	"strings"
	"testing"
)

func TestSplitScript(t *testing.T) {
	script := "-- a dump\n" +
		"CREATE TABLE a (x INT); -- trailing; comment\n" +
		"INSERT INTO a VALUES ('x;y', \"z;\", `q;`);\n" +
		"/* block ; comment */\n" +
		"/*!40101 SET NAMES utf8 */;\n" +
		"DELIMITER ;;\n" +
		"CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET @a = 1; SET @b = 2; END ;;\n" +
		"DELIMITER ;\n" +
		"\n" +
		"ALTER TABLE a\n  ADD y INT;\n" +
		"DROP TABLE a"
	got := SplitScript(script)
	want := []Statement{
		{"-- a dump\nCREATE TABLE a (x INT)", 2},
		{"-- trailing; comment\nINSERT INTO a VALUES ('x;y', \"z;\", `q;`)", 3},
		{"/* block ; comment */\n/*!40101 SET NAMES utf8 */", 5},
		{"CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET @a = 1; SET @b = 2; END", 7},
		{"ALTER TABLE a\n  ADD y INT", 10},
		{"DROP TABLE a", 12},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d statements %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d = %q line %d, want %q line %d", i, got[i].SQL, got[i].Line, want[i].SQL, want[i].Line)
		}
	}
}

func TestCheckScript(t *testing.T) {
	script := `CREATE TABLE t1 (id INT PRIMARY KEY, d DATE DEFAULT CAST(CURRENT_TIMESTAMP() AS DATE), row VARCHAR(3));
ALTER TABLE t1 ADD COLUMN c INT, ALGORITHM=INSTANT;
ALTER TABLE t1 ADD INDEX (c), LOCK=NONE;
CREATE INDEX i ON t1 (c);
CREATE VIEW v AS SELECT * FROM t1;
INSERT INTO t1 (id) VALUES (1);
TRUNCATE t1;
CREATE TEMPORARY TABLE tmp (x INT);
USE other;
CREATE TABLE t2 (a INT);
ALTER TABLE elsewhere ADD COLUMN b INT;
ALTER TABLE t2 ADD COLUMN x FANCYTYPE(3) WITH MAGIC;
CREATE SEQUENCE s;
ALTER SEQUENCE s RESTART 5;
CREATE TABLE IF NOT EXISTS t2 (z INT);
CREATE TABLE IF NOT EXISTS test.t1 (z INT);
RENAME TABLE IF EXISTS test.t1 TO test.t3;
`
	stmts, results := CheckScript(script, "test")
	want := []struct {
		v    Verdict
		text string // in Tables or Reason
	}{
		{Applied, "test.t1 v1: 3 columns"},
		{Applied, "test.t1 v2: 4 columns"},
		{Ignored, "changes no column"},
		{Ignored, "index"},
		{Ignored, "views"},
		{Ignored, "data, not DDL"},
		{Ignored, "TRUNCATE"},
		{Ignored, "temporary"},
		{Ignored, "default database is now other"},
		{Applied, "other.t2 v1: 1 columns"},
		{NoDefinition, "other.elsewhere"},
		{NotUnderstood, "FANCYTYPE"},
		{Applied, "other.s v1: 8 columns"},
		{Ignored, "sequence options"},
		{Ignored, "IF NOT EXISTS"}, // t2 is unknown: it stays so
		{Ignored, "IF NOT EXISTS"},
		{Applied, "test.t3 v3: 4 columns"},
	}
	if len(results) != len(want) {
		t.Fatalf("%d results for %d statements, want %d", len(results), len(stmts), len(want))
	}
	for i, w := range want {
		r := results[i]
		text := strings.Join(r.Tables, "; ") + " " + r.Reason
		if r.Verdict != w.v || !strings.Contains(text, w.text) {
			t.Errorf("line %d %q: %s %q, want %s containing %q", stmts[i].Line, stmts[i].SQL, r.Verdict, text, w.v, w.text)
		}
	}
}

func TestVersionComments(t *testing.T) {
	const ddl = "CREATE TABLE t (a INT /*!50100 , b INT */ /*!110000 , c INT */ /*M!100500 , d INT */ /*!, e INT */)"
	cases := []struct {
		flavor, version string
		want            string
	}{
		{"", "", "v1 a int null, b int null, c int null, d int null, e int null"},
		{"mariadb", "10.11.19-MariaDB-log", "v1 a int null, b int null, d int null, e int null"},
		{"mariadb", "11.4.2-MariaDB", "v1 a int null, b int null, c int null, d int null, e int null"},
		{"mariadb", "10.4.30-MariaDB", "v1 a int null, b int null, e int null"},
		{"mysql", "8.0.36", "v1 a int null, b int null, e int null"},
	}
	for _, tc := range cases {
		h, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if tc.flavor != "" {
			h.SetServer(tc.flavor, tc.version)
		}
		if _, err := h.ApplyDDL("db", ddl, "", Mark{}); err != nil {
			t.Fatalf("%s %s: %v", tc.flavor, tc.version, err)
		}
		if got := summary(h, "db", "t"); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.flavor, tc.version, got, tc.want)
		}
	}
}

// TestConstructsUnit covers constructs the private MariaDB 10.11 of the live
// tests does not accept (MySQL-only syntax, MariaDB 11 types), with the
// definitions those servers give them.
func TestConstructsUnit(t *testing.T) {
	steps := []ddlStep{
		{sql: "CREATE TABLE v (id INT PRIMARY KEY, e VECTOR(3) NOT NULL, u UUID, i INET6)",
			want: map[string]string{"db.v": "v1 id int, e vector(3), u uuid null, i inet6 null | pk id"}},
		{sql: "CREATE TABLE m (id INT, c INT VISIBLE, d INT NOT SECONDARY, j JSON DEFAULT (JSON_ARRAY()), " +
			"g POINT NOT NULL SRID 4326, x VARCHAR(3) /*!80023 INVISIBLE */) /*!80016 DEFAULT ENCRYPTION='N' */",
			want: map[string]string{"db.m": "v1 id int null, c int null, d int null, j json null, g point, x varchar(3) null utf8mb4"}},
		{sql: "ALTER TABLE m ADD COLUMN k INT AFTER `id`, ALTER COLUMN c SET INVISIBLE, RENAME COLUMN d TO d2, ALGORITHM=INSTANT",
			want: map[string]string{"db.m": "v2 id int null, k int null, c int null, d2 int null, j json null, g point, x varchar(3) null utf8mb4"}},
		{sql: "CREATE TABLE r (id BIGINT, CONSTRAINT c1 CHECK (id > 0) NOT ENFORCED, INDEX ((id + 1)))",
			want: map[string]string{"db.r": "v1 id bigint null"}},
		{sql: "ALTER TABLE r ADD COLUMN d DATETIME DEFAULT (CURRENT_TIMESTAMP + INTERVAL 1 DAY), DROP CHECK c1",
			want: map[string]string{"db.r": "v2 id bigint null, d datetime null"}},
		{sql: "CREATE TABLE w (`window` INT, `groups` INT, `rank` INT, `row_number` INT, lead_ INT)",
			want: map[string]string{"db.w": "v1 window int null, groups int null, rank int null, row_number int null, lead_ int null"}},
	}
	h, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, h, steps)
}

// TestNonReservedNames: words MariaDB does not reserve name columns, also
// where they could start a clause (the statements are ones MariaDB 10.11
// accepts; constructs.sql runs them on a server too).
func TestNonReservedNames(t *testing.T) {
	steps := []ddlStep{
		{sql: "CREATE TABLE n (id INT, period INT, system INT, vector INT, row INT, `key` INT, PRIMARY KEY (id, row))",
			want: map[string]string{"db.n": "v1 id int, period int null, system int null, vector int null, row int, key int null | pk id,row"}},
		{sql: "ALTER TABLE n DROP COLUMN period, DROP COLUMN system, ADD COLUMN status INT AFTER vector",
			want: map[string]string{"db.n": "v2 id int, vector int null, status int null, row int, key int null | pk id,row"}},
		{sql: "ALTER TABLE n CHANGE vector rank INT",
			want: map[string]string{"db.n": "v3 id int, rank int null, status int null, row int, key int null | pk id,row"}},
		{sql: "ALTER TABLE n ADD COLUMN period INT FIRST, ADD COLUMN system DATE AFTER row",
			want: map[string]string{"db.n": "v4 period int null, id int, rank int null, status int null, row int, system date null, key int null | pk id,row"}},
	}
	h, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, h, steps)
}

func TestANSIQuotes(t *testing.T) {
	h, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.ApplyDDLMode("db", `CREATE TABLE "t q" ("a b" INT, "c""d" VARCHAR(3) DEFAULT 'x', PRIMARY KEY ("a b"))`, "", Mark{}, true); err != nil {
		t.Fatal(err)
	}
	if got, want := summary(h, "db", "t q"), `v1 a b int, c"d varchar(3) null utf8mb4 | pk a b`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := h.ApplyDDLMode("db", `SET STATEMENT max_statement_time = 5 FOR ALTER TABLE "t q" ADD COLUMN "e" INT AFTER "a b"`, "", Mark{}, true); err != nil {
		t.Fatal(err)
	}
	if got, want := summary(h, "db", "t q"), `v2 a b int, e int null, c"d varchar(3) null utf8mb4 | pk a b`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// Without ANSI_QUOTES, "x" is a string: a default, not a name.
	if _, err := h.ApplyDDL("db", `CREATE TABLE s (a VARCHAR(3) DEFAULT "x")`, "", Mark{}); err != nil {
		t.Fatal(err)
	}
	if d := h.Get("db", "s").Columns[0].Default; d == nil || *d != "x" {
		t.Errorf("default %v, want x", d)
	}
}

func TestParseQueryStatus(t *testing.T) {
	vars := []byte{
		0, 0, 0, 0, 0, // flags2
		1, 4, 0, 0, 0, 0, 0, 0, 0, // sql_mode ANSI_QUOTES
		6, 3, 's', 't', 'd', // catalog
		3, 1, 0, 1, 0, // auto_increment
		4, 8, 0, 8, 0, 45, 0, // charset: client latin1_swedish_ci (8)
		5, 6, 'S', 'Y', 'S', 'T', 'E', 'M', // time zone
		11, 1, 'u', 1, 'h', // invoker
		12, 2, 'a', 0, 'b', 'c', 0, // updated db names
		128, 1, 2, 3, // MariaDB hrnow
		200, 9, 9, // unknown: stop
	}
	st := ParseQueryStatus(vars)
	if st.SQLMode != 4 || !st.ANSIQuotes() || st.ClientCollation != 8 {
		t.Errorf("got %+v", st)
	}
	if st := ParseQueryStatus([]byte{0, 1, 2}); st != (QueryStatus{}) {
		t.Errorf("truncated: got %+v", st)
	}
	if st := ParseQueryStatus([]byte{4, 33, 0, 33, 0, 33, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}); st.ClientCollation != 33 || st.SQLMode != 0 {
		t.Errorf("got %+v", st)
	}
}

// TestRenameOfUnknown: ALTER TABLE ... RENAME TO of a table whose
// definition is unknown leaves the new name unknown (not "never seen"), and
// the old name gone.
func TestRenameOfUnknown(t *testing.T) {
	h, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, h, []ddlStep{
		{sql: "ALTER TABLE never_seen ADD COLUMN a INT, RENAME TO renamed", wantErr: true,
			want: map[string]string{"db.renamed": "unknown", "db.never_seen": "none"}},
		{sql: "CREATE TABLE x (a INT)"},
		{sql: "ALTER TABLE x ADD COLUMN b NOSUCHTYPE, RENAME TO y", wantErr: true,
			want: map[string]string{"db.y": "unknown", "db.x": "none"}},
	})
}

// TestAlterWithoutColumnsOnUnseenTable: an ALTER that changes no column
// does not make a table the history never saw (created before the stream
// started) unknown.
func TestAlterWithoutColumnsOnUnseenTable(t *testing.T) {
	h, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, h, []ddlStep{
		{sql: "ALTER TABLE before_start ENGINE=InnoDB, ALGORITHM=COPY", want: map[string]string{"db.before_start": "none"}},
		{sql: "ALTER TABLE before_start ADD INDEX (a), DROP INDEX b, COMMENT 'x'", want: map[string]string{"db.before_start": "none"}},
		{sql: "ALTER TABLE before_start REPAIR PARTITION ALL", want: map[string]string{"db.before_start": "none"}},
		{sql: "ALTER TABLE before_start COALESCE PARTITION 2", want: map[string]string{"db.before_start": "none"}},
		{sql: "ALTER TABLE before_start ADD COLUMN c INT", wantErr: true, want: map[string]string{"db.before_start": "unknown"}},
	})
	if h.UnknownReason("db", "before_start") == "" {
		t.Error("no reason recorded")
	}
}
