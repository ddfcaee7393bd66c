package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb", to read the target

	"github.com/bintap/bintap/internal/testutil"
)

// targetUnderTest is a private database bintap mirrors into.
type targetUnderTest struct {
	url     string
	db      *sql.DB
	restart func() error // start it again after stop
	stop    func()
	// row is the SQL expression of a mirrored row of w.t, as text that
	// equals sourceRow's on the source.
	row string
	log string
}

// sourceRow is the text of a source row of w.t (see targetUnderTest.row).
const sourceRow = "CONCAT_WS('|', id, u, d, s, DATE_FORMAT(dt, '%Y-%m-%d %H:%i:%s.%f'), LOWER(HEX(b)), IFNULL(n, 'null'))"

func postgresTarget(t *testing.T) targetUnderTest {
	p := testutil.NewPostgres(t)
	return targetUnderTest{
		url: p.DSN(testutil.PostgresTestDB), db: p.DB,
		restart: func() error { return p.Restart(context.Background()) }, stop: p.Stop,
		row: `concat_ws('|', id, u, d, s, to_char(dt, 'YYYY-MM-DD HH24:MI:SS.US'), encode(b, 'hex'), coalesce(n::text, 'null'))`,
	}
}

func mariadbTarget(t *testing.T) targetUnderTest {
	m := testutil.NewMariaDB(t)
	m.Exec("CREATE DATABASE mirror")
	return targetUnderTest{
		url: m.URL() + "/mirror", db: m.DB,
		restart: func() error { return m.Restart(context.Background()) }, stop: m.Stop,
		row: sourceRow,
	}
}

