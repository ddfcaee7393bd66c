package schema

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bintap/bintap/internal/change"
)

// Statement is one statement of a SQL script.
type Statement struct {
	SQL  string
	Line int // 1-based line where it starts
}

// SplitScript splits a SQL script as the mysql/mariadb command-line client
// does: at the delimiter (";" unless a DELIMITER line changes it) outside
// quotes and comments. DELIMITER lines are not statements.
func SplitScript(script string) []Statement {
	var out []Statement
	delim := ";"
	n := len(script)
	start, line, startLine := 0, 1, 1
	empty := true // nothing but space and comments since start
	atLineStart := true
	flush := func(end int) {
		if s := strings.TrimSpace(script[start:end]); s != "" && !empty {
			out = append(out, Statement{SQL: s, Line: startLine})
		}
		empty = true
	}
	begin := func() {
		if empty {
			empty, startLine = false, line
		}
	}
	for i := 0; i < n; {
		c := script[i]
		if atLineStart && empty {
			// A DELIMITER line, only where a statement starts.
			j := i
			for j < n && (script[j] == ' ' || script[j] == '\t') {
				j++
			}
			if j+10 <= n && strings.EqualFold(script[j:j+9], "DELIMITER") && (script[j+9] == ' ' || script[j+9] == '\t') {
				end := strings.IndexByte(script[j:], '\n')
				if end < 0 {
					end = n - j
				}
				if d := strings.TrimSpace(script[j+9 : j+end]); d != "" {
					delim = d
				}
				i = j + end
				start = i
				continue
			}
		}
		atLineStart = false
		switch {
		case c == '\n':
			line++
			atLineStart = true
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '\'' || c == '"' || c == '`':
			begin()
			j := skipQuoted(script, i)
			line += strings.Count(script[i:j], "\n")
			i = j
		case c == '#' || (c == '-' && i+1 < n && script[i+1] == '-' && (i+2 == n || script[i+2] == ' ' || script[i+2] == '\t' || script[i+2] == '\n' || script[i+2] == '\r')):
			for i < n && script[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && script[i+1] == '*' && !(i+2 < n && (script[i+2] == '!' || script[i+2] == 'M')):
			j := strings.Index(script[i+2:], "*/")
			end := n
			if j >= 0 {
				end = i + 2 + j + 2
			}
			line += strings.Count(script[i:end], "\n")
			i = end
		case strings.HasPrefix(script[i:], delim):
			flush(i)
			i += len(delim)
			start = i
		default:
			begin()
			i++
		}
	}
	flush(n)
	return out
}

// Verdict is what the schema history did with a DDL statement.
type Verdict string

const (
	// Applied: the statement changed (or confirmed) table definitions.
	Applied Verdict = "applied"
	// Ignored: the statement cannot change a table's shape.
	Ignored Verdict = "ignored"
	// NoDefinition: the statement was understood, but the table it
	// changes was not defined before (in a file checked alone: created
	// elsewhere). A stream loads such a table from the server.
	NoDefinition Verdict = "no definition"
	// NotUnderstood: the statement could not be parsed or applied; a
	// stream marks its tables unknown.
	NotUnderstood Verdict = "NOT UNDERSTOOD"
)

// CheckResult is the outcome of one statement run through History.Check.
type CheckResult struct {
	Verdict Verdict
	// Tables are the definitions the statement made ("db.t v2: 3 columns").
	Tables []string
	// Reason says why a statement was ignored, or the error.
	Reason string
}

// Check applies one statement like ApplyDDL and says what became of it:
// applied, knowingly ignored (and why), or not understood.
func (h *History) Check(defaultSchema, sql string, at Mark) (res CheckResult) {
	defer func() {
		if r := recover(); r != nil {
			res = CheckResult{Verdict: NotUnderstood, Reason: fmt.Sprintf("internal error: %v", r)}
		}
	}()
	affected, err := h.ApplyDDL(defaultSchema, sql, "", at)
	switch {
	case errors.Is(err, ErrNoDefinition):
		return CheckResult{Verdict: NoDefinition, Reason: err.Error()}
	case err != nil:
		return CheckResult{Verdict: NotUnderstood, Reason: err.Error()}
	}
	p := prepareFor(sql, h.server)
	if why := ignoredWhy(p, sql); why != "" {
		return CheckResult{Verdict: Ignored, Reason: why}
	}
	r := CheckResult{Verdict: Applied}
	for _, t := range affected {
		r.Tables = append(r.Tables, describe(t))
	}
	if len(r.Tables) == 0 {
		switch p.kind {
		case kindAlterTable:
			r.Verdict, r.Reason = Ignored, "changes no column (indexes, constraints, table options, partitions, ALGORITHM/LOCK)"
		case kindCreateTable, kindCreateSequence:
			r.Verdict, r.Reason = Ignored, "the table exists (IF NOT EXISTS), or is defined the same"
		case kindDropTable:
			r.Reason = "table dropped"
		case kindRenameTable:
			r.Reason = "renamed tables not seen before: nothing to move"
		case kindCreateDB, kindAlterDB:
			r.Reason = "database default character set recorded"
		case kindDropDB:
			r.Reason = "tables of the database dropped"
		}
	}
	return r
}

func describe(t *change.Table) string {
	return fmt.Sprintf("%s v%d: %d columns", t.FullName(), t.Version, len(t.Columns))
}

// ignoredWhy says why a statement is knowingly ignored ("" when it is not).
func ignoredWhy(p *prepared, sql string) string {
	switch p.kind {
	case kindTruncate:
		return "TRUNCATE empties a table; its columns stay"
	case kindCreateTable, kindDropTable, kindCreateSequence:
		if p.temporary {
			return "temporary tables never appear in row events"
		}
		return ""
	case kindNone:
	default:
		return ""
	}
	toks := tokenize(expandVersionComments(sql, serverInfo{}))
	if len(toks) == 0 {
		return "empty statement"
	}
	if toks[0].is("SET") && len(toks) > 1 && toks[1].is("STATEMENT") {
		return "SET STATEMENT without a statement after FOR"
	}
	words := make([]string, 0, 4)
	for _, t := range toks {
		if t.kind != tWord || len(words) == 4 {
			break
		}
		words = append(words, strings.ToUpper(t.text))
	}
	has := func(w string) bool {
		for _, x := range words {
			if x == w {
				return true
			}
		}
		return false
	}
	first := strings.ToUpper(toks[0].text)
	switch first {
	case "INSERT", "UPDATE", "DELETE", "REPLACE", "SELECT", "WITH", "VALUES", "TABLE", "LOAD", "CALL", "DO", "HANDLER":
		return "data, not DDL: row events carry its changes"
	case "ANALYZE", "OPTIMIZE", "REPAIR", "CHECK", "CHECKSUM", "FLUSH", "RESET", "PURGE", "KILL", "SHOW", "EXPLAIN",
		"DESCRIBE", "DESC", "HELP", "BACKUP", "CACHE", "INSTALL", "UNINSTALL", "SHUTDOWN":
		return "administration: no change of a table's shape"
	case "SET", "USE", "BEGIN", "START", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "XA", "LOCK", "UNLOCK", "PREPARE",
		"EXECUTE", "DEALLOCATE", "DECLARE", "SIGNAL", "RESIGNAL", "GET":
		return "session or transaction control: not DDL"
	}
	switch {
	case has("INDEX") || has("KEY"):
		return "index: does not change columns"
	case has("VIEW"):
		return "views have no rows in the binlog"
	case has("TRIGGER") || has("PROCEDURE") || has("FUNCTION") || has("EVENT") || has("PACKAGE"):
		return "stored program: not a table"
	case has("USER") || has("ROLE") || first == "GRANT" || first == "REVOKE":
		return "accounts and privileges: not a table"
	case has("SERVER") || has("TABLESPACE") || has("LOGFILE") || has("SPATIAL"):
		return "server object: not a table"
	case has("SEQUENCE"):
		return "sequence options: a sequence's table has fixed columns"
	case has("DATABASE") || has("SCHEMA"):
		return "database options other than its character set"
	}
	if first == "CREATE" || first == "ALTER" || first == "DROP" || first == "RENAME" {
		return "not a table, sequence or database statement"
	}
	return "not a DDL statement bintap knows to change tables"
}

// useTarget returns the database of a USE statement.
func useTarget(sql string) (string, bool) {
	toks := tokenize(sql)
	for len(toks) > 0 && toks[len(toks)-1].isPunct(";") {
		toks = toks[:len(toks)-1]
	}
	if len(toks) == 2 && toks[0].is("USE") && toks[1].ident() {
		return toks[1].text, true
	}
	return "", false
}

// CheckScript runs every statement of a SQL script through a new, empty
// schema history (USE statements change the default database, which starts
// as defaultSchema) and returns each statement with its result.
func CheckScript(script, defaultSchema string) ([]Statement, []CheckResult) {
	h := &History{tables: map[key]*tableHistory{}, dbs: map[string]*dbHistory{}}
	stmts := SplitScript(script)
	results := make([]CheckResult, len(stmts))
	db := defaultSchema
	for i, st := range stmts {
		if name, ok := useTarget(st.SQL); ok {
			db = name
			results[i] = CheckResult{Verdict: Ignored, Reason: "default database is now " + name}
			continue
		}
		results[i] = h.Check(db, st.SQL, Mark{File: "script", Pos: uint32(st.Line)})
	}
	return stmts, results
}
