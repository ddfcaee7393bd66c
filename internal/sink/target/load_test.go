package target

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/sink"
	"github.com/bintap/bintap/internal/testutil"
)

// settings are a load's target settings, as the command gives them.
type settings map[string]string

func (s settings) Get(name string) string { return s[name] }
func (s settings) Given(name string) bool { _, ok := s[name]; return ok }

// loadFile is one file of a load test: its records, all of one table
// version.
type loadFile struct {
	name   string
	window time.Time
	table  *change.Table
	recs   []change.Meta
	rows   [][]change.Value
	of     int // rows the file holds, when recs are only its first
}

// push adds the records of f from the skip-th on (a load resuming) and
// returns how many it added; again marks the first again records as
// loaded before.
func push(t *testing.T, l *Loader, f loadFile, skip, again int) {
	t.Helper()
	ctx := context.Background()
	of := f.of
	if of == 0 {
		of = len(f.recs)
	}
	for i := skip; i < len(f.recs); i++ {
		r := &Row{Table: f.table, Meta: f.recs[i], Values: f.rows[i], Again: i < again,
			Mark: Mark{File: f.name, Window: f.window, Rows: int64(i + 1), Of: int64(of)}}
		if err := l.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

// loadFiles builds three files of w.a: inserts, updates and deletes over
// two windows, a TRUNCATE and a key change, then a third file of a new
// table version with an added column.
func loadFiles() []loadFile {
	v1 := &change.Table{Schema: "w", Name: "a", Version: 1, Columns: []change.Column{{Name: "id", Type: "int"}, {Name: "v", Type: "varchar", Length: 20, Nullable: true}}, PrimaryKey: []int{0}}
	v2 := &change.Table{Schema: "w", Name: "a", Version: 2, Columns: []change.Column{{Name: "id", Type: "int"}, {Name: "v", Type: "varchar", Length: 20, Nullable: true}, {Name: "n", Type: "decimal", Precision: 10, Scale: 2, Nullable: true}}, PrimaryKey: []int{0}}
	row := func(id int64, v string) []change.Value {
		if v == "" {
			return []change.Value{{Kind: change.KindInt, Int: id}, {}}
		}
		return []change.Value{{Kind: change.KindInt, Int: id}, {Kind: change.KindString, Text: []byte(v)}}
	}
	row2 := func(id int64, v, n string) []change.Value {
		return append(row(id, v), change.Value{Kind: change.KindDecimal, Text: []byte(n)})
	}
	meta := func(op byte, order int64, ev uint64) change.Meta {
		return change.Meta{Op: op, Deleted: op == 'd' || op == 't', TsMs: 1_790_000_000_000 + order, TxID: "0-1-" + string(rune('0'+order%10)), Order: order, Event: ev}
	}
	w0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	return []loadFile{
		{name: "w/a/2026-11-27/100000_a.jsonl", window: w0, table: v1,
			recs: []change.Meta{meta('r', 9, 1), meta('r', 9, 2), meta('c', 10, 1), meta('u', 11, 1), meta('d', 12, 1), meta('c', 12, 2)},
			rows: [][]change.Value{row(1, "one"), row(2, "two"), row(3, "three"), row(1, "uno"), row(2, ""), row(4, "four")}},
		{name: "w/a/2026-11-27/100100_b.jsonl", window: w0.Add(time.Minute), table: v1,
			recs: []change.Meta{meta('t', 20, 1), meta('c', 21, 1), meta('u', 22, 1), meta('d', 22, 2), meta('c', 22, 3)},
			rows: [][]change.Value{row(0, ""), row(5, "five"), row(5, "cinq"), row(5, "cinq"), row(6, "six")}},
		{name: "w/a/2026-11-27/100200_c.jsonl", window: w0.Add(2 * time.Minute), table: v2,
			recs: []change.Meta{meta('c', 30, 1), meta('u', 31, 1), meta('c', 32, 1), meta('u', 33, 1), meta('c', 33, 2)},
			rows: [][]change.Value{row2(7, "seven", "1.50"), row2(6, "sechs", "-0.01"), row2(8, "", "0.00"), row2(7, "sieben", "2.00"), row2(9, "nine", "3.10")}},
	}
}

// The mirror and the log the three files give (soft deletes).
const (
	wantMirror = "1:uno:true:,2::true:,3:three:true:,4:four:true:,5:cinq:true:,6:sechs:false:-0.01,7:sieben:false:2.00,8::false:0.00,9:nine:false:3.10"
	wantLog    = "9/1r,9/2r,10/1c,11/1u,12/1d,12/2c,20/1t,21/1c,22/1u,22/2d,22/3c,30/1c,31/1u,32/1c,33/1u,33/2c"
)

// TestLoadResumes loads files into PostgreSQL, MariaDB and DuckDB in transactions of
// two rows; a load abandoned in the middle of a file (as by kill -9) and
// resumed from its mark applies nothing twice; the files loaded again
// (--since) leave the mirror and the log as they were.
func TestLoadResumes(t *testing.T) {
	p := testutil.NewPostgres(t)
	m := testutil.NewMariaDB(t)
	m.Exec("CREATE DATABASE mirror")
	duckFile := filepath.Join(t.TempDir(), "t.duckdb")
	std := [3]string{
		"SELECT string_agg(CAST(id AS VARCHAR) || ':' || coalesce(v, '') || ':' || CAST(__deleted AS VARCHAR) || ':' || coalesce(CAST(n AS VARCHAR), ''), ',' ORDER BY id) FROM w.a",
		"SELECT string_agg(CAST(__transaction_order AS VARCHAR) || '/' || CAST(__event_number AS VARCHAR) || __op, ',' ORDER BY __transaction_order, __event_number) FROM w.a_log",
		"SELECT CAST(count(*) AS VARCHAR) FROM w.a_log",
	}
	for _, tc := range []struct {
		name  string
		spec  string
		query func(t *testing.T, q string) string
		sql   [3]string // the mirror, the log, the log's count
	}{
		{"mariadb", m.URL() + "/mirror", func(t *testing.T, q string) string {
			var s sql.NullString
			if err := m.DB.QueryRow(q).Scan(&s); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return s.String
		}, [3]string{
			"SELECT GROUP_CONCAT(CONCAT(id, ':', IFNULL(v, ''), ':', IF(__deleted, 'true', 'false'), ':', IFNULL(CAST(n AS CHAR), '')) ORDER BY id SEPARATOR ',') FROM w.a",
			"SELECT GROUP_CONCAT(CONCAT(__transaction_order, '/', __event_number, __op) ORDER BY __transaction_order, __event_number SEPARATOR ',') FROM w.a_log",
			"SELECT CAST(count(*) AS CHAR) FROM w.a_log",
		}},
		{"postgres", p.DSN(testutil.PostgresTestDB), func(t *testing.T, q string) string {
			var s sql.NullString
			if err := p.DB.QueryRow(q).Scan(&s); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return s.String
		}, std},
		{"duckdb", "duckdb://" + duckFile, func(t *testing.T, q string) string {
			db, err := sql.Open("duckdb", duckFile)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var s sql.NullString
			if err := db.QueryRow(q).Scan(&s); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return s.String
		}, std},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			lt, err := ParseLoad(tc.spec, settings{"target-table": "{database}.{table}", "target-deletes": "soft", "target-log-tables": "true", "batch-size": "2"})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(lt.Name(), "secret") {
				t.Fatalf("name shows the password: %s", lt.Name())
			}
			files := loadFiles()
			open := func() *Loader {
				l, err := lt.Open(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			mark := func(l *Loader) Mark {
				marks, err := l.Marks(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(marks) != 1 {
					t.Fatalf("marks %v", marks)
				}
				return marks[[2]string{"w.a", "w.a"}]
			}
			mirror, logged := tc.sql[0], tc.sql[1]

			// The first file and three rows of the second: the load is
			// abandoned with its last transaction not committed.
			l := open()
			push(t, l, files[0], 0, 0)
			if err := l.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			push(t, l, loadFile{name: files[1].name, window: files[1].window, table: files[1].table, recs: files[1].recs[:4], rows: files[1].rows[:4], of: 5}, 0, 0)
			// Abandon: what a writer was handed may commit (with its mark),
			// what is pending is lost with the process.
			l.d.marks, l.d.steps, l.d.rows = nil, nil, 0
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}

			l = open()
			m := mark(l)
			if m.File != files[1].name || m.Rows < 1 || m.Rows >= 4 || m.Of != 5 || m.Done() || !m.Window.Equal(files[1].window) {
				t.Fatalf("mark after the abandoned load: %+v", m)
			}
			logRows := tc.query(t, tc.sql[2])
			if want := 6 + int(m.Rows); logRows != strconv.Itoa(want) {
				t.Fatalf("%s rows in the log with a mark at %d of the second file, want %d", logRows, m.Rows, want)
			}
			// Resume after the mark, then the third file (a new column).
			push(t, l, files[1], int(m.Rows), 0)
			push(t, l, files[2], 0, 0)
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if got := tc.query(t, mirror); got != wantMirror {
				t.Errorf("mirror\n got %s\nwant %s", got, wantMirror)
			}
			if got := tc.query(t, logged); got != wantLog {
				t.Errorf("log\n got %s\nwant %s", got, wantLog)
			}
			if got := tc.query(t, "SELECT status FROM bintap.tables WHERE target_table = 'w.a'"); got != statusStreaming {
				t.Errorf("status %q", got)
			}

			// Loaded again from the first window (--since): merged again,
			// not logged again, the mark unchanged.
			l = open()
			for _, f := range files {
				push(t, l, f, 0, len(f.recs))
			}
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if got := tc.query(t, mirror); got != wantMirror {
				t.Errorf("mirror after loading again\n got %s\nwant %s", got, wantMirror)
			}
			if got := tc.query(t, logged); got != wantLog {
				t.Errorf("log after loading again\n got %s\nwant %s", got, wantLog)
			}
			l = open()
			if m := mark(l); m.File != files[2].name || m.Rows != 5 || !m.Done() {
				t.Errorf("mark after loading again: %+v", m)
			}
			l.Close(ctx)
		})
	}
}

// TestParseLoad: bad settings name the setting and what is accepted; a
// password is never shown.
func TestParseLoad(t *testing.T) {
	good := settings{"target-table": "{database}.{table}", "target-deletes": "soft", "target-log-tables": "false", "batch-size": "10"}
	for _, tc := range []struct {
		spec, key, value, want string
	}{
		{"duckdb", "", "", "duckdb:///PATH/FILE.duckdb"},
		{"postgres://u:secret@h/db", "target-deletes", "maybe", "--target-deletes \"maybe\": accepted values are soft, hard"},
		{"postgres://u:secret@h/db", "target-table", "a.b.c", "--target-table \"a.b.c\""},
		{"postgres://u:secret@h/db", "batch-size", "0", "--batch-size \"0\": accepted is a whole number"},
		{"postgres://u:secret@h/db", "target-log-tables", "perhaps", "--target-log-tables \"perhaps\": accepted values are true or false"},
		{"postgres://u:secret@h/db?bogus=1", "", "", "bogus"},
	} {
		s := settings{}
		for k, v := range good {
			s[k] = v
		}
		if tc.key != "" {
			s[tc.key] = tc.value
		}
		_, err := ParseLoad(tc.spec, s)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseLoad(%s, %s=%s): %v, want an error with %q", tc.spec, tc.key, tc.value, err, tc.want)
		}
		var se *sink.SettingError
		if tc.key != "" && !errors.As(err, &se) {
			t.Errorf("%s: not a SettingError: %v", tc.key, err)
		}
	}
}
