package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/index"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/testutil"
)

// indexStream runs `bintap stream --output index --stop-at-end` in-process.
func indexStream(t *testing.T, s *testutil.Server, state string, extra ...string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args := append([]string{"stream", "--source", s.URL(), "--start", "oldest", "--stop-at-end", "--state-dir", state, "--output", "index"}, extra...)
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("bintap %v exited %d\n%s", args, code, errOut.String())
	}
}

// bintapCmd runs an index command in-process and returns its output and status.
func bintapCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// tableRows is every row of a table as text, in key order, generated
// columns included: what "the same table" means in these tests.
func tableRows(t *testing.T, db *sql.DB, table, order string) []string {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table + " ORDER BY " + order)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			if v == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprintf(&b, "%q", v)
			}
			if i < len(vals)-1 {
				b.WriteByte('|')
			}
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func checksum(t *testing.T, db *sql.DB, table string) int64 {
	t.Helper()
	var name string
	var sum sql.NullInt64
	if err := db.QueryRow("CHECKSUM TABLE "+table+" EXTENDED").Scan(&name, &sum); err != nil {
		t.Fatal(err)
	}
	return sum.Int64
}

// nextSecond waits until the wall clock enters a new second, so that the
// changes after it have a later commit time (binlog times are in seconds).
func nextSecond() time.Time {
	now := time.Now().Unix()
	for time.Now().Unix() == now {
		time.Sleep(20 * time.Millisecond)
	}
	return time.Unix(time.Now().Unix(), 0).UTC()
}

// applyScript runs a recover script with the mariadb command-line client.
func applyScript(t *testing.T, s *testutil.Server, script string) {
	t.Helper()
	client, err := exec.LookPath("mariadb")
	if err != nil {
		if client, err = exec.LookPath("mysql"); err != nil {
			t.Skip("no mariadb client to apply the script")
		}
	}
	cmd := exec.Command(client, "--no-defaults", "-h127.0.0.1", fmt.Sprintf("-P%d", s.Port), "-uroot", "--batch")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apply recover script: %v\n%s\nscript:\n%s", err, out, script)
	}
}