// TestTargetMirrorsExactlyOnce: a workload of inserts, updates, deletes,
// primary-key changes, multi-table transactions and an added column is
// mirrored into PostgreSQL and MariaDB while bintap is killed three times
// and the target is stopped and started: the target equals the source, and
// every _log table holds each change once, in order.
func TestTargetMirrorsExactlyOnce(t *testing.T) {
	for name, open := range map[string]func(*testing.T) targetUnderTest{"postgres": postgresTarget, "mariadb": mariadbTarget} {
		t.Run(name, func(t *testing.T) {
			src := testutil.NewMariaDB(t)
			src.Exec("CREATE DATABASE w",
				"CREATE TABLE w.t (id INT PRIMARY KEY, u BIGINT UNSIGNED, d DECIMAL(12,3), s VARCHAR(40), dt DATETIME(6), b VARBINARY(8))",
				"CREATE TABLE w.pair (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))")
			for i := 1; i <= 200; i++ { // rows for the initial snapshot
				src.Exec(fmt.Sprintf("INSERT INTO w.t VALUES (%d, %d, %d.125, 'snap ✓ %d', '2024-02-29 10:00:00.%06d', UNHEX('00ff%02x'))", i, uint64(1)<<63+uint64(i), i, i, i, i%256))
			}
			tgt := open(t)
			state := t.TempDir()
			var errOut testutil.SyncBuffer
			args := []string{"--source", src.URL(), "--state-dir", state, "--output", tgt.url, "--schemas", "w",
				"--target-log-tables", "--checkpoint-interval", "200ms", "--batch-size", "50"}

			stopWork := make(chan struct{})
			workDone := make(chan error, 1)
			go func() { workDone <- targetWorkload(src, stopWork) }()

			cmd := startBintap(t, &errOut, args...)
			for round := 0; round < 3; round++ {
				time.Sleep(time.Duration(700+rand.Intn(600)) * time.Millisecond)
				cmd.Process.Kill() // kill -9 at a random moment
				cmd.Wait()
				if round == 1 {
					src.Exec("ALTER TABLE w.t ADD COLUMN n INT NULL")
				}
				cmd = startBintap(t, &errOut, args...)
			}
			// Schema changes in the middle of the stream, each followed by a change.
			src.Exec("CREATE TABLE w.ddl (id INT PRIMARY KEY, a VARCHAR(10), b INT, c INT)",
				"INSERT INTO w.ddl VALUES (1, 'x', 1, 1), (2, 'y', 2, 2), (3, 'z', 3, 3)",
				"ALTER TABLE w.ddl ADD COLUMN e DECIMAL(6,2) NOT NULL DEFAULT -1.25", // existing rows get the default
				"UPDATE w.ddl SET e = 7.5 WHERE id = 3",
				"ALTER TABLE w.ddl MODIFY a VARCHAR(40)", // widened
				"UPDATE w.ddl SET a = REPEAT('w', 30) WHERE id = 1",
				"ALTER TABLE w.ddl RENAME COLUMN b TO bb",
				"UPDATE w.ddl SET bb = 20 WHERE id = 2",
				"ALTER TABLE w.ddl DROP COLUMN c",
				"INSERT INTO w.ddl VALUES (4, 'q', 4, 9)",
				"TRUNCATE TABLE w.ddl",
				"INSERT INTO w.ddl (id, a, bb) VALUES (5, 'after', 5)",
				"RENAME TABLE w.ddl TO w.ddl2",
				"INSERT INTO w.ddl2 (id, a, bb) VALUES (6, REPEAT('r', 40), 6)",
				"UPDATE w.ddl2 SET bb = 50 WHERE id = 5")
			// The target goes away for a while, then comes back.
			time.Sleep(500 * time.Millisecond)
			tgt.stop()
			time.Sleep(3 * time.Second)
			if err := tgt.restart(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			close(stopWork)
			if err := <-workDone; err != nil {
				t.Fatal(err)
			}
			waitTargetEquals(t, src, tgt, &errOut)
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("bintap exited with %v:\n%s", err, errOut.String())
			}
			// The renamed table holds the rows after the TRUNCATE; the rows
			// before it are soft-deleted; the dropped column stays, NULL in
			// the rows written after the drop.
			ddl := queryStrings(t, tgt.db, "SELECT concat_ws('|', id, a, bb, coalesce(c, -1), e, __deleted) FROM w.ddl2 ORDER BY id")
			yes, no := "1", "0"
			if name == "postgres" {
				yes, no = "t", "f"
			}
			want := []string{"1|" + strings.Repeat("w", 30) + "|1|1|-1.25|" + yes, "2|y|20|2|-1.25|" + yes, "3|z|3|3|7.50|" + yes, "4|q|4|-1|9.00|" + yes,
				"5|after|50|-1|-1.25|" + no, "6|" + strings.Repeat("r", 40) + "|6|-1|-1.25|" + no}
			if strings.Join(ddl, "\n") != strings.Join(want, "\n") {
				t.Errorf("w.ddl2 after the schema changes:\n%s\nwant\n%s", strings.Join(ddl, "\n"), strings.Join(want, "\n"))
			}
			for _, tbl := range []string{"w.t", "w.pair", "w.ddl2"} {
				var status string
				if err := tgt.db.QueryRow("SELECT status FROM bintap.tables WHERE target_table = '" + tbl + "'").Scan(&status); err != nil || status != "streaming" {
					t.Errorf("table %s status %q (%v), want streaming", tbl, status, err)
				}
			}
			if !strings.Contains(errOut.String(), "target unreachable; retrying") {
				t.Errorf("the target's outage was not noticed:\n%s", errOut.String())
			}
			checkLogReplays(t, tgt, "w.t_log", "id")
		})
	}
}

// targetWorkload changes w.t and w.pair until stop: single-row and
// multi-table transactions, key changes, deletes and re-inserts.
func targetWorkload(src *testutil.Server, stop chan struct{}) error {
	db, err := src.Open("w")
	if err != nil {
		return err
	}
	defer db.Close()
	r := rand.New(rand.NewSource(7))
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		id := 1 + r.Intn(400)
		var stmts []string
		switch r.Intn(6) {
		case 0, 1:
			stmts = []string{fmt.Sprintf("INSERT INTO t (id, u, d, s, dt, b) VALUES (%d, %d, -%d.5, 'ins %d', NOW(6), UNHEX('%04x')) ON DUPLICATE KEY UPDATE u = u + 1, s = CONCAT('dup ', %d)", id, i, i, i, i%65536, i)}
		case 2:
			stmts = []string{fmt.Sprintf("UPDATE t SET d = d + 1.001, s = 'upd %d', b = NULL WHERE id = %d", i, id)}
		case 3:
			stmts = []string{fmt.Sprintf("DELETE FROM t WHERE id = %d", id)}
		case 4: // a primary key change
			stmts = []string{fmt.Sprintf("UPDATE IGNORE t SET id = %d WHERE id = %d", 400+r.Intn(400), id)}
		case 5: // one transaction over two tables
			stmts = []string{"BEGIN",
				fmt.Sprintf("INSERT INTO pair VALUES (%d, 'k%d', %d) ON DUPLICATE KEY UPDATE v = v + 1", id%20, id%3, i),
				fmt.Sprintf("UPDATE t SET u = %d WHERE id = %d", i, id),
				fmt.Sprintf("DELETE FROM pair WHERE a = %d AND b = 'k%d'", (id+7)%20, (id+1)%3),
				"COMMIT"}
		}
		for _, q := range stmts {
			if _, err := db.Exec(q); err != nil && !strings.Contains(err.Error(), "Unknown column 'n'") {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func queryStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s.String)
	}
	return out
}

