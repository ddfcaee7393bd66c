package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckDDL(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.sql")
	bad := filepath.Join(dir, "bad.sql")
	if err := os.WriteFile(good, []byte("CREATE TABLE t (id INT, d DATE DEFAULT CAST(CURRENT_TIMESTAMP() AS DATE));\n"+
		"CREATE INDEX i ON t (id);\nUSE other;\nALTER TABLE test.t ADD COLUMN `row` INT, ALGORITHM=INSTANT;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("CREATE TABLE t (id INT);\nALTER TABLE t ADD COLUMN x NOSUCHTYPE(3);\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		out  []string // substrings of standard output
		err  string   // substring of standard error
	}{
		{[]string{"check", "--ddl", good}, 0, []string{"line 1: applied", "test.t v1: 2 columns", "line 2: ignored", "index: does not change columns",
			"line 4: applied", "test.t v2: 3 columns", "4 statements: 2 applied, 2 ignored, 0 on tables not defined in the file, 0 not understood"}, ""},
		{[]string{"check", "--ddl", bad, "--database", "shop"}, 1, []string{"line 2: NOT UNDERSTOOD", "shop.t", "1 not understood"}, ""},
		{[]string{"check", "--ddl", filepath.Join(dir, "missing.sql")}, 2, nil, "missing.sql"},
		{[]string{"check", good}, 2, nil, "unexpected argument"},
		{[]string{"check"}, 2, nil, "--ddl FILE"},
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		code := run(tc.args, &out, &errOut)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tc.args, code, tc.code, out.String(), errOut.String())
		}
		for _, s := range tc.out {
			if !strings.Contains(out.String(), s) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, s, out.String())
			}
		}
		if tc.err != "" && !strings.Contains(errOut.String(), tc.err) {
			t.Errorf("%v: stderr lacks %q: %s", tc.args, tc.err, errOut.String())
		}
	}
}
