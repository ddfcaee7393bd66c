package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/testutil"
)

// streamRun runs `bintap stream --stop-at-end` in-process and returns its
// exit status, records and log.
func streamRun(s *testutil.Server, stateDir string, extra ...string) (int, []record, string, error) {
	var out, errOut bytes.Buffer
	args := append([]string{"stream", "--source", s.URL(), "--stop-at-end", "--state-dir", stateDir, "--output", "-"}, extra...)
	code := run(args, &out, &errOut)
	var recs []record
	for _, line := range bytes.Split(out.Bytes(), []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r := record{}
		if err := json.Unmarshal(line, &r); err != nil {
			return code, nil, errOut.String(), fmt.Errorf("output line is not JSON: %v: %s", err, line)
		}
		recs = append(recs, r)
	}
	return code, recs, errOut.String(), nil
}

// tableCounts counts row records by "table_name snapshot|stream".
func tableCounts(recs []record) map[string]int {
	n := map[string]int{}
	for _, r := range rows(recs) {
		how := "stream"
		if string(r["snapshot"]) == "true" {
			how = "snapshot"
		}
		n[r.str("table_name")+" "+how]++
	}
	return n
}

func countsText(n map[string]int) string {
	var s []string
	for k, v := range n {
		s = append(s, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// TestUncapturedEngines: MEMORY and BLACKHOLE tables of a captured schema
// are left out of the snapshot and the stream with a warning at start that
// names them; a table that becomes MEMORY mid-stream stops being captured,
// one that leaves MEMORY is captured again; naming one in --tables is exit 2.
func TestUncapturedEngines(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE app",
		"CREATE TABLE app.orders (id INT PRIMARY KEY, v VARCHAR(20))",
		"CREATE TABLE app.cache (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=MEMORY",
		"INSERT INTO app.orders VALUES (1,'a'),(2,'b')",
		"INSERT INTO app.cache VALUES (1,'a'),(2,'b'),(3,'c')")
	blackhole := true
	if _, err := s.DB.Exec("INSTALL SONAME 'ha_blackhole'"); err != nil {
		t.Logf("no BLACKHOLE engine on this server (%v): that case is left out", err)
		blackhole = false
	} else {
		s.Exec("CREATE TABLE app.void (id INT PRIMARY KEY) ENGINE=BLACKHOLE", "INSERT INTO app.void VALUES (1),(2)")
	}
	state := t.TempDir()
	code, recs, log, err := streamRun(s, state, "--schemas", "app")
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, log)
	}
	if got, want := countsText(tableCounts(recs)), "orders snapshot=2"; got != want {
		t.Errorf("first run (snapshot): %s, want %s", got, want)
	}
	warn := "MEMORY and BLACKHOLE tables are not captured"
	if !strings.Contains(log, warn) || !strings.Contains(log, "app.cache (MEMORY)") {
		t.Errorf("no start warning naming app.cache:\n%s", log)
	}
	if blackhole && !strings.Contains(log, "app.void (BLACKHOLE)") {
		t.Errorf("no start warning naming app.void:\n%s", log)
	}

	// Mid-stream: a new MEMORY table, a table moved to MEMORY, one moved
	// out of it, one made like a MEMORY table, a MEMORY table renamed.
	s.Exec("INSERT INTO app.cache VALUES (4,'d')",
		"CREATE TABLE app.fresh (id INT PRIMARY KEY) ENGINE=MEMORY", "INSERT INTO app.fresh VALUES (1)",
		"CREATE TABLE app.copy LIKE app.cache", "INSERT INTO app.copy VALUES (1,'x')",
		"ALTER TABLE app.orders ENGINE=MEMORY", "INSERT INTO app.orders VALUES (3,'c')",
		"ALTER TABLE app.cache ENGINE=InnoDB", "INSERT INTO app.cache VALUES (5,'e')",
		"RENAME TABLE app.fresh TO app.fresh2", "INSERT INTO app.fresh2 VALUES (2)",
		"CREATE TABLE app.plain (id INT PRIMARY KEY)", "INSERT INTO app.plain VALUES (1)")
	if blackhole {
		s.Exec("INSERT INTO app.void VALUES (3)")
	}
	code, recs, log, err = streamRun(s, state, "--schemas", "app")
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, log)
	}
	if got, want := countsText(tableCounts(recs)), "cache stream=1 plain stream=1"; got != want {
		t.Errorf("second run (stream): %s, want %s\n%s", got, want, log)
	}
	for _, w := range []string{"table is no longer captured", "table=app.orders", "table is captured again", "table=app.cache"} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
	for _, r := range rows(recs) {
		if r.str("table_name") == "cache" && r.num("id") != 5 {
			t.Errorf("cache row %d streamed: only the row written after ENGINE=InnoDB is", r.num("id"))
		}
	}

	// Naming a MEMORY table in --tables (or --tables-file) is a usage
	// error that says why; check says the same.
	code, _, log, _ = streamRun(s, t.TempDir(), "--tables", "app.plain,app.orders")
	if code != 2 || !strings.Contains(log, "app.orders is a MEMORY table") || !strings.Contains(log, "ENGINE=InnoDB") {
		t.Errorf("--tables with a MEMORY table: exit %d, want 2 and why\n%s", code, log)
	}
	var out, errOut bytes.Buffer
	code = run([]string{"check", "--source", s.URL(), "--tables", "app.plain,app.orders"}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "[FAIL] tables never captured: --tables names MEMORY or BLACKHOLE tables") {
		t.Errorf("check with a MEMORY table in --tables: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

// TestSystemVersionedCaptured: system-versioned tables (hidden row_start /
// row_end, and explicit period columns) are read by the initial snapshot
// and the stream, with their period columns, values as the server has them.
func TestSystemVersionedCaptured(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE v",
		"CREATE TABLE v.hidden (id INT PRIMARY KEY, p INT) WITH SYSTEM VERSIONING",
		"CREATE TABLE v.explicit (id INT PRIMARY KEY, p INT, vs TIMESTAMP(6) GENERATED ALWAYS AS ROW START, ve TIMESTAMP(6) GENERATED ALWAYS AS ROW END, PERIOD FOR SYSTEM_TIME(vs, ve)) WITH SYSTEM VERSIONING",
		"INSERT INTO v.hidden VALUES (1, 10), (2, 20)", "UPDATE v.hidden SET p = 11 WHERE id = 1",
		"INSERT INTO v.explicit (id, p) VALUES (1, 10)")
	state := t.TempDir()
	code, recs, log, err := streamRun(s, state)
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, log)
	}
	// The snapshot reads the current rows (not the history rows).
	if got, want := countsText(tableCounts(recs)), "explicit snapshot=1 hidden snapshot=2"; got != want {
		t.Fatalf("snapshot: %s, want %s\n%s", got, want, log)
	}
	// Every value against the server's, period columns included.
	check := func(recs []record) {
		t.Helper()
		for _, r := range rows(recs) {
			table := r.str("table_name")
			start, end := "row_start", "row_end"
			if table == "explicit" {
				start, end = "vs", "ve"
			}
			if r[start] == nil || r[end] == nil {
				t.Errorf("%s id %d has no period columns: %v", table, r.num("id"), r)
				continue
			}
			// A row version is its row start: an update's before image
			// is a history row now, with the same start.
			var p uint64
			err := s.DB.QueryRow(fmt.Sprintf("SELECT p FROM v.%s FOR SYSTEM_TIME ALL WHERE id = ? AND %s = CONVERT_TZ(?, '+00:00', @@session.time_zone)",
				table, start), r.num("id"), r.str(start)).Scan(&p)
			if err != nil {
				t.Errorf("%s %s id %d %s=%s: no such row version on the server: %v", r.str("event_type"), table, r.num("id"), start, r.str(start), err)
				continue
			}
			if p != r.num("p") {
				t.Errorf("%s %s id %d: p=%d, server has p=%d", r.str("event_type"), table, r.num("id"), r.num("p"), p)
			}
			// The end: the far future for a current row, the time it was
			// replaced otherwise; the server has it for the inserted
			// history rows.
			if r.str("event_type") == "insert" && !strings.HasPrefix(r.str(end), "2038-01-19") {
				var n int
				if err := s.DB.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM v.%s FOR SYSTEM_TIME ALL WHERE id = ? AND %s = CONVERT_TZ(?, '+00:00', @@session.time_zone)",
					table, end), r.num("id"), r.str(end)).Scan(&n); err != nil || n != 1 {
					t.Errorf("%s id %d %s=%s: not on the server (%d, %v)", table, r.num("id"), end, r.str(end), n, err)
				}
			}
		}
	}
	check(recs)
	s.Exec("UPDATE v.hidden SET p = 12 WHERE id = 1", "DELETE FROM v.hidden WHERE id = 2",
		"INSERT INTO v.explicit (id, p) VALUES (2, 20)", "UPDATE v.explicit SET p = 21 WHERE id = 2",
		"SET STATEMENT system_versioning_alter_history=KEEP FOR ALTER TABLE v.hidden ADD COLUMN q INT", "INSERT INTO v.hidden (id, p, q) VALUES (3, 30, 3)")
	code, recs, log, err = streamRun(s, state)
	if err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, log)
	}
	if len(rows(recs)) == 0 {
		t.Fatalf("nothing streamed\n%s", log)
	}
	var got []string
	for _, r := range rows(recs) {
		got = append(got, fmt.Sprintf("%s %s %d", r.str("event_type"), r.str("table_name"), r.num("id")))
	}
	t.Logf("streamed: %v", got)
	check(recs)
	if strings.Contains(log, "level=ERROR") {
		t.Errorf("errors logged:\n%s", log)
	}
}

