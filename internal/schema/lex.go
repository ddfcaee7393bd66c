package schema

import (
	"sort"
	"strconv"
	"strings"
)

// serverInfo is what the history knows of the server that wrote the DDL.
type serverInfo struct {
	mysql   bool // MySQL (not MariaDB)
	version int  // 10.11.5 is 101105, 8.0.36 is 80036; 0 when unknown
	// ansiQuotes: the statement ran with sql_mode ANSI_QUOTES (or ANSI,
	// ORACLE): "x" is an identifier, not a string.
	ansiQuotes bool
}

// parseServerVersion reads VERSION() text ("10.11.5-MariaDB-log", "8.0.36").
func parseServerVersion(v string) int {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0
	}
	num := func(s string) int {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		n, _ := strconv.Atoi(s[:i])
		return n
	}
	patch := 0
	if len(parts) == 3 {
		patch = num(parts[2])
	}
	return num(parts[0])*10000 + num(parts[1])*100 + patch
}

// This file holds a small SQL tokenizer. The TiDB parser does the real
// parsing; the tokenizer classifies statements cheaply and rewrites the
// MariaDB syntax the TiDB parser does not know (UUID, INET4, INET6 and
// spatial column types, PERSISTENT, COMPRESSED, INVISIBLE, character sets and
// collations it has never heard of) before the statement is handed over.

type tokKind uint8

const (
	tWord   tokKind = iota + 1 // unquoted identifier or keyword
	tQuoted                    // `quoted identifier`; text is the unquoted name
	tString                    // 'string' or "string"; text is the raw literal with quotes
	tNumber                    // numeric literal
	tPunct                     // one punctuation character
)

type token struct {
	kind       tokKind
	text       string
	start, end int // byte offsets in the (comment-expanded) source
}

// is reports whether t is the unquoted keyword kw (case-insensitive).
func (t token) is(kw string) bool { return t.kind == tWord && strings.EqualFold(t.text, kw) }

func (t token) isPunct(p string) bool { return t.kind == tPunct && t.text == p }

// ident reports whether t can name something (a word or a quoted identifier).
func (t token) ident() bool { return t.kind == tWord || t.kind == tQuoted }

