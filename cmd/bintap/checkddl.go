package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bintap/bintap/internal/schema"
)

// checkDDL runs a DDL file through the schema history (bintap check --ddl)
// and prints one line per statement: 0 when every statement was applied or
// knowingly ignored, 1 when one was not understood, 2 when the file cannot
// be read.
func checkDDL(path, database string, out, errOut io.Writer) int {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		fmt.Fprintf(errOut, "bintap check: --ddl %s: %v\n", path, err)
		return 2
	}
	stmts, results := schema.CheckScript(string(b), database)
	counts := map[schema.Verdict]int{}
	for i, st := range stmts {
		r := results[i]
		counts[r.Verdict]++
		detail := strings.Join(r.Tables, "; ")
		if r.Reason != "" {
			if detail != "" {
				detail += "; "
			}
			detail += r.Reason
		}
		fmt.Fprintf(out, "line %d: %s: %s\n", st.Line, r.Verdict, oneLine(st.SQL, 100))
		if detail != "" {
			fmt.Fprintf(out, "    %s\n", detail)
		}
	}
	fmt.Fprintf(out, "%d statements: %d applied, %d ignored, %d on tables not defined in the file, %d not understood\n",
		len(stmts), counts[schema.Applied], counts[schema.Ignored], counts[schema.NoDefinition], counts[schema.NotUnderstood])
	if counts[schema.NotUnderstood] > 0 {
		fmt.Fprintln(out, "Statements not understood mark their tables unknown: a stream then decodes their rows only with a definition "+
			"proven to match the binlog (binlog_row_metadata=FULL, or the live table), or stops.")
		return 1
	}
	return 0
}

// oneLine shortens a statement to n bytes on one line.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// removeDDLFlags drops --ddl and --database (and their values) from check's
// arguments, for the server check that follows a DDL check.
func removeDDLFlags(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := strings.TrimLeft(args[i], "-")
		name, _, hasValue := strings.Cut(a, "=")
		if strings.HasPrefix(args[i], "-") && (name == "ddl" || name == "database") {
			if !hasValue {
				i++
			}
			continue
		}
		out = append(out, args[i])
	}
	return out
}