// waitTargetEquals waits until the target's live rows equal the source's.
func waitTargetEquals(t *testing.T, src *testutil.Server, tgt targetUnderTest, errOut *testutil.SyncBuffer) {
	t.Helper()
	want := queryStrings(t, src.DB, "SELECT "+sourceRow+" FROM w.t ORDER BY id")
	wantPairs := queryStrings(t, src.DB, "SELECT CONCAT_WS('|', a, b, v) FROM w.pair ORDER BY a, b")
	var got, gotPairs []string
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got = queryStrings(t, tgt.db, "SELECT "+tgt.row+" FROM w.t WHERE NOT __deleted ORDER BY id")
		gotPairs = queryStrings(t, tgt.db, "SELECT concat_ws('|', a, b, v) FROM w.pair WHERE NOT __deleted ORDER BY a, b")
		if strings.Join(got, "\n") == strings.Join(want, "\n") && strings.Join(gotPairs, "\n") == strings.Join(wantPairs, "\n") {
			return
		}
	}
	t.Fatalf("target differs from the source:\n%s\nbintap said:\n%s", firstDiff(want, got)+firstDiff(wantPairs, gotPairs), errOut.String())
}

func firstDiff(want, got []string) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			return fmt.Sprintf("row %d: source %q, target %q (%d rows vs %d)\n", i, w, g, len(want), len(got))
		}
	}
	return ""
}

// checkLogReplays checks that a _log table holds each change once: no
// (__transaction_order, __event_number) twice, and replaying the log in
// order gives the mirror's rows.
func checkLogReplays(t *testing.T, tgt targetUnderTest, logTable, key string) {
	t.Helper()
	dups := queryStrings(t, tgt.db, "SELECT concat_ws(',', __transaction_order, __event_number, count(*)) FROM "+logTable+
		" GROUP BY __transaction_order, __event_number HAVING count(*) > 1")
	if len(dups) > 0 {
		t.Errorf("%s holds changes twice: %v", logTable, dups)
	}
	rows := queryStrings(t, tgt.db, "SELECT concat_ws('|', __op, "+key+", "+tgt.row+") FROM "+logTable+" ORDER BY __transaction_order, __event_number")
	state := map[string]string{}
	for _, r := range rows {
		parts := strings.SplitN(r, "|", 3)
		if parts[0] == "d" {
			delete(state, parts[1])
		} else {
			state[parts[1]] = parts[2]
		}
	}
	mirror := queryStrings(t, tgt.db, "SELECT "+tgt.row+" FROM w.t WHERE NOT __deleted ORDER BY id")
	var replayed []string
	for _, v := range state {
		replayed = append(replayed, v)
	}
	sort.Slice(replayed, func(i, j int) bool { return idOf(replayed[i]) < idOf(replayed[j]) })
	if strings.Join(replayed, "\n") != strings.Join(mirror, "\n") {
		t.Errorf("replaying %s (%d changes) does not give the mirror: %s", logTable, len(rows), firstDiff(mirror, replayed))
	}
}

func idOf(row string) int {
	var id int
	fmt.Sscanf(row, "%d|", &id)
	return id
}

