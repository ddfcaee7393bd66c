package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/schema"
	"github.com/bintap/bintap/internal/testutil"
)

// TestSchemaHistoryScope: with --schema-history captured-tables the history
// keeps the DDL of the captured table only; a restart with a wider --tables
// names the tables without history, stops at a row no proven definition
// fits, and decodes the rows the binlog's FULL metadata describes.
func TestSchemaHistoryScope(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE sc",
		"CREATE TABLE sc.a (id INT PRIMARY KEY, v VARCHAR(10))",
		"CREATE TABLE sc.b (id INT PRIMARY KEY, v VARCHAR(10))",
		"CREATE TABLE sc.c (id INT PRIMARY KEY, n INT)",
		"INSERT INTO sc.a VALUES (1, 'one')")
	state := t.TempDir()
	narrow := []string{"--tables", "sc.a", "--schema-history", "captured-tables"}
	if recs := rows(streamOnce(t, s, state, narrow...)); len(recs) != 1 {
		t.Fatalf("first run: %d rows, want the snapshot's 1", len(recs))
	}
	s.Exec("ALTER TABLE sc.a ADD COLUMN w INT",
		"ALTER TABLE sc.b ADD COLUMN w INT",
		"ALTER TABLE sc.c ADD COLUMN m INT",
		"INSERT INTO sc.a VALUES (2, 'two', 2)")
	if recs := rows(streamOnce(t, s, state, narrow...)); len(recs) != 1 || recs[0].num("w") != 2 {
		t.Fatalf("second run: %v", recs)
	}
	hist, err := os.ReadFile(filepath.Join(state, schema.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(hist), `"name": "a"`) || !strings.Contains(string(hist), `"mode": "captured-tables"`) {
		t.Fatalf("the history lacks sc.a or its scope:\n%s", hist)
	}
	for _, n := range []string{`"name": "b"`, `"name": "c"`} {
		if strings.Contains(string(hist), n) {
			t.Errorf("the history holds %s, which is not captured:\n%s", n, hist)
		}
	}

	// Rows written without column names (the default metadata), then the
	// table altered: no definition proven against the binlog exists.
	s.Exec("INSERT INTO sc.b VALUES (1, 'x', 7)", "ALTER TABLE sc.b DROP COLUMN w")
	// Rows written with FULL metadata: the binlog says what they are.
	s.Exec("SET GLOBAL binlog_row_metadata = FULL")
	s.Exec("INSERT INTO sc.c VALUES (1, 5, 6)", "ALTER TABLE sc.c DROP COLUMN m")

	var out, errOut bytes.Buffer
	args := []string{"stream", "--source", s.URL(), "--stop-at-end", "--state-dir", state, "--output", "-",
		"--tables", "sc.a,sc.b,sc.c", "--schema-history", "captured-tables"}
	if code := run(args, &out, &errOut); code == 0 {
		t.Fatalf("rows of sc.b were decoded without a proven definition:\n%s", out.String())
	}
	msg := errOut.String()
	t.Logf("widened restart:\n%s", msg)
	if !strings.Contains(msg, "newly captured tables have no schema history") || !strings.Contains(msg, "sc.b, sc.c") {
		t.Errorf("the start does not name the tables without history:\n%s", msg)
	}
	if !strings.Contains(msg, "sc.b") || !strings.Contains(msg, "outside the schema-history scope") || !strings.Contains(msg, "binlog_row_metadata=FULL") {
		t.Errorf("the stop does not explain:\n%s", msg)
	}
	for _, r := range rows(parseRecords(t, out.Bytes())) {
		if r.str("table_name") == "b" {
			t.Errorf("a row of sc.b was delivered: %v", r)
		}
	}

	// Leaving sc.b out again, the rows of sc.c decode with the binlog's
	// own column metadata.
	out.Reset()
	errOut.Reset()
	args = []string{"stream", "--source", s.URL(), "--stop-at-end", "--state-dir", state, "--output", "-",
		"--tables", "sc.a,sc.c", "--schema-history", "captured-tables"}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("bintap %v exited %d\n%s", args, code, errOut.String())
	}
	var got []string
	for _, r := range rows(parseRecords(t, out.Bytes())) {
		got = append(got, r.str("table_name")+": id="+string(r["id"])+" n="+string(r["n"])+" m="+string(r["m"]))
	}
	if want := "c: id=1 n=5 m=6"; strings.Join(got, "\n") != want {
		t.Errorf("rows after the restart:\n%s\nwant:\n%s\n%s", strings.Join(got, "\n"), want, errOut.String())
	}
}
