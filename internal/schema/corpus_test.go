package schema_test

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/binlog"
	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/schema"
	"github.com/bintap/bintap/internal/source"
	"github.com/bintap/bintap/internal/testutil"
	"github.com/go-mysql-org/go-mysql/replication"
)

// splitStatements splits a SQL script into statements at ";" outside quotes
// and comments. Between "-- delimiter //" and "-- delimiter ;" comments (the
// corpus's way of writing compound statements) a statement ends at a comment
// holding "//" instead.
func splitStatements(script string) []string {
	var out []string
	var cur strings.Builder
	compound := false
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	n := len(script)
	for i := 0; i < n; {
		c := script[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < n {
				if script[j] == '\\' && c != '`' {
					j += 2
					continue
				}
				if script[j] == c {
					if j+1 < n && script[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			j = min(j+1, n)
			cur.WriteString(script[i:j])
			i = j
		case c == '#' || (c == '-' && i+1 < n && script[i+1] == '-' && (i+2 == n || script[i+2] == ' ' || script[i+2] == '\t' || script[i+2] == '\n')):
			j := strings.IndexByte(script[i:], '\n')
			if j < 0 {
				j = n - i
			}
			comment := strings.ToLower(script[i : i+j])
			i += j
			cur.WriteByte(' ')
			if compound && strings.Contains(comment, "//") {
				flush()
			}
			switch {
			case strings.Contains(comment, "delimiter //"):
				compound = true
			case strings.Contains(comment, "delimiter ;"):
				compound = false
			}
		case c == '/' && i+1 < n && script[i+1] == '*':
			j := strings.Index(script[i+2:], "*/")
			if j < 0 {
				j = n - i - 2
			}
			end := min(i+2+j+2, n)
			cur.WriteString(script[i:end])
			i = end
		case c == ';' && !compound:
			flush()
			i++
		default:
			cur.WriteByte(c)
			i++
		}
	}
	flush()
	return out
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("create table a (x int); -- c; d\n" +
		"create table `b;` (y varchar(3) default ';');\n" +
		"-- delimiter //\ncreate trigger x before insert on a for each row begin set @a=1; set @b=2; end; -- //\n-- delimiter ;\n" +
		"drop table a /* ; */;")
	want := []string{"create table a (x int)", "create table `b;` (y varchar(3) default ';')",
		"create trigger x before insert on a for each row begin set @a=1; set @b=2; end;", "drop table a /* ; */"}
	if len(got) != len(want) {
		t.Fatalf("got %d statements %q, want %q", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// refused are statements the corpus run does not send: they would stop the
// server, lose the binlog, leave locks or change global state.
func refused(stmt string) bool {
	f := strings.Fields(strings.ToUpper(stmt))
	if len(f) == 0 {
		return true
	}
	switch f[0] {
	case "SHUTDOWN", "KILL", "RESET", "PURGE", "CHANGE", "START", "STOP", "INSTALL", "UNINSTALL", "LOCK", "UNLOCK",
		"XA", "LOAD", "HANDLER", "BINLOG", "FLUSH", "BACKUP", "CACHE", "DO", "SELECT", "WITH", "CALL", "BEGIN", "COMMIT",
		"ROLLBACK", "SAVEPOINT", "RELEASE", "USE", "SIGNAL", "RESIGNAL", "GET", "DECLARE", "HELP", "SHOW", "EXPLAIN",
		"DESCRIBE", "DESC", "TABLE", "VALUES", "ANALYZE", "CHECK", "CHECKSUM", "OPTIMIZE", "REPAIR", "PREPARE", "EXECUTE",
		"DEALLOCATE", "IMPORT", "CLONE", "RESTART":
		return true
	case "SET":
		s := strings.ToUpper(stmt)
		// Session settings are kept; global ones, sql_log_bin, passwords,
		// roles and transactions are not.
		return strings.Contains(s, "GLOBAL") || strings.Contains(s, "SQL_LOG_BIN") || strings.Contains(s, "PASSWORD") ||
			strings.Contains(s, "TRANSACTION") || strings.Contains(s, "AUTOCOMMIT") || strings.Contains(s, "ROLE") ||
			strings.Contains(s, "PERSIST") || strings.Contains(s, "SLEEP") || strings.Contains(s, "LOCK_WAIT")
	}
	return strings.Contains(strings.ToUpper(stmt), "SLEEP(")
}

var moved int

// retryable makes room for a statement the server rejected because a table
// of the same name exists (the corpus reuses names: the old table is moved
// away, to keep it), because its database does not exist (it is created),
// or because an ALTER TABLE names a table or column the corpus never
// created (a stub is made, so that the ALTER's own syntax is exercised).
func retryable(ctx context.Context, conn *sql.Conn, db, stmt string, err error) bool {
	msg := err.Error()
	// The first quoted name of the message.
	i := strings.Index(msg, "'")
	if i < 0 {
		return false
	}
	j := strings.Index(msg[i+1:], "'")
	if j < 0 {
		return false
	}
	quoted := msg[i+1 : i+1+j]
	exec := func(q string) bool {
		_, err := conn.ExecContext(ctx, q)
		if err != nil && os.Getenv("CORPUS_DEBUG") != "" {
			fmt.Printf("retry %q: %v\n", q, err)
		}
		return err == nil
	}
	alter := strings.HasPrefix(strings.ToUpper(strings.TrimSpace(stmt)), "ALTER TABLE")
	switch {
	case strings.HasPrefix(msg, "Error 1050 "):
		moved++
		return exec("RENAME TABLE " + qualified(db, quoted) + " TO " + qualified("c_moved", fmt.Sprintf("%s_%d", quoted, moved)))
	case strings.HasPrefix(msg, "Error 1049 "):
		return exec("CREATE DATABASE `" + strings.ReplaceAll(quoted, "`", "``") + "`")
	case strings.HasPrefix(msg, "Error 1146 ") && alter:
		sch, tbl, ok := strings.Cut(quoted, ".")
		if !ok {
			return false
		}
		return exec("CREATE DATABASE IF NOT EXISTS `"+strings.ReplaceAll(sch, "`", "``")+"`") &&
			exec("CREATE TABLE "+qualified(sch, tbl)+" (id INT)")
	case (strings.HasPrefix(msg, "Error 1054 ") || strings.HasPrefix(msg, "Error 1091 ")) && alter:
		// Unknown column (or "Can't DROP COLUMN"): add it to the table the
		// ALTER names.
		f := strings.Fields(stmt)
		if len(f) < 3 {
			return false
		}
		tbl := f[2]
		if strings.EqualFold(tbl, "IF") && len(f) > 4 {
			tbl = f[4]
		}
		if strings.ContainsAny(tbl, "`.\"'(") {
			return false
		}
		return exec("ALTER TABLE " + qualified(db, tbl) + " ADD COLUMN `" + strings.ReplaceAll(quoted, "`", "``") + "` INT")
	}
	return false
}

// corpusLog collects what the stream logs.
type corpusLog struct {
	mu   sync.Mutex
	recs []string
}

func (l *corpusLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *corpusLog) Handle(_ context.Context, r slog.Record) error {
	var sb strings.Builder
	sb.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&sb, " %s=%q", a.Key, a.Value.String())
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, sb.String())
	l.mu.Unlock()
	return nil
}
func (l *corpusLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *corpusLog) WithGroup(string) slog.Handler      { return l }

func (l *corpusLog) matching(words ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		for _, w := range words {
			if strings.Contains(r, w) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// serverColumn is a column as information_schema.COLUMNS describes it, with
// the expression that reads its value as text comparable with the decoded
// value.
type serverColumn struct {
	name, dataType, columnType string
	expr                       string
}

// rowSnapshot is a row as the server read it back.
type rowSnapshot struct {
	cols []serverColumn
	vals []sql.NullString
}

// corpusTable is one table the corpus left on the server and the rows it
// got: after the insert, after the update.
type corpusTable struct {
	schema, name string
	versioned    bool // system-versioned
	// uncaptured: a MEMORY or BLACKHOLE table, whose rows bintap leaves
	// out of the stream.
	uncaptured bool
	rows       []rowSnapshot // inserted, updated (metadata MINIMAL); inserted, updated (FULL)
	skipped    string
}

func serverColumns(ctx context.Context, db *sql.DB, schemaName, table string, versioned bool) ([]serverColumn, error) {
	rs, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, GENERATION_EXPRESSION FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, schemaName, table)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []serverColumn
	periodDeclared := false
	for rs.Next() {
		var c serverColumn
		var gen sql.NullString
		if err := rs.Scan(&c.name, &c.dataType, &c.columnType, &gen); err != nil {
			return nil, err
		}
		if gen.String == "ROW START" {
			periodDeclared = true
		}
		q := "`" + strings.ReplaceAll(c.name, "`", "``") + "`"
		switch c.dataType {
		case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
			c.expr = "LOWER(HEX(" + q + "))"
		case "bit":
			c.expr = "CAST(" + q + " AS UNSIGNED)"
		case "year":
			c.expr = q + "+0"
		case "tinyint", "smallint", "mediumint", "int", "bigint", "decimal":
			c.expr = q
			if strings.Contains(c.columnType, "zerofill") {
				c.expr = q + "+0" // the value, without the padding the server prints
			}
		case "float", "double", "vector":
			c.expr = "NULL" // compared elsewhere (decoder tests); text forms differ
		case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
			c.expr = "ST_AsText(" + q + ")"
		default:
			c.expr = q
		}
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	if versioned && !periodDeclared {
		// The hidden columns of system versioning, which
		// information_schema does not list.
		for _, n := range []string{"row_start", "row_end"} {
			out = append(out, serverColumn{name: n, dataType: "timestamp", columnType: "timestamp(6)", expr: n})
		}
	}
	return out, nil
}

// readRow reads the only row of a table.
func readRow(ctx context.Context, conn *sql.Conn, schemaName, table string, cols []serverColumn) (rowSnapshot, error) {
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = c.expr
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err := conn.QueryRowContext(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM "+qualified(schemaName, table)+" LIMIT 1").Scan(ptrs...)
	return rowSnapshot{cols: cols, vals: vals}, err
}

func qualified(s, t string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`.`" + strings.ReplaceAll(t, "`", "``") + "`"
}

// changeRows inserts one row into the (empty) table, updates it so that a
// column changes and deletes it, returning the row as the server read it
// after the insert and after the update.
func changeRows(ctx context.Context, conn *sql.Conn, tb *corpusTable, cols []serverColumn) ([]rowSnapshot, error) {
	q := qualified(tb.schema, tb.name)
	if _, err := conn.ExecContext(ctx, "DELETE FROM "+q); err != nil {
		return nil, fmt.Errorf("empty: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO "+q+" () VALUES ()"); err != nil {
		return nil, fmt.Errorf("insert: %w", err)
	}
	ins, err := readRow(ctx, conn, tb.schema, tb.name, cols)
	if err != nil {
		return nil, fmt.Errorf("read inserted row: %w", err)
	}
	updated := false
	for _, c := range cols {
		name := "`" + strings.ReplaceAll(c.name, "`", "``") + "`"
		for _, v := range []string{"1", "2", "'x'", "'2001-02-03 04:05:06'", "'12:34:56'", "'{}'", "POINT(1,2)", "'::1'",
			"'6ccd780c-baba-1026-9564-5b8c656024db'", "'1.2.3.4'"} {
			res, err := conn.ExecContext(ctx, "UPDATE "+q+" SET "+name+" = "+v)
			if err != nil {
				continue
			}
			if n, _ := res.RowsAffected(); n > 0 {
				updated = true
				break
			}
		}
		if updated {
			break
		}
	}
	if !updated {
		return nil, fmt.Errorf("no column could be updated")
	}
	upd, err := readRow(ctx, conn, tb.schema, tb.name, cols)
	if err != nil {
		return nil, fmt.Errorf("read updated row: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "DELETE FROM "+q); err != nil {
		return nil, fmt.Errorf("delete: %w", err)
	}
	return []rowSnapshot{ins, upd}, nil
}

// valueText renders a decoded value as the comparison SELECT reads it; ok
// is false when the value is not compared.
func valueText(v change.Value) (s string, null, ok bool) {
	switch v.Kind {
	case change.KindNull:
		return "", true, true
	case change.KindInt, change.KindYear:
		return fmt.Sprint(v.Int), false, true
	case change.KindUint, change.KindBit:
		return fmt.Sprint(v.Uint), false, true
	case change.KindBytes:
		return hex.EncodeToString(v.Text), false, true
	case change.KindFloat, change.KindDouble, change.KindMissing:
		return "", false, false
	}
	return string(v.Text), false, true
}

// TestDDLCorpus runs the shared real-world DDL corpus against a private
// MariaDB with the default row metadata (statements the server rejects are
// skipped and counted), changes a row in every table that exists afterwards
// (once with binlog_row_metadata=MINIMAL, once with FULL), and streams the
// binlog from its start with an empty schema history. Every statement the
// server accepted must be applied to the history or knowingly ignored, no
// table may fall back to another source of definitions, and every row must
// decode with the server's columns and values.
func TestDDLCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private MariaDB")
	}
	dir := testutil.SharedTestdata(t, "ddl-corpus")
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s: %v", dir, err)
	}
	sort.Strings(files)
	r := replayCorpus(t, files)
	if r.accepted < 300 || r.checked < 150 {
		t.Errorf("only %d corpus statements accepted and %d tables checked: the run is broken", r.accepted, r.checked)
	}
}

// TestDDLConstructs runs testdata/constructs.sql, one statement for each
// DDL construct the schema history must apply, the same way: the server
// must accept every statement (a construct it rejects would go untested).
func TestDDLConstructs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private MariaDB")
	}
	r := replayCorpus(t, []string{filepath.Join("testdata", "constructs.sql")})
	if r.rejected > 0 {
		t.Errorf("%d statements of constructs.sql rejected by the server (see CORPUS_DEBUG=1)", r.rejected)
	}
	if r.checked < 40 {
		t.Errorf("only %d tables checked", r.checked)
	}
}

// TestDDLCorpusDir runs the *.sql files of the directory named by
// BINTAP_DDL_CORPUS the same way as TestDDLCorpus: a way to try another
// corpus (skipped when the variable is not set).
func TestDDLCorpusDir(t *testing.T) {
	dir := os.Getenv("BINTAP_DDL_CORPUS")
	if dir == "" || testing.Short() {
		t.Skip("set BINTAP_DDL_CORPUS to a directory of .sql files")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .sql files in %s: %v", dir, err)
	}
	sort.Strings(files)
	replayCorpus(t, files)
}

type corpusResult struct{ accepted, rejected, skipped, checked int }

// replayCorpus runs SQL files against a private MariaDB, changes a row in
// every table they leave, streams the binlog from its start and checks
// that every statement was applied and every row decoded as the server has
// it (see TestDDLCorpus).
func replayCorpus(t *testing.T, files []string) corpusResult {
	s := testutil.NewMariaDB(t, "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
		"--lock-wait-timeout=5", "--innodb-lock-wait-timeout=5", "--tmpdir="+t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Run the corpus group by group (MariaDB, MySQL, legacy MySQL
	// examples), each in a fresh database named test (the statements assume
	// it) on one connection: CREATE files first, then ALTER files, then the
	// rest; DROP files run after the row changes. What a group left is moved
	// to a database of its own so that the next group starts empty.
	groups := map[string][]string{}
	var groupNames []string
	for _, f := range files {
		base := filepath.Base(f)
		g := "other"
		for _, p := range []string{"examples-mariadb-", "examples-mysql-legacy-", "examples-mysql-"} {
			if strings.HasPrefix(base, p) {
				g = strings.NewReplacer("examples-", "", "-", "_").Replace(strings.TrimSuffix(p, "-"))
				break
			}
		}
		if groups[g] == nil {
			groupNames = append(groupNames, g)
		}
		groups[g] = append(groups[g], f)
	}
	rank := func(f string) int {
		switch {
		case strings.Contains(f, "create"):
			return 0
		case strings.Contains(f, "alter"):
			return 1
		case strings.Contains(f, "drop"):
			return 3
		}
		return 2
	}
	accepted, rejected, skipped := 0, 0, 0
	runFile := func(f, db string, fresh bool) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := s.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		setup := []string{"USE `" + db + "`", "SET SESSION max_statement_time = 10"}
		if fresh {
			setup = append([]string{"CREATE DATABASE IF NOT EXISTS `" + db + "`"}, setup...)
		}
		for _, q := range setup {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for _, q := range splitStatements(string(b)) {
			if refused(q) {
				skipped++
				continue
			}
			_, err := conn.ExecContext(ctx, q)
			for try := 0; err != nil && try < 6 && retryable(ctx, conn, db, q, err); try++ {
				_, err = conn.ExecContext(ctx, q)
			}
			if err != nil {
				rejected++
				if os.Getenv("CORPUS_DEBUG") != "" {
					t.Logf("rejected %.150q: %v", q, err)
				}
				continue
			}
			accepted++
		}
	}
	var dropFiles [][2]string // file, database
	s.Exec("CREATE DATABASE c_moved")
	for _, g := range groupNames {
		fs := groups[g]
		sort.SliceStable(fs, func(i, j int) bool { return rank(fs[i]) < rank(fs[j]) })
		s.Exec("DROP DATABASE IF EXISTS test", "CREATE DATABASE test")
		for _, f := range fs {
			if rank(f) == 3 {
				dropFiles = append(dropFiles, [2]string{f, "c_" + g})
				continue
			}
			runFile(f, "test", false)
		}
		rows, err := s.DB.QueryContext(ctx, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'test' AND TABLE_TYPE <> 'VIEW'")
		if err != nil {
			t.Fatal(err)
		}
		var tables []string
		for rows.Next() {
			var tn string
			if err := rows.Scan(&tn); err != nil {
				t.Fatal(err)
			}
			tables = append(tables, tn)
		}
		rows.Close()
		s.Exec("CREATE DATABASE IF NOT EXISTS `c_" + g + "`")
		for _, tn := range tables {
			if _, err := s.DB.ExecContext(ctx, "RENAME TABLE "+qualified("test", tn)+" TO "+qualified("c_"+g, tn)); err != nil {
				t.Logf("cannot move %s out of the test database: %v", tn, err)
			}
		}
	}
	t.Logf("corpus: %d statements accepted, %d rejected by the server, %d not sent", accepted, rejected, skipped)

	// A row change in every table, with each row metadata setting.
	var tables []*corpusTable
	rs, err := s.DB.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE = 'SYSTEM VERSIONED', ENGINE IN ('MEMORY', 'BLACKHOLE') FROM information_schema.TABLES
		WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		tb := &corpusTable{}
		if err := rs.Scan(&tb.schema, &tb.name, &tb.versioned, &tb.uncaptured); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, tb)
	}
	rs.Close()
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"SET SESSION sql_mode = ''", "SET SESSION foreign_key_checks = 0", "SET SESSION time_zone = '+00:00'"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// Sequences: NEXTVAL writes a row into the sequence's table.
	var sequences []string
	rs, err = s.DB.QueryContext(ctx, "SELECT CONCAT('`', TABLE_SCHEMA, '`.`', TABLE_NAME, '`') FROM information_schema.TABLES WHERE TABLE_TYPE = 'SEQUENCE'")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var q string
		if err := rs.Scan(&q); err != nil {
			t.Fatal(err)
		}
		sequences = append(sequences, q)
	}
	rs.Close()
	for _, meta := range []string{"MINIMAL", "FULL"} {
		s.Exec("SET GLOBAL binlog_row_metadata = " + meta)
		for _, q := range sequences {
			if _, err := conn.ExecContext(ctx, "SELECT NEXTVAL("+q+")"); err != nil {
				t.Errorf("NEXTVAL(%s): %v", q, err)
			}
		}
		for _, tb := range tables {
			if strings.HasPrefix(tb.name, "nodml_") {
				tb.skipped = "named nodml_: no row change wanted"
			}
			if tb.skipped != "" {
				continue
			}
			cols, err := serverColumns(ctx, s.DB, tb.schema, tb.name, tb.versioned)
			if err != nil {
				t.Fatalf("columns of %s.%s: %v; server log:\n%s", tb.schema, tb.name, err, s.Log())
			}
			rows, err := changeRows(ctx, conn, tb, cols)
			if err != nil && s.DB.PingContext(ctx) != nil {
				t.Fatalf("the server died at a row change in %s.%s: %v; server log:\n%s", tb.schema, tb.name, err, s.Log())
			}
			if err != nil {
				tb.skipped = err.Error()
				continue
			}
			tb.rows = append(tb.rows, rows...)
		}
	}
	conn.Close()
	changed := 0
	for _, tb := range tables {
		if tb.skipped == "" {
			changed++
		} else {
			t.Logf("no row change in %s.%s: %s", tb.schema, tb.name, tb.skipped)
		}
	}
	t.Logf("%d tables, %d with row changes", len(tables), changed)
	for _, df := range dropFiles {
		runFile(df[0], df[1], true)
	}
	t.Logf("corpus with DROP files: %d statements accepted, %d rejected by the server, %d not sent", accepted, rejected, skipped)

	// Replay the DDL of the binlog into a history of its own first, to
	// report every statement that is not applied (the stream stops at the
	// first table it cannot decode).
	replay, err := schema.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var version string
	if err := s.DB.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	replay.SetServer("mariadb", version)
	replay.SetServerCharset("utf8mb4")
	ddl, notApplied := 0, 0
	for _, ev := range queryEvents(t, s) {
		if _, err := replay.ApplyDDLMode(ev.db, ev.sql, "", ev.at, ev.ansiQuotes); err != nil {
			notApplied++
			t.Errorf("DDL at %s not applied: %v", ev.at, err)
		}
		ddl++
	}
	t.Logf("binlog: %d QUERY events replayed, %d not applied", ddl, notApplied)

	// Stream everything from the start with an empty history.
	stateDir := t.TempDir()
	srcConf, err := config.ParseSource(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	logs := &corpusLog{}
	hist, err := schema.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	src, err := source.Open(ctx, source.Options{Conn: srcConf, ServerID: 4242, Flavor: "mariadb", StopAtEnd: true}, hist, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	start, err := src.Resolve(ctx, config.StartPoint{Kind: config.StartOldest})
	if err != nil {
		t.Fatal(err)
	}
	free, out := pipeline.NewBatches(8), make(chan *pipeline.Batch, 6)
	type gotRow struct {
		table  *change.Table
		images [][]string // rendered values; nil entry for a value not compared
		nulls  [][]bool
		op     change.Op
	}
	got := map[string][]gotRow{}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, start, out, free) }()
	for b := range out {
		for _, ev := range b.Events {
			if ev.Op != change.OpInsert && ev.Op != change.OpUpdate && ev.Op != change.OpDelete {
				continue
			}
			r := gotRow{table: ev.Table, op: ev.Op}
			for _, img := range [][]change.Value{ev.Before, ev.After} {
				if img == nil {
					continue
				}
				texts, nulls := make([]string, len(img)), make([]bool, len(img))
				for i, v := range img {
					s, null, ok := valueText(v)
					if !ok {
						s = "\x00skip"
					}
					texts[i], nulls[i] = s, null
				}
				r.images, r.nulls = append(r.images, texts), append(r.nulls, nulls)
			}
			k := ev.Table.FullName()
			got[k] = append(got[k], r)
		}
		b.Reset()
		free <- b
	}
	if err := <-done; err != nil {
		t.Errorf("stream stopped: %v", err)
		return corpusResult{}
	}

	// Every statement applied or knowingly ignored; no fallback.
	for _, r := range logs.matching("DDL statement not understood", "loaded table definition", "schema history not used", "using the binlog's own") {
		t.Errorf("stream: %s", r)
	}
	// Every row decoded with the server's columns and values.
	checked := 0
	for _, tb := range tables {
		if tb.skipped != "" {
			continue
		}
		full := tb.schema + "." + tb.name
		evs := got[full]
		if tb.uncaptured {
			if len(evs) != 0 {
				t.Errorf("%s: a MEMORY or BLACKHOLE table, but %d row events streamed", full, len(evs))
			}
			continue
		}
		// An UPDATE of a system-versioned table also inserts the old row
		// version, and its DELETE is an UPDATE of row_end: 4 row events a
		// round, of which the first (the insert) is compared by value.
		perRound := 3
		if tb.versioned && len(evs) != 6 { // 6 when only unversioned columns changed
			perRound = 4
		}
		if len(evs) != 2*perRound {
			t.Errorf("%s: %d row events streamed, want %d (insert, update, delete twice)", full, len(evs), 2*perRound)
			continue
		}
		for round := 0; round < 2; round++ {
			ins, upd := tb.rows[2*round], tb.rows[2*round+1]
			want := [][]rowSnapshot{{ins}, {ins, upd}, {upd}}
			for j := 0; j < perRound; j++ {
				ev := evs[perRound*round+j]
				if d := columnsDiff(ev.table, ins.cols); d != "" {
					t.Errorf("%s (%s): definition used for rows differs from the server's: %s", full, []string{"MINIMAL", "FULL"}[round], d)
					break
				}
				if tb.versioned && j > 0 {
					continue
				}
				for k, img := range ev.images {
					w := want[j][k]
					for c := range w.cols {
						if img[c] == "\x00skip" || w.cols[c].expr == "NULL" {
							continue
						}
						if ev.nulls[k][c] != !w.vals[c].Valid || (w.vals[c].Valid && img[c] != w.vals[c].String) {
							t.Errorf("%s (%s) %s image %d column %s (%s): decoded %q (null %v), server has %q (null %v)", full,
								[]string{"MINIMAL", "FULL"}[round], ev.op, k, w.cols[c].name, w.cols[c].columnType,
								img[c], ev.nulls[k][c], w.vals[c].String, !w.vals[c].Valid)
						}
					}
				}
			}
		}
		checked++
	}
	for _, q := range sequences {
		full := strings.ReplaceAll(strings.Trim(q, "`"), "`.`", ".")
		sch, name, _ := strings.Cut(full, ".")
		cols, err := serverColumns(ctx, s.DB, sch, name, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(got[full]) == 0 {
			t.Errorf("sequence %s: no row event streamed for NEXTVAL", full)
		}
		for _, ev := range got[full] {
			if d := columnsDiff(ev.table, cols); d != "" {
				t.Errorf("sequence %s: definition used for rows differs from the server's: %s", full, d)
				break
			}
		}
	}
	t.Logf("%d tables and %d sequences checked", checked, len(sequences))
	return corpusResult{accepted: accepted, rejected: rejected, skipped: skipped, checked: checked}
}

type queryEvent struct {
	db, sql    string
	at         schema.Mark
	ansiQuotes bool
}

// queryEvents lists the QUERY events of the server's binlog files (but
// BEGIN and COMMIT), read with go-mysql's parser as the stream reads them.
func queryEvents(t *testing.T, s *testutil.Server) []queryEvent {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.DataDir, "mysql-bin.[0-9]*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no binlog files in %s: %v", s.DataDir, err)
	}
	sort.Strings(files)
	var out []queryEvent
	for _, f := range files {
		p := replication.NewBinlogParser()
		p.SetVerifyChecksum(false) // the file in use has the in-use flag
		p.SetRowsEventDecodeFunc(func(*replication.RowsEvent, []byte) error { return nil })
		err := p.ParseFile(f, 0, func(e *replication.BinlogEvent) error {
			q, ok := e.Event.(*replication.QueryEvent)
			if !ok || string(q.Query) == "BEGIN" || string(q.Query) == "COMMIT" {
				return nil
			}
			st := schema.ParseQueryStatus(q.StatusVars)
			text := q.Query
			if b, err := binlog.TextToUTF8(uint64(st.ClientCollation), text); err == nil {
				text = b
			}
			out = append(out, queryEvent{db: string(q.Schema), sql: string(text),
				at:         schema.Mark{File: filepath.Base(f), Pos: e.Header.LogPos - e.Header.EventSize},
				ansiQuotes: st.ANSIQuotes()})
			return nil
		})
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
	}
	return out
}

// columnsDiff compares a definition with the server's columns: names, count
// and base types.
func columnsDiff(t *change.Table, cols []serverColumn) string {
	if len(t.Columns) != len(cols) {
		var names []string
		for _, c := range t.Columns {
			names = append(names, c.Name)
		}
		var server []string
		for _, c := range cols {
			server = append(server, c.name)
		}
		return fmt.Sprintf("%d columns (%s) vs the server's %d (%s)", len(t.Columns), strings.Join(names, ","), len(cols), strings.Join(server, ","))
	}
	for i, c := range cols {
		hc := t.Columns[i]
		if hc.Name != c.name {
			return fmt.Sprintf("column %d is %q, the server's is %q", i+1, hc.Name, c.name)
		}
		if !sameBaseType(hc, c) {
			return fmt.Sprintf("column %s is %s, the server's is %s", c.name, hc.SQLType, c.columnType)
		}
	}
	return ""
}

func sameBaseType(hc change.Column, c serverColumn) bool {
	ht := hc.Type
	switch {
	case ht == c.dataType:
		return true
	case ht == "json" && c.dataType == "longtext":
		return true // MariaDB's JSON is LONGTEXT with a check
	case ht == "geometry" || c.dataType == "geometry":
		return change.IsGeometryType(ht) && change.IsGeometryType(c.dataType)
	}
	return false
}