// TestIndexRecoverRestoresTables is the accident drill: a workload, an
// UPDATE without a WHERE and a mass DELETE on several tables (every column
// type, a composite key, a generated column, no primary key), then the
// recover script applied with the mariadb client must give back the tables
// exactly as they were before the mistake.
func TestIndexRecoverRestoresTables(t *testing.T) {
	s := testutil.NewMariaDB(t)
	createAllTypes(t, s)
	s.Exec("CREATE DATABASE shop",
		"CREATE TABLE shop.orders (region CHAR(2), id INT, qty INT NOT NULL, price DECIMAL(12,4), total DECIMAL(20,4) AS (qty*price) STORED, note VARCHAR(100), PRIMARY KEY (region, id))",
		"CREATE TABLE shop.log (at DATETIME(3), msg TEXT, n BIGINT UNSIGNED)")
	for i := 1; i <= 200; i++ {
		s.Exec(fmt.Sprintf("INSERT INTO shop.orders (region, id, qty, price, note) VALUES ('%s', %d, %d, %d.%04d, 'order \\'%d\\'')",
			[]string{"eu", "us"}[i%2], i, i%7, i, i%10000, i))
	}
	for i := 1; i <= 50; i++ {
		s.Exec(fmt.Sprintf("INSERT INTO shop.log VALUES ('2026-01-01 00:00:%02d.%03d', 'line %d', %d)", i%60, i, i%5, uint64(1)<<63+uint64(i%5)))
	}
	// Some ordinary changes before the accident, which recover must leave alone.
	s.Exec("UPDATE shop.orders SET qty = qty + 1 WHERE id <= 20", "DELETE FROM shop.orders WHERE id > 190",
		"UPDATE types.t SET vc = 'before the accident' WHERE id = 2", "DELETE FROM shop.log WHERE n = 9223372036854775812")

	tables := map[string]string{"types.t": "id", "shop.orders": "region, id", "shop.log": "at, msg, n"}
	want := map[string][]string{}
	sums := map[string]int64{}
	for tbl, order := range tables {
		want[tbl] = tableRows(t, s.DB, tbl, order)
		sums[tbl] = checksum(t, s.DB, tbl)
	}
	state := t.TempDir()
	indexStream(t, s, state)

	since := nextSecond()
	s.Exec("UPDATE shop.orders SET qty = 0", // no WHERE
		"UPDATE types.t SET i = 0, vc = 'oops'", // every type rides along in the images
		"DELETE FROM shop.orders WHERE id > 10", // mass delete
		"DELETE FROM types.t",
		"UPDATE shop.log SET msg = 'gone'", "DELETE FROM shop.log WHERE n > 9223372036854775809")
	indexStream(t, s, state)
	for tbl, order := range tables {
		if strings.Join(tableRows(t, s.DB, tbl, order), "\n") == strings.Join(want[tbl], "\n") {
			t.Fatalf("the accident did not change %s", tbl)
		}
	}

	for tbl := range tables {
		script, errOut, code := bintapCmd(t, "recover", "--state-dir", state, "--table", tbl, "--since", since.Format(time.RFC3339))
		if code != 0 {
			t.Fatalf("recover %s: exit %d: %s", tbl, code, errOut)
		}
		if tbl == "shop.log" && !strings.Contains(script, "has no primary key") {
			t.Errorf("script for a table without a key does not say so:\n%s", script)
		}
		if tbl == "shop.orders" && strings.Contains(script, "`total`") {
			t.Errorf("script writes the generated column total:\n%s", script)
		}
		if os.Getenv("BINTAP_SHOW_SCRIPT") != "" {
			t.Logf("recover script for %s:\n%s", tbl, script)
		}
		applyScript(t, s, script)
	}
	for tbl, order := range tables {
		got := tableRows(t, s.DB, tbl, order)
		if strings.Join(got, "\n") != strings.Join(want[tbl], "\n") {
			t.Errorf("%s after recover differs from before the accident:\nwant %d rows:\n%s\ngot %d rows:\n%s", tbl,
				len(want[tbl]), strings.Join(want[tbl], "\n"), len(got), strings.Join(got, "\n"))
		}
		if sum := checksum(t, s.DB, tbl); sum != sums[tbl] {
			t.Errorf("%s: CHECKSUM TABLE %d after recover, %d before the accident", tbl, sum, sums[tbl])
		}
	}
}

// TestIndexRecoverToFile writes the script with --output and checks that a
// filter which selects nothing is reported.
func TestIndexRecoverToFile(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO d.t VALUES (1,'a'),(2,'b')")
	state := t.TempDir()
	indexStream(t, s, state)
	path := filepath.Join(t.TempDir(), "undo.sql")
	_, errOut, code := bintapCmd(t, "recover", "--state-dir", state, "--table", "d.t", "--pk", "2", "--output", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	script, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "DELETE FROM `d`.`t` WHERE `id` <=> 2;") || strings.Contains(string(script), "<=> 1") {
		t.Errorf("script for --pk 2:\n%s", script)
	}
	if _, errOut, code := bintapCmd(t, "recover", "--state-dir", state, "--table", "d.t", "--type", "delete"); code != 1 || !strings.Contains(errOut, "no changes match") {
		t.Errorf("recover with nothing selected: exit %d, %q", code, errOut)
	}
}