// expandVersionComments removes the markers of executable comments
// (/*!50100 ... */ and MariaDB's /*M!100301 ... */) so that their content
// takes part in parsing, as it does on the server. Offsets are kept: markers
// are replaced by spaces.
//
// sv is the server that wrote the statement: a comment for a later version
// than sv's (/*!110000 ...*/ on MariaDB 10.11), and MariaDB's /*M! comments
// on MySQL, are ignored as that server ignored them. A zero sv (unknown)
// expands them all.
func expandVersionComments(sql string, sv serverInfo) string {
	if !strings.Contains(sql, "/*!") && !strings.Contains(sql, "/*M!") {
		return sql
	}
	b := []byte(sql)
	n := len(b)
	for i := 0; i < n; {
		c := b[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(sql, i)
		case c == '#' || (c == '-' && i+2 < n && b[i+1] == '-' && (b[i+2] == ' ' || b[i+2] == '\t' || b[i+2] == '\n')):
			for i < n && b[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && b[i+1] == '*':
			j := i + 2
			exec, mariadbOnly := false, false
			if j < n && b[j] == '!' {
				exec, j = true, j+1
			} else if j+1 < n && b[j] == 'M' && b[j+1] == '!' {
				exec, mariadbOnly, j = true, true, j+2
			}
			if !exec {
				end := strings.Index(sql[i+2:], "*/")
				if end < 0 {
					return string(b)
				}
				i = i + 2 + end + 2
				continue
			}
			digits := j
			for j < n && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			if sv.version > 0 {
				v, _ := strconv.Atoi(sql[digits:j])
				if v > sv.version || (mariadbOnly && sv.mysql) {
					// Not executed by that server: blanked out (the TiDB
					// parser would execute it).
					end := strings.Index(sql[i+2:], "*/")
					stop := n
					if end >= 0 {
						stop = i + 2 + end + 2
					}
					for k := i; k < stop; k++ {
						if b[k] != '\n' {
							b[k] = ' '
						}
					}
					i = stop
					continue
				}
			}
			for k := i; k < j; k++ {
				b[k] = ' '
			}
			// Find the closing marker, skipping quoted text inside.
			k := j
			for k < n {
				if b[k] == '\'' || b[k] == '"' || b[k] == '`' {
					k = skipQuoted(sql, k)
					continue
				}
				if b[k] == '*' && k+1 < n && b[k+1] == '/' {
					b[k], b[k+1] = ' ', ' '
					break
				}
				k++
			}
			i = j
		default:
			i++
		}
	}
	return string(b)
}

// skipQuoted returns the offset just after the quoted text starting at i.
func skipQuoted(s string, i int) int {
	q := s[i]
	j := i + 1
	for j < len(s) {
		c := s[j]
		if c == '\\' && q != '`' {
			j += 2
			continue
		}
		if c == q {
			if j+1 < len(s) && s[j+1] == q {
				j += 2
				continue
			}
			return j + 1
		}
		j++
	}
	return len(s)
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// isHexLiteral reports whether s is 0x followed by hex digits.
func isHexLiteral(s string) bool {
	if len(s) < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return false
	}
	for _, c := range s[2:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// tokenize splits sql (already comment-expanded) into tokens, dropping
// whitespace and ordinary comments.
func tokenize(sql string) []token {
	var toks []token
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '#' || (c == '-' && i+2 < n && sql[i+1] == '-' && (sql[i+2] == ' ' || sql[i+2] == '\t' || sql[i+2] == '\n')) || (c == '-' && i+2 == n && sql[i+1] == '-'):
			for i < n && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				i = n
			} else {
				i += 2 + end + 2
			}
		case c == '`':
			j := skipQuoted(sql, i)
			inner := sql[i+1 : j]
			inner = strings.TrimSuffix(inner, "`")
			toks = append(toks, token{tQuoted, strings.ReplaceAll(inner, "``", "`"), i, j})
			i = j
		case c == '\'' || c == '"':
			j := skipQuoted(sql, i)
			toks = append(toks, token{tString, sql[i:j], i, j})
			i = j
		case c >= '0' && c <= '9', c == '.' && i+1 < n && sql[i+1] >= '0' && sql[i+1] <= '9' && (len(toks) == 0 || toks[len(toks)-1].kind != tQuoted && toks[len(toks)-1].kind != tWord):
			j := i + 1
			for j < n && (isIdentByte(sql[j]) || sql[j] == '.' ||
				((sql[j] == '+' || sql[j] == '-') && (sql[j-1] == 'e' || sql[j-1] == 'E'))) {
				j++
			}
			// A name may start with digits (1col); treat such a run as a word.
			kind := tNumber
			for k := i; k < j; k++ {
				if (sql[k] < '0' || sql[k] > '9') && sql[k] != '.' && sql[k] != 'e' && sql[k] != 'E' && sql[k] != '+' && sql[k] != '-' && sql[k] != 'x' && sql[k] != 'b' {
					kind = tWord
					break
				}
			}
			if isHexLiteral(sql[i:j]) {
				kind = tNumber
			}
			toks = append(toks, token{kind, sql[i:j], i, j})
			i = j
		case isIdentByte(c):
			j := i + 1
			for j < n && isIdentByte(sql[j]) {
				j++
			}
			// x'..', b'..', n'..', _charset'..' literals: keep the word; the
			// string follows as its own token.
			toks = append(toks, token{tWord, sql[i:j], i, j})
			i = j
		case c == '@':
			j := i + 1
			for j < n && (isIdentByte(sql[j]) || sql[j] == '@' || sql[j] == '.') {
				j++
			}
			toks = append(toks, token{tWord, sql[i:j], i, j})
			i = j
		default:
			toks = append(toks, token{tPunct, string(c), i, i + 1})
			i++
		}
	}
	return toks
}

// unquoteString resolves a SQL string literal: doubled quotes and backslash
// escapes.
func unquoteString(lit string) string {
	if len(lit) < 2 {
		return lit
	}
	q := lit[0]
	body := lit[1 : len(lit)-1]
	var sb strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == q && i+1 < len(body) && body[i+1] == q {
			sb.WriteByte(q)
			i++
			continue
		}
		if c == '\\' && i+1 < len(body) {
			i++
			switch body[i] {
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			case 'r':
				sb.WriteByte('\r')
			case '0':
				sb.WriteByte(0)
			case 'b':
				sb.WriteByte('\b')
			case 'Z':
				sb.WriteByte(26)
			default:
				sb.WriteByte(body[i])
			}
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// nameText is the name a word, quoted identifier or string token stands for.
func nameText(t token) string {
	if t.kind == tString {
		return unquoteString(t.text)
	}
	return t.text
}

// editor collects replacements of token ranges in a source string.
type editor struct {
	src   string
	edits []edit
}

type edit struct {
	start, end int
	text       string
}

func (e *editor) replace(t token, text string) { e.edits = append(e.edits, edit{t.start, t.end, text}) }
func (e *editor) remove(t token)               { e.replace(t, "") }
func (e *editor) insertAt(pos int, text string) {
	e.edits = append(e.edits, edit{pos, pos, text})
}

func (e *editor) String() string {
	if len(e.edits) == 0 {
		return e.src
	}
	// Source order. A token may be edited twice (a charset name in a
	// dropped table option): removal wins.
	sort.SliceStable(e.edits, func(i, j int) bool {
		a, b := e.edits[i], e.edits[j]
		if a.start != b.start {
			return a.start < b.start
		}
		return a.text == "" && b.text != ""
	})
	var sb strings.Builder
	pos := 0
	for _, ed := range e.edits {
		if ed.start < pos {
			continue
		}
		sb.WriteString(e.src[pos:ed.start])
		sb.WriteByte(' ')
		sb.WriteString(ed.text)
		sb.WriteByte(' ')
		pos = ed.end
	}
	sb.WriteString(e.src[pos:])
	return sb.String()
}
