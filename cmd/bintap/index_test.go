package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