// TestDebeziumQueryAndThread: with --debezium-include-query, source.query
// of each row is the statement that made it (MariaDB Annotate_rows events),
// by snapshot null; without it null. MariaDB writes no thread id for row
// transactions: source.thread stays null.
func TestDebeziumQueryAndThread(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE q", "CREATE TABLE q.t (id INT PRIMARY KEY, v VARCHAR(20))")
	stmts := []string{
		"INSERT INTO q.t VALUES (1, 'é one'), (2, 'two')",
		"UPDATE q.t SET v = 'x' WHERE id = 2",
		"/* app:42 */ DELETE FROM q.t WHERE id = 1",
	}
	s.Exec("BEGIN; " + stmts[0] + "; " + stmts[1] + "; COMMIT")
	s.Exec(stmts[2])
	for _, include := range []bool{true, false} {
		args := []string{"stream", "--source", s.URL(), "--stop-at-end", "--start", "oldest", "--state-dir", t.TempDir(), "--format", "debezium"}
		if include {
			args = append(args, "--debezium-include-query")
		}
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 0 {
			t.Fatalf("exit %d\n%s", code, errOut.String())
		}
		var got []string
		for _, r := range dbzLines(t, out.Bytes()) {
			src := obj(r["source"])
			if src == nil {
				continue
			}
			if src["thread"] != nil {
				t.Errorf("thread %v for a MariaDB row transaction, which has none in the binlog", src["thread"])
			}
			q, _ := src["query"].(string)
			if src["query"] == nil {
				q = "null"
			}
			got = append(got, fmt.Sprintf("%s:%s", r["op"], q))
		}
		want := []string{"c:" + stmts[0], "c:" + stmts[0], "u:" + stmts[1], "d:" + stmts[2]}
		if !include {
			want = []string{"c:null", "c:null", "u:null", "d:null"}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("include %v:\n got %q\nwant %q", include, got, want)
		}
	}
}