// TestTargetBadURLs: bad target URLs exit 2 naming the problem, without
// the password; an unreachable target exits 1 with a clear error.
func TestTargetBadURLs(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"postgres://u:SECRET@h/db?pool=2", `unknown parameter "pool"`},
		{"mysql://u:SECRET@h", "a user, a host and a database are required"},
		{"postgresql://u:SECRET@h:99999/db", "port"},
	} {
		var out, errOut strings.Builder
		code := run([]string{"stream", "--source", "mysql://root@127.0.0.1:1", "--output", tc.url}, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), tc.want) || strings.Contains(errOut.String(), "SECRET") {
			t.Errorf("%s: exit %d\n%s", tc.url, code, errOut.String())
		}
	}
	var out, errOut strings.Builder
	code := run([]string{"stream", "--source", "mysql://root@127.0.0.1:1", "--state-dir", t.TempDir(), "--output", "postgres://u:SECRET@127.0.0.1:1/db"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "cannot connect") || strings.Contains(errOut.String(), "SECRET") {
		t.Errorf("unreachable target: exit %d\n%s", code, errOut.String())
	}
}

// TestTargetDuckDB: the embedded DuckDB target takes the initial snapshot,
// then the changes, across two runs to the end of the binlog.
func TestTargetDuckDB(t *testing.T) {
	src := testutil.NewMariaDB(t)
	src.Exec("CREATE DATABASE w",
		"CREATE TABLE w.t (id INT PRIMARY KEY, u BIGINT UNSIGNED, d DECIMAL(12,3), s VARCHAR(40), dt DATETIME(6), b VARBINARY(8))")
	for i := 1; i <= 50; i++ {
		src.Exec(fmt.Sprintf("INSERT INTO w.t VALUES (%d, %d, %d.125, 'snap ✓ %d', '2024-02-29 10:00:00.%06d', UNHEX('00ff%02x'))", i, uint64(1)<<63+uint64(i), i, i, i, i))
	}
	state := t.TempDir()
	file := state + "/mirror.duckdb"
	stream := func(extra ...string) {
		t.Helper()
		out, errOut, code := bintapCmd(t, append([]string{"stream", "--source", src.URL(), "--state-dir", state, "--stop-at-end", "--schemas", "w",
			"--output", "duckdb://" + file, "--target-log-tables", "--target-deletes", "hard"}, extra...)...)
		if code != 0 {
			t.Fatalf("bintap stream: exit %d\n%s%s", code, out, errOut)
		}
	}
	stream()
	src.Exec("UPDATE w.t SET s = 'changed', b = NULL WHERE id <= 10", "DELETE FROM w.t WHERE id > 40",
		"UPDATE w.t SET id = 100 WHERE id = 20", "INSERT INTO w.t VALUES (200, 18446744073709551615, -0.5, 'new', '2000-01-01 00:00:00.000001', '')")
	stream()
	db, err := sql.Open("duckdb", file)
	if err != nil {
		t.Fatal(err)
	}
	got := queryStrings(t, db, "SELECT concat_ws('|', id, u, d, s, strftime(dt, '%Y-%m-%d %H:%M:%S.%f'), lower(hex(b))) FROM w.t ORDER BY id")
	want := queryStrings(t, src.DB, "SELECT CONCAT_WS('|', id, u, d, s, DATE_FORMAT(dt, '%Y-%m-%d %H:%i:%s.%f'), LOWER(HEX(b))) FROM w.t ORDER BY id")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("DuckDB target differs: %s", firstDiff(want, got))
	}
	var logged int
	if err := db.QueryRow("SELECT count(*) FROM w.t_log").Scan(&logged); err != nil || logged != 50+10+10+2+1 {
		t.Errorf("w.t_log holds %d changes (%v), want 73 (50 snapshot reads, 10 updates, 10 deletes, a key change as 2, 1 insert)", logged, err)
	}
	db.Close()

	// --reset forgets the position and the table states: a new snapshot
	// overwrites the table (a row deleted in the target by hand comes back)
	// and logs its reads.
	db, err = sql.Open("duckdb", file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM w.t WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	stream("--reset")
	db, err = sql.Open("duckdb", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got = queryStrings(t, db, "SELECT concat_ws('|', id, u, d, s, strftime(dt, '%Y-%m-%d %H:%M:%S.%f'), lower(hex(b))) FROM w.t ORDER BY id")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("DuckDB target after --reset differs: %s", firstDiff(want, got))
	}
	if err := db.QueryRow("SELECT count(*) FROM w.t_log WHERE __op = 'r'").Scan(&logged); err != nil || logged != 50+len(want) {
		t.Errorf("w.t_log holds %d snapshot reads (%v), want %d", logged, err, 50+len(want))
	}
}