// decodeLines decodes JSON lines.
func decodeLines(t *testing.T, s string) []map[string]json.RawMessage {
	t.Helper()
	var out []map[string]json.RawMessage
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %v: %s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// op is one change of the query workload, as the workload itself recorded it.
type op struct {
	gtid, typ string
	id        int
	status    string // status after the change ("" for a delete)
	before    string // status before ("" for an insert)
	phase     int
}

// TestIndexQueryMatchesWorkload checks the query filters against the
// workload's own record of what it did.
func TestIndexQueryMatchesWorkload(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE q", "CREATE TABLE q.t (id INT PRIMARY KEY, status VARCHAR(20), amount DECIMAL(10,2))",
		"CREATE TABLE q.nokey (a INT, b VARCHAR(5))", "CREATE TABLE q.ck (a VARCHAR(5), b INT, v INT, PRIMARY KEY (a, b))")
	conn, err := s.DB.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var ops []op
	state := map[int]string{}
	exec := func(phase int, typ string, id int, status, q string) {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var g string
		if err := conn.QueryRowContext(t.Context(), "SELECT @@last_gtid").Scan(&g); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op{gtid: g, typ: typ, id: id, status: status, before: state[id], phase: phase})
		if typ == "delete" {
			delete(state, id)
		} else {
			state[id] = status
		}
	}
	statuses := []string{"new", "paid", "shipped", "returned"}
	var bounds []time.Time
	for phase := 0; phase < 3; phase++ {
		bounds = append(bounds, nextSecond())
		for i := 0; i < 60; i++ {
			id := (i*7+phase*13)%40 + 1
			cur, exists := state[id]
			switch {
			case !exists:
				st := statuses[(i+phase)%2]
				exec(phase, "insert", id, st, fmt.Sprintf("INSERT INTO q.t VALUES (%d, '%s', %d.50)", id, st, id))
			case i%5 == 0:
				exec(phase, "delete", id, "", fmt.Sprintf("DELETE FROM q.t WHERE id = %d", id))
			default:
				next := statuses[(indexOf(statuses, cur)+1)%len(statuses)]
				exec(phase, "update", id, next, fmt.Sprintf("UPDATE q.t SET status = '%s', amount = amount + 1 WHERE id = %d", next, id))
			}
		}
	}
	s.Exec("INSERT INTO q.nokey VALUES (1, 'x')", "INSERT INTO q.ck VALUES ('a', 1, 10), ('a', 2, 20)", "UPDATE q.ck SET v = 11 WHERE a = 'a' AND b = 1")
	st := t.TempDir()
	indexStream(t, s, st)

	query := func(args ...string) []map[string]json.RawMessage {
		t.Helper()
		out, errOut, code := bintapCmd(t, append([]string{"query", "--state-dir", st, "--format", "json", "--limit", "0"}, args...)...)
		if code != 0 {
			t.Fatalf("query %v: exit %d: %s", args, code, errOut)
		}
		return decodeLines(t, out)
	}
	str := func(m map[string]json.RawMessage, k string) string {
		var v string
		json.Unmarshal(m[k], &v)
		return v
	}
	statusOf := func(img json.RawMessage) string {
		var m map[string]any
		json.Unmarshal(img, &m)
		s, _ := m["status"].(string)
		return s
	}
	check := func(name string, got []map[string]json.RawMessage, want []op) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d changes, the workload made %d", name, len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			if str(g, "gtid") != w.gtid || str(g, "type") != w.typ || string(g["pk"]) != fmt.Sprintf("[%d]", w.id) ||
				statusOf(g["after"]) != w.status || statusOf(g["before"]) != w.before {
				t.Fatalf("%s: change %d is %s %s pk %s %s→%s, workload: %+v", name, i, str(g, "gtid"), str(g, "type"), g["pk"],
					statusOf(g["before"]), statusOf(g["after"]), w)
			}
		}
	}
	filter := func(keep func(op) bool, newest bool) []op {
		var out []op
		for _, o := range ops {
			if keep(o) {
				out = append(out, o)
			}
		}
		if newest {
			for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
				out[i], out[j] = out[j], out[i]
			}
		}
		return out
	}
	check("all, oldest first", query("--table", "q.t", "--order", "oldest"), filter(func(op) bool { return true }, false))
	for _, id := range []int{1, 8, 14, 40} {
		check(fmt.Sprintf("--pk %d", id), query("--table", "q.t", "--pk", fmt.Sprint(id)), filter(func(o op) bool { return o.id == id }, true))
	}
	g := ops[len(ops)/2].gtid
	check("--gtid", query("--table", "q.t", "--gtid", g), filter(func(o op) bool { return o.gtid == g }, true))
	check("--type delete", query("--table", "q.t", "--type", "delete", "--order", "oldest"), filter(func(o op) bool { return o.typ == "delete" }, false))
	check("--type insert,delete", query("--table", "q.t", "--type", "insert,delete"), filter(func(o op) bool { return o.typ != "update" }, true))
	check("--changed-column status", query("--table", "q.t", "--changed-column", "status"), filter(func(o op) bool { return o.typ == "update" }, true))
	if n := len(query("--table", "q.t", "--changed-column", "id")); n != 0 {
		t.Errorf("--changed-column id: %d changes, want none", n)
	}
	check("--where-column status=shipped", query("--table", "q.t", "--where-column", "status=shipped"),
		filter(func(o op) bool { return o.status == "shipped" || o.before == "shipped" }, true))
	check("--where-column amount=8.50", query("--table", "q.t", "--where-column", "amount=8.50", "--type", "insert"),
		filter(func(o op) bool { return o.typ == "insert" && o.id == 8 }, true))
	check("--since/--until", query("--table", "q.t", "--since", bounds[1].Format(time.DateTime), "--until", bounds[2].Add(-time.Second).Format(time.RFC3339)),
		filter(func(o op) bool { return o.phase == 1 }, true))
	check("--since --pk", query("--table", "q.t", "--since", bounds[2].Format(time.RFC3339), "--pk", "14"), filter(func(o op) bool { return o.phase == 2 && o.id == 14 }, true))
	if got := query("--table", "q.t", "--limit", "3"); len(got) != 3 || str(got[0], "gtid") != ops[len(ops)-1].gtid {
		t.Errorf("--limit 3: %d changes, first %s, want the newest (%s)", len(got), str(got[0], "gtid"), ops[len(ops)-1].gtid)
	}
	if got := query("--table", "q.ck", "--pk", "a|1"); len(got) != 2 || str(got[0], "type") != "update" {
		t.Errorf("composite key a|1: %v", got)
	}
	for _, f := range []string{"table", "csv"} {
		out, errOut, code := bintapCmd(t, "query", "--state-dir", st, "--table", "q.t", "--pk", "1", "--format", f)
		if code != 0 || !strings.Contains(out, ops[0].gtid) {
			t.Errorf("--format %s: exit %d %s\n%s", f, code, errOut, out)
		}
	}

	// Refusals: exit 2 with a message naming the flag.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--table", "q.nokey", "--pk", "1"}, "no primary key"},
		{[]string{"--table", "q.ck", "--pk", "a"}, "--pk"},
		{[]string{"--table", "q.t", "--pk", "x"}, "--pk"},
		{[]string{"--table", "q.t", "--type", "upsert"}, "--type"},
		{[]string{"--table", "q.t", "--since", "yesterday"}, "--since"},
		{[]string{"--table", "q.t", "--until", "2020-01-01", "--since", "2021-01-01"}, "--until"},
		{[]string{"--table", "qt"}, "--table"},
		{[]string{"--pk", "1"}, "--table"},
		{[]string{"--table", "q.t", "--order", "up"}, "--order"},
		{[]string{"--table", "q.t", "--format", "xml"}, "--format"},
		{[]string{"--table", "q.t", "--where-column", "status"}, "--where-column"},
		{[]string{"--table", "q.t", "--gtid", "abc"}, "--gtid"},
		{[]string{"--table", "q.t", "--limit", "-1"}, "--limit"},
	} {
		_, errOut, code := bintapCmd(t, append([]string{"query", "--state-dir", st}, c.args...)...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("query %v: exit %d, %q; want exit 2 naming %s", c.args, code, errOut, c.want)
		}
	}
	if _, errOut, code := bintapCmd(t, "query", "--state-dir", st, "--table", "q.missing"); code != 1 || !strings.Contains(errOut, "q.missing") {
		t.Errorf("unknown table: exit %d %q", code, errOut)
	}
	if _, errOut, code := bintapCmd(t, "query", "--state-dir", t.TempDir(), "--table", "q.t"); code != 1 || !strings.Contains(errOut, "no change index") {
		t.Errorf("no index: exit %d %q", code, errOut)
	}

	// reconstruct: the row at each phase boundary is what the workload left.
	for _, id := range []int{1, 8, 14, 27} {
		for phase := 1; phase < 3; phase++ {
			want, exists := "", false
			for _, o := range ops {
				if o.phase < phase && o.id == id {
					want, exists = o.status, o.typ != "delete"
				}
			}
			out, errOut, code := bintapCmd(t, "reconstruct", "--state-dir", st, "--table", "q.t", "--pk", fmt.Sprint(id),
				"--at", bounds[phase].Add(-time.Second).Format(time.DateTime), "--format", "json")
			if code != 0 {
				t.Fatalf("reconstruct: exit %d %s", code, errOut)
			}
			r := decodeLines(t, out)[0]
			switch {
			case exists && (str(r, "status") != "exists" || statusOf(r["row"]) != want):
				t.Errorf("id %d before phase %d: %s %s, want status %s", id, phase, r["status"], r["row"], want)
			case !exists && str(r, "status") == "exists":
				t.Errorf("id %d before phase %d: %s %s, want no row", id, phase, r["status"], r["row"])
			}
		}
		out, _, code := bintapCmd(t, "reconstruct", "--state-dir", st, "--table", "q.t", "--pk", fmt.Sprint(id), "--history", "--format", "json")
		if n := len(filter(func(o op) bool { return o.id == id }, false)); code != 0 || len(decodeLines(t, out)) != n {
			t.Errorf("--history of %d: exit %d, %d versions, want %d", id, code, len(decodeLines(t, out)), n)
		}
	}
	// By GTID: right after the transaction.
	o := ops[10]
	out, _, _ := bintapCmd(t, "reconstruct", "--state-dir", st, "--table", "q.t", "--pk", fmt.Sprint(o.id), "--gtid", o.gtid, "--format", "json")
	if r := decodeLines(t, out)[0]; o.typ == "delete" && str(r, "status") != "deleted" || o.typ != "delete" && statusOf(r["row"]) != o.status {
		t.Errorf("--gtid %s: %s, workload: %+v", o.gtid, out, o)
	}
	// Before the index begins: it says so instead of guessing.
	out, _, _ = bintapCmd(t, "reconstruct", "--state-dir", st, "--table", "q.t", "--pk", "1", "--at", "2001-01-01 00:00:00", "--format", "json")
	if r := decodeLines(t, out)[0]; str(r, "status") != "too_early" || !strings.Contains(str(r, "note"), "does not reach back") {
		t.Errorf("reconstruct before the index: %s", out)
	}
	if _, errOut, code := bintapCmd(t, "reconstruct", "--state-dir", st, "--table", "q.t", "--pk", "1"); code != 2 || !strings.Contains(errOut, "--at") {
		t.Errorf("reconstruct without --at: exit %d %q", code, errOut)
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// TestIndexKill9ExactlyOnce kills the real binary with SIGKILL while it
// indexes a running workload, restarts it, and checks that the index holds
// every change of the workload exactly once.
func TestIndexKill9ExactlyOnce(t *testing.T) {
	state := t.TempDir()
	testIndexKill9(t, state, "index", func() (*index.Store, error) { return index.OpenReadOnly(index.Path(state)) })
}

// TestServerIndexKill9ExactlyOnce is TestIndexKill9ExactlyOnce with the
// index on a MariaDB server and on a PostgreSQL server, read back with
// bintap query --index URL.
func TestServerIndexKill9ExactlyOnce(t *testing.T) {
	m := testutil.NewMariaDB(t)
	m.Exec("CREATE DATABASE changes")
	p := testutil.NewPostgres(t)
	for name, url := range map[string]string{
		"mariadb":  fmt.Sprintf("index+mysql://root@127.0.0.1:%d/changes", m.Port),
		"postgres": fmt.Sprintf("index+postgres://%s@127.0.0.1:%d/%s?sslmode=disable", testutil.PostgresSuperuser, p.Port, testutil.PostgresTestDB),
	} {
		t.Run(name, func(t *testing.T) {
			src := testIndexKill9(t, t.TempDir(), url, func() (*index.Store, error) { return index.OpenServer(url, true) })
			out, errOut, code := bintapCmd(t, "query", "--index", url, "--table", "k.t", "--pk", "5", "--format", "json", "--order", "oldest")
			var got []map[string]any
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) == nil {
					got = append(got, m)
				}
			}
			if code != 0 || len(got) != 2 || got[0]["type"] != "insert" || got[1]["type"] != "update" {
				t.Errorf("bintap query --index %s --pk 5: exit %d, %d changes %v\n%s", url, code, len(got), got, errOut)
			}
			// Undoing key 10's insert and update from the server index
			// removes the row; key 60 (inserted, never updated) stays.
			script, errOut, code := bintapCmd(t, "recover", "--index", url, "--table", "k.t", "--pk", "10")
			if code != 0 || !strings.Contains(script, "DELETE FROM `k`.`t`") {
				t.Fatalf("bintap recover --index %s: exit %d\n%s\n%s", url, code, script, errOut)
			}
			applyScript(t, src, script)
			var n int
			src.DB.QueryRow("SELECT count(*) FROM k.t WHERE id IN (10, 60)").Scan(&n)
			if n != 1 {
				t.Errorf("after the recover script %d of rows 10 and 60 are left, want 1 (60)", n)
			}
		})
	}
}

// testIndexKill9 kills bintap four times while it indexes a workload into
// output, then checks with open that the index holds each change once.
func testIndexKill9(t *testing.T, state, output string, open func() (*index.Store, error)) *testutil.Server {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY, v INT NOT NULL, pad VARCHAR(100))")
	var errOut bytes.Buffer
	start := func(extra ...string) *exec.Cmd {
		args := append([]string{"stream", "--source", s.URL(), "--start", "oldest", "--state-dir", state, "--output", output,
			"--checkpoint-interval", "100ms", "--batch-size", "50"}, extra...)
		cmd := exec.Command(binary, args...)
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	// The workload: batches of 100 inserts, each followed by an update of
	// half of them, each in its own transaction.
	const batches = 60
	done := make(chan error, 1)
	go func() {
		for b := 0; b < batches; b++ {
			var vals []string
			for i := b * 100; i < (b+1)*100; i++ {
				vals = append(vals, fmt.Sprintf("(%d, 0, REPEAT('p', %d))", i, i%100))
			}
			if _, err := s.DB.Exec("INSERT INTO k.t VALUES " + strings.Join(vals, ",")); err != nil {
				done <- err
				return
			}
			if _, err := s.DB.Exec(fmt.Sprintf("UPDATE k.t SET v = v + 1 WHERE id >= %d AND id < %d", b*100, b*100+50)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	indexed := func() int {
		st, err := open()
		if err != nil {
			return 0
		}
		defer st.Close()
		n, _ := st.Count(context.Background())
		return int(n)
	}
	kills := 0
	for target := 500; target <= 6000; target += 1800 {
		cmd := start()
		deadline := time.Now().Add(2 * time.Minute)
		for indexed() < target && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if indexed() < target {
			t.Fatalf("index never reached %d changes; bintap said:\n%s", target, errOut.String())
		}
		cmd.Process.Kill() // SIGKILL, mid-indexing
		cmd.Wait()
		kills++
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cmd := start("--stop-at-end")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final run: %v\n%s", err, errOut.String())
	}
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := st.DB()
	all, err := st.Query(context.Background(), index.Filter{Schema: "k", Table: "t", Oldest: true})
	if err != nil {
		t.Fatal(err)
	}
	type counts struct{ ins, upd, n int }
	perKey := map[string]*counts{}
	positions := map[string]bool{}
	for _, c := range all {
		positions[fmt.Sprintf("%d/%d", c.TxID, c.EventNumber)] = true
		k := perKey[c.PK]
		if k == nil {
			k = &counts{}
			perKey[c.PK] = k
		}
		k.n++
		switch c.Type {
		case "insert":
			k.ins++
		case "update":
			k.upd++
		}
	}
	total, distinct := len(all), len(positions)
	if n, _ := st.Count(context.Background()); int(n) != total {
		t.Errorf("index counts %d changes, the query of k.t returned %d", n, total)
	}
	want := batches * 150
	if total != want || distinct != want {
		t.Errorf("index holds %d changes (%d distinct positions), the workload made %d", total, distinct, want)
	}
	// Per key: one insert, and for the first half of each batch one update.
	keys := 0
	for pk, k := range perKey {
		var id int
		fmt.Sscanf(pk, "[%d]", &id)
		wantUpd := 0
		if id%100 < 50 {
			wantUpd = 1
		}
		if k.ins != 1 || k.upd != wantUpd || k.n != 1+wantUpd {
			t.Errorf("key %s: %d inserts, %d updates, %d changes; want 1, %d", pk, k.ins, k.upd, k.n, wantUpd)
		}
		keys++
	}
	if keys != batches*100 {
		t.Errorf("%d keys in the index, want %d", keys, batches*100)
	}
	// The GTIDs of the index are the server's, each transaction once.
	var txs, gtids int
	db.QueryRow(`SELECT count(*), count(DISTINCT gtid) FROM transactions`).Scan(&txs, &gtids)
	if txs != gtids || txs < batches*2 {
		t.Errorf("%d transactions with %d distinct GTIDs, want %d distinct", txs, gtids, batches*2)
	}
	t.Logf("%d kills during indexing; %d changes indexed, each once", kills, total)
	return s
}

// TestIndexAlongsideStdoutAndReset runs the index next to stdout, then
// --reset, which must empty the index rather than add to it.
func TestIndexAlongsideStdoutAndReset(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE a", "CREATE TABLE a.t (id INT PRIMARY KEY, v INT)",
		"INSERT INTO a.t VALUES (1,1),(2,2),(3,3)", "UPDATE a.t SET v = 9 WHERE id = 2", "DELETE FROM a.t WHERE id = 3")
	state := t.TempDir()
	count := func() int {
		st, err := index.OpenReadOnly(index.Path(state))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		n, _ := st.Count(context.Background())
		return int(n)
	}
	recs := rows(streamOnce(t, s, state, "--start", "oldest", "--output", "index"))
	if len(recs) != 6 { // 3 inserts, update before+after, delete
		t.Errorf("stdout next to the index: %d records, want 6", len(recs))
	}
	if n := count(); n != 5 {
		t.Errorf("index holds %d changes, want 5", n)
	}
	streamOnce(t, s, state, "--start", "oldest", "--output", "index", "--reset")
	if n := count(); n != 5 {
		t.Errorf("after --reset and a new run the index holds %d changes, want 5", n)
	}
}

// TestIndexInHTTPStatus: the status page carries the index's size and its
// oldest and newest change.
func TestIndexInHTTPStatus(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE h", "CREATE TABLE h.t (id INT PRIMARY KEY)", "INSERT INTO h.t VALUES (1),(2)")
	addr := freePort(t)
	var errOut bytes.Buffer
	cmd := exec.Command(binary, "stream", "--source", s.URL(), "--start", "oldest", "--state-dir", t.TempDir(), "--output", "index",
		"--http", addr, "--checkpoint-interval", "200ms")
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var section struct {
		Bytes        int64     `json:"bytes"`
		OldestChange time.Time `json:"oldest_change"`
		NewestChange time.Time `json:"newest_change"`
	}
	for deadline := time.Now().Add(time.Minute); ; {
		var st struct {
			Sections map[string]json.RawMessage `json:"sections"`
		}
		if resp, err := http.Get("http://" + addr + "/status"); err == nil {
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if raw, ok := st.Sections["index"]; ok {
				json.Unmarshal(raw, &section)
				if !section.OldestChange.IsZero() {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the index's changes; bintap said:\n%s", errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if section.Bytes == 0 || section.NewestChange.Before(section.OldestChange) || time.Since(section.OldestChange) > time.Hour {
		t.Errorf("index section: %+v", section)
	}
}

// TestStopBeforeFirstCheckpoint: a stream killed before its first
// checkpoint, after one output that keeps its own position (files)
// committed, must not resume from that output's position when another
// (here the index, added on the restart) holds nothing: the stream's first
// checkpoint is where it began, so the index gets every change and the
// files output none twice. Started by a GTID set alone, the stream learns
// its first file position only from the server: it writes that checkpoint
// at its first transaction.
func TestStopBeforeFirstCheckpoint(t *testing.T) {
	for _, by := range []string{"oldest", "gtid"} {
		t.Run(by, func(t *testing.T) { stopBeforeFirstCheckpoint(t, by) })
	}
}

func stopBeforeFirstCheckpoint(t *testing.T, by string) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY, v INT NOT NULL)")
	start := "oldest"
	if by == "gtid" {
		if err := s.DB.QueryRow("SELECT @@gtid_binlog_pos").Scan(&start); err != nil {
			t.Fatal(err)
		}
	}
	for b := 0; b < 10; b++ {
		var vals []string
		for i := b * 20; i < (b+1)*20; i++ {
			vals = append(vals, fmt.Sprintf("(%d, %d)", i, i))
		}
		s.Exec("INSERT INTO k.t VALUES " + strings.Join(vals, ","))
	}
	state, dir := t.TempDir(), filepath.Join(t.TempDir(), "files")
	args := []string{"--source", s.URL(), "--start", start, "--state-dir", state, "--file-window", "1s",
		"--checkpoint-interval", "1h"} // no checkpoint before the kill but the first

	var errOut testutil.SyncBuffer
	cmd := startBintap(t, &errOut, append(args, "--output", "files://"+dir)...)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if rows, _ := replayFiles(t, dir, "k", "t"); len(rows) == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the files output never held the 200 rows; bintap said:\n%s", errOut.String())
		}
	}
	cmd.Process.Kill() // SIGKILL: no checkpoint at exit
	cmd.Wait()
	ckpt, err := position.Load(state)
	switch {
	case err != nil || ckpt == nil || !ckpt.Start || ckpt.Skip != 0:
		t.Fatalf("checkpoint after the kill: %+v, %v; want a start checkpoint", ckpt, err)
	case by == "oldest" && ckpt.Pos != 4:
		t.Fatalf("checkpoint after the kill: %+v; want the oldest binlog's position 4", ckpt)
	case by == "gtid" && (ckpt.Pos <= 4 || ckpt.GTIDState != start):
		t.Fatalf("checkpoint after the kill: %+v; want the first transaction after %s", ckpt, start)
	}

	var out, errOut2 bytes.Buffer
	if code := run(append([]string{"stream"}, append(args, "--output", "files://"+dir+",index", "--stop-at-end")...), &out, &errOut2); code != 0 {
		t.Fatalf("restart exited %d:\n%s", code, errOut2.String())
	}
	if strings.Contains(errOut2.String(), "holds no position") {
		t.Errorf("a warning that the new output misses changes, though it gets them all:\n%s", errOut2.String())
	}
	st, err := index.Open(filepath.Join(state, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.Count(context.Background()); err != nil || n != 200 {
		t.Errorf("the index holds %d changes (%v), want all 200:\n%s", n, err, errOut2.String())
	}
	rows, dups := replayFiles(t, dir, "k", "t")
	if len(rows) != 200 || len(dups) != 0 {
		t.Errorf("files output: %d rows, %d changes twice (%v); want 200 and none", len(rows), len(dups), dups)
	}
}
