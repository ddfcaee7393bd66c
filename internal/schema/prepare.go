package schema

import (
	"slices"
	"strings"
)

// stmtKind is what a statement does, as far as table definitions go.
type stmtKind uint8

const (
	kindNone stmtKind = iota // not DDL on a table or database: ignored
	kindCreateTable
	kindAlterTable
	kindRenameTable
	kindDropTable
	kindTruncate
	kindCreateDB
	kindAlterDB
	kindDropDB
	kindCreateSequence
)

// dbOptionWords start the options of ALTER DATABASE without a name.
var dbOptionWords = map[string]bool{"DEFAULT": true, "CHARACTER": true, "CHARSET": true, "COLLATE": true, "COMMENT": true,
	"ENCRYPTION": true, "READ": true}

// tableName is a possibly schema-qualified table name from the tokens.
type tableName struct{ schema, name string }

// colExtra is what the tokenizer learnt about one column definition that the
// TiDB parser cannot tell (or was told differently, after rewriting).
type colExtra struct {
	realType string // uuid, inet4, inet6, point, ...: replaced by a placeholder type
	charset  string // explicit CHARACTER SET, lower case
	collate  string // explicit COLLATE, lower case
	national bool   // NCHAR / NATIONAL VARCHAR: utf8mb3
	// sysPeriod is a system-versioning column (AS ROW START / ROW END).
	sysPeriod bool
}

// prepared is a statement classified and rewritten for the TiDB parser.
type prepared struct {
	kind      stmtKind
	sql       string // rewritten text for the TiDB parser
	orReplace bool   // CREATE OR REPLACE TABLE
	temporary bool   // CREATE/DROP TEMPORARY TABLE
	// ifNotExists is CREATE SEQUENCE / DATABASE IF NOT EXISTS.
	ifNotExists bool
	// dbName is the database of CREATE / ALTER / DROP DATABASE ("" for
	// ALTER DATABASE without a name: the default database).
	dbName string
	// tables named by the statement, found by the tokenizer: used to mark
	// tables unknown when the parser fails.
	tables []tableName
	// cols by lower-case column name.
	cols map[string]*colExtra
	// Table (or database) level CHARACTER SET / COLLATE options.
	charset, collate string
	// CONVERT TO CHARACTER SET.
	convertCharset, convertCollate string
	// charsetDefault is CHARACTER SET DEFAULT (or COLLATE DEFAULT) without
	// another charset option; convertDefault the same for CONVERT TO.
	charsetDefault, convertDefault bool
	// sysVersioning is set for WITH SYSTEM VERSIONING (a table option, or a
	// column attribute): the table is system-versioned. Without explicit
	// AS ROW START/END columns it has two hidden ones, row_start and
	// row_end, that the row images carry.
	sysVersioning bool
	// addVersioning and dropVersioning are ALTER TABLE ... ADD / DROP
	// SYSTEM VERSIONING.
	addVersioning, dropVersioning bool
	// renameIfExists are the (lower-case) columns of RENAME COLUMN IF
	// EXISTS.
	renameIfExists []string
	// noColumnChange: an ALTER TABLE of indexes, options, partitions only.
	noColumnChange bool
	// renameTo is the new name of ALTER TABLE ... RENAME [TO|AS].
	renameTo *tableName
	// pkIfNotExists is ADD PRIMARY KEY IF NOT EXISTS.
	pkIfNotExists bool
	hasSelect     bool // CREATE TABLE ... SELECT
	// engine is the ENGINE [=] name table option, upper-case ("" none).
	engine string
	// like is the table of CREATE TABLE ... LIKE.
	like *tableName
	// periods are MariaDB application-time periods: name → start, end column.
	periods map[string][2]string
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// placeholderType stands in for column types the TiDB parser does not know;
// colExtra.realType restores them.
const placeholderType = "varchar(64)"

var unknownTypes = map[string]bool{
	"uuid": true, "inet4": true, "inet6": true,
	"geometry": true, "point": true, "linestring": true, "polygon": true, "multipoint": true,
	"multilinestring": true, "multipolygon": true, "geometrycollection": true, "geomcollection": true,
}

// keyStarts are words that start an index or constraint, not a column, in a
// CREATE TABLE element list or after ALTER TABLE ... ADD.
var keyStarts = map[string]bool{
	"primary": true, "key": true, "index": true, "unique": true, "fulltext": true, "spatial": true,
	"constraint": true, "foreign": true, "check": true, "period": true, "system": true, "partition": true,
	"vector": true,
}

// prepare classifies sql and rewrites it for the TiDB parser.
func prepare(sql string) *prepared { return prepareFor(sql, serverInfo{}) }

// prepareFor is prepare for DDL written by the server sv (see
// expandVersionComments).
func prepareFor(sql string, sv serverInfo) *prepared {
	src := expandVersionComments(sql, sv)
	toks := tokenize(src)
	p := &prepared{cols: map[string]*colExtra{}}
	ed := &editor{src: src}
	if sv.ansiQuotes {
		// "x" names something: make it `x` for the TiDB parser and for
		// the scans below.
		for i, t := range toks {
			if t.kind == tString && src[t.start] == '"' {
				name := unquoteString(t.text)
				toks[i] = token{tQuoted, name, t.start, t.end}
				ed.replace(toks[i], quoteIdent(name))
			}
		}
	}
	// Trailing semicolons.
	for len(toks) > 0 && toks[len(toks)-1].isPunct(";") {
		toks = toks[:len(toks)-1]
	}
	if len(toks) < 2 {
		return p
	}
	// MariaDB's SET STATEMENT var = value [, ...] FOR statement: the
	// statement is what matters.
	if toks[0].is("SET") && toks[1].is("STATEMENT") {
		depth := 0
		for k := 2; k+1 < len(toks); k++ {
			switch {
			case toks[k].isPunct("("):
				depth++
			case toks[k].isPunct(")"):
				depth--
			case depth == 0 && toks[k].is("FOR"):
				// The server parses the whole statement with the session's
				// sql_mode: a SET STATEMENT sql_mode does not change quoting.
				return prepareFor(src[toks[k+1].start:], serverInfo{ansiQuotes: sv.ansiQuotes})
			}
		}
		return p
	}
	i := 1
	switch {
	case toks[0].is("CREATE"):
		if i+1 < len(toks) && toks[i].is("OR") && toks[i+1].is("REPLACE") {
			p.orReplace = true
			ed.remove(toks[i])
			ed.remove(toks[i+1])
			i += 2
		}
		if i < len(toks) && toks[i].is("TEMPORARY") {
			p.temporary = true
			i++
		}
		if i >= len(toks) {
			return p
		}
		switch {
		case toks[i].is("TABLE"):
			p.kind = kindCreateTable
			scanCreateTable(p, toks, i+1, ed)
		case toks[i].is("DATABASE") || toks[i].is("SCHEMA"):
			p.kind = kindCreateDB
			j := skipIfExists(toks, i+1)
			p.ifNotExists = j != i+1
			if j < len(toks) && toks[j].ident() {
				p.dbName = toks[j].text
			}
			scanOptions(p, toks, i+1, len(toks), ed, false)
		case toks[i].is("SEQUENCE"):
			p.kind = kindCreateSequence
			j := skipIfExists(toks, i+1)
			p.ifNotExists = j != i+1
			if tn, _, ok := readTableName(toks, j); ok {
				p.tables = append(p.tables, tn)
			}
		}
	case toks[0].is("ALTER"):
		for i < len(toks) && (toks[i].is("ONLINE") || toks[i].is("IGNORE")) {
			if toks[i].is("ONLINE") {
				ed.remove(toks[i])
			}
			i++
		}
		if i >= len(toks) {
			return p
		}
		switch {
		case toks[i].is("TABLE"):
			p.kind = kindAlterTable
			scanAlterTable(p, toks, i+1, ed)
		case toks[i].is("DATABASE") || toks[i].is("SCHEMA"):
			p.kind = kindAlterDB
			if j := i + 1; j < len(toks) && toks[j].ident() && !(toks[j].kind == tWord && dbOptionWords[strings.ToUpper(toks[j].text)]) {
				p.dbName = toks[j].text
			}
			scanOptions(p, toks, i+1, len(toks), ed, false)
		}
	case toks[0].is("DROP"):
		if toks[i].is("TEMPORARY") {
			p.temporary = true
			i++
		}
		if i >= len(toks) {
			return p
		}
		switch {
		case toks[i].is("TABLE") || toks[i].is("TABLES"):
			p.kind = kindDropTable
			ed.replace(toks[i], "TABLE")
			j := skipIfExists(toks, i+1)
			for j < len(toks) {
				tn, k, ok := readTableName(toks, j)
				if !ok {
					break
				}
				quoteTableName(toks, j, k, ed)
				p.tables = append(p.tables, tn)
				j = k
				j = skipWait(toks, j, ed)
				if j < len(toks) && toks[j].isPunct(",") {
					j++
					continue
				}
				break
			}
		case toks[i].is("DATABASE") || toks[i].is("SCHEMA"):
			p.kind = kindDropDB
			if j := skipIfExists(toks, i+1); j < len(toks) && toks[j].ident() {
				p.dbName = toks[j].text
			}
		case toks[i].is("SEQUENCE"):
			// A sequence is a table of its own; DROP SEQUENCE is DROP TABLE.
			p.kind = kindDropTable
			ed.replace(toks[i], "TABLE")
			j := skipIfExists(toks, i+1)
			for j < len(toks) {
				tn, k, ok := readTableName(toks, j)
				if !ok {
					break
				}
				quoteTableName(toks, j, k, ed)
				p.tables = append(p.tables, tn)
				j = k
				if j < len(toks) && toks[j].isPunct(",") {
					j++
					continue
				}
				break
			}
		}
	case toks[0].is("RENAME"):
		if toks[i].is("TABLE") || toks[i].is("TABLES") {
			p.kind = kindRenameTable
			ed.replace(toks[i], "TABLE")
			j := i + 1
			// MariaDB's RENAME TABLE IF EXISTS: a missing table is skipped,
			// which the history does anyway.
			if k := skipIfExists(toks, j); k != j {
				for ; j < k; j++ {
					ed.remove(toks[j])
				}
			}
			for j < len(toks) {
				tn, k, ok := readTableName(toks, j)
				if !ok {
					break
				}
				quoteTableName(toks, j, k, ed)
				p.tables = append(p.tables, tn)
				j = skipWait(toks, k, ed)
				if j < len(toks) && (toks[j].is("TO") || toks[j].isPunct(",")) {
					j++
					continue
				}
				break
			}
		}
	case toks[0].is("TRUNCATE"):
		p.kind = kindTruncate
	}
	p.sql = ed.String()
	return p
}

// skipIfExists skips IF [NOT] EXISTS at i.
func skipIfExists(toks []token, i int) int {
	if i+1 < len(toks) && toks[i].is("IF") {
		if toks[i+1].is("EXISTS") {
			return i + 2
		}
		if i+2 < len(toks) && toks[i+1].is("NOT") && toks[i+2].is("EXISTS") {
			return i + 3
		}
	}
	return i
}

// skipWait removes MariaDB's WAIT n / NOWAIT at i.
func skipWait(toks []token, i int, ed *editor) int {
	if i < len(toks) && toks[i].is("NOWAIT") {
		ed.remove(toks[i])
		return i + 1
	}
	if i+1 < len(toks) && toks[i].is("WAIT") && toks[i+1].kind == tNumber {
		ed.remove(toks[i])
		ed.remove(toks[i+1])
		return i + 2
	}
	return i
}

// quoteIdentAt quotes the word at toks[i] (an identifier the TiDB parser
// may take for a keyword: MariaDB reserves fewer words).
func quoteIdentAt(toks []token, i int, ed *editor) {
	if i < len(toks) && toks[i].kind == tWord {
		ed.replace(toks[i], quoteIdent(toks[i].text))
	}
}

// quoteTableName quotes the parts of the table name toks[i:end].
func quoteTableName(toks []token, i, end int, ed *editor) {
	for k := i; k < end; k++ {
		if !toks[k].isPunct(".") {
			quoteIdentAt(toks, k, ed)
		}
	}
}

// readTableName reads name or schema.name at i.
func readTableName(toks []token, i int) (tableName, int, bool) {
	if i >= len(toks) || !toks[i].ident() {
		return tableName{}, i, false
	}
	if i+2 < len(toks) && toks[i+1].isPunct(".") && toks[i+2].ident() {
		return tableName{toks[i].text, toks[i+2].text}, i + 3, true
	}
	return tableName{"", toks[i].text}, i + 1, true
}

// matchParen returns the index of the ")" closing the "(" at i, or len(toks).
func matchParen(toks []token, i int) int {
	depth := 0
	for j := i; j < len(toks); j++ {
		switch {
		case toks[j].isPunct("("):
			depth++
		case toks[j].isPunct(")"):
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(toks)
}

// splitTop splits toks[a:b] at depth-0 commas into [start,end) ranges.
func splitTop(toks []token, a, b int) [][2]int {
	var out [][2]int
	depth, s := 0, a
	for j := a; j < b; j++ {
		switch {
		case toks[j].isPunct("("):
			depth++
		case toks[j].isPunct(")"):
			depth--
		case toks[j].isPunct(",") && depth == 0:
			out = append(out, [2]int{s, j})
			s = j + 1
		}
	}
	if s < b {
		out = append(out, [2]int{s, b})
	}
	return out
}

// keyElement decides what to do with an index or constraint element of a
// CREATE TABLE list or an ALTER TABLE ... ADD that starts at toks[i]: keep it
// (PRIMARY KEY and CHECK matter), or drop it (other indexes, foreign keys,
// application-time periods: they do not change columns, and the TiDB parser
// does not know all of MariaDB's index syntax).
func keyElement(p *prepared, toks []token, i, b int, ed *editor) (keep bool) {
	j := i
	ifNotExists := false
	skipINE := func() {
		if k := skipIfExists(toks, j); k != j {
			for ; j < k; j++ {
				ed.remove(toks[j])
			}
			ifNotExists = true
		}
	}
	if toks[j].is("CONSTRAINT") {
		j++
		skipINE()
		if j < b && toks[j].ident() && !toks[j].is("PRIMARY") && !toks[j].is("CHECK") && !toks[j].is("UNIQUE") && !toks[j].is("FOREIGN") {
			j++ // constraint name
		}
	}
	if j >= b {
		return false
	}
	switch {
	case toks[j].is("PRIMARY"):
		// PRIMARY KEY [IF NOT EXISTS] [name]: MariaDB adds it only when
		// the table has none.
		if j+1 < b && toks[j+1].is("KEY") {
			save := j
			j += 2
			skipINE()
			j = save
		}
		if ifNotExists {
			p.pkIfNotExists = true
		}
		// Key parts: quote the column names.
		for k := j + 1; k+1 < b; k++ {
			if (toks[k].isPunct("(") || toks[k].isPunct(",")) && toks[k+1].kind == tWord &&
				!(toks[k+1].is("WITHOUT")) && k+2 < b && !toks[k+2].isPunct(".") {
				if _, isPeriod := p.periods[strings.ToLower(toks[k+1].text)]; !isPeriod {
					quoteIdentAt(toks, k+1, ed)
				}
			}
		}
		// MariaDB application-time periods: PRIMARY KEY (id, p WITHOUT OVERLAPS).
		// The key holds the period's end and start columns.
		for k := j + 1; k+1 < b; k++ {
			if toks[k].is("WITHOUT") && toks[k+1].is("OVERLAPS") {
				ed.remove(toks[k])
				ed.remove(toks[k+1])
				if cols, ok := p.periods[strings.ToLower(toks[k-1].text)]; ok {
					ed.replace(toks[k-1], quoteIdent(cols[1])+", "+quoteIdent(cols[0]))
				}
			}
		}
		return true
	case toks[j].is("CHECK"):
		// Only CHECK (json_valid(col)) tells something about a column
		// (MariaDB's JSON type); other checks are dropped, whatever their
		// expression.
		return jsonValidAt(toks, j+1, b)
	case toks[j].is("SYSTEM"):
		// ALTER TABLE ... ADD SYSTEM VERSIONING.
		p.addVersioning = true
	}
	// Other indexes, foreign keys, periods (PERIOD FOR SYSTEM_TIME only
	// names the row start and end columns) do not change columns.
	return false
}

// jsonValidAt reports whether toks[i:b] is exactly (json_valid(col)).
func jsonValidAt(toks []token, i, b int) bool {
	return b-i == 6 && toks[i].isPunct("(") && toks[i+1].is("json_valid") && toks[i+2].isPunct("(") &&
		toks[i+3].ident() && toks[i+4].isPunct(")") && toks[i+5].isPunct(")")
}

// dropElements removes the elements of a comma-separated list that are not
// kept, with the commas that would dangle. ranges are the elements, in order.
func dropElements(toks []token, ranges [][2]int, keep []bool, ed *editor) {
	seenKept := false
	for i, r := range ranges {
		if !keep[i] {
			for k := r[0]; k < r[1]; k++ {
				ed.remove(toks[k])
			}
		}
		// The comma before element i survives only between two kept elements.
		if i > 0 && !(keep[i] && seenKept) {
			if c := r[0] - 1; c >= 0 && toks[c].isPunct(",") {
				ed.remove(toks[c])
			}
		}
		if keep[i] {
			seenKept = true
		}
	}
}

// isKeyStart reports whether the element toks[a:b] of a CREATE TABLE list
// (or what follows ALTER TABLE ... ADD) starts an index, a constraint or a
// period rather than a column. Words MariaDB does not reserve (PERIOD,
// SYSTEM, VECTOR) start a column unless what follows says otherwise.
func isKeyStart(toks []token, a, b int) bool {
	t := toks[a]
	if t.kind != tWord || !keyStarts[strings.ToLower(t.text)] {
		return false
	}
	next := func(kw string) bool { return a+1 < b && toks[a+1].is(kw) }
	switch {
	case t.is("PERIOD"):
		return next("FOR")
	case t.is("SYSTEM"):
		return next("VERSIONING")
	case t.is("VECTOR"):
		return next("INDEX") || next("KEY")
	}
	return true
}

func scanCreateTable(p *prepared, toks []token, i int, ed *editor) {
	i = skipIfExists(toks, i)
	start := i
	tn, i, ok := readTableName(toks, i)
	if !ok {
		return
	}
	quoteTableName(toks, start, i, ed)
	p.tables = append(p.tables, tn)
	if i+2 < len(toks) && toks[i].isPunct("(") && toks[i+1].is("LIKE") {
		if tn, k, ok := readTableName(toks, i+2); ok {
			quoteTableName(toks, i+2, k, ed)
			p.tables = append(p.tables, tn)
		}
		return
	}
	if i < len(toks) && toks[i].isPunct("(") {
		if i+1 < len(toks) && toks[i+1].is("SELECT") {
			p.hasSelect = true
			return
		}
		end := matchParen(toks, i)
		ranges := splitTop(toks, i+1, end)
		keep := make([]bool, len(ranges))
		// Application-time periods: PERIOD FOR p (start, end).
		for _, r := range ranges {
			if k := r[0]; k+6 < r[1] && toks[k].is("PERIOD") && toks[k+1].is("FOR") && !toks[k+2].is("SYSTEM_TIME") &&
				toks[k+3].isPunct("(") && toks[k+5].isPunct(",") {
				if p.periods == nil {
					p.periods = map[string][2]string{}
				}
				p.periods[strings.ToLower(toks[k+2].text)] = [2]string{toks[k+4].text, toks[k+6].text}
			}
		}
		for n, r := range ranges {
			if isKeyStart(toks, r[0], r[1]) {
				keep[n] = keyElement(p, toks, r[0], r[1], ed)
				continue
			}
			keep[n] = true
			scanColumnDef(p, toks, r[0], r[1], ed)
		}
		dropElements(toks, ranges, keep, ed)
		i = end + 1
	}
	if i < len(toks) && toks[i].is("LIKE") {
		if tn, k, ok := readTableName(toks, i+1); ok {
			quoteTableName(toks, i+1, k, ed)
			p.tables = append(p.tables, tn)
			p.like = &tn
		}
		return
	}
	scanOptions(p, toks, i, len(toks), ed, false)
	if !p.hasSelect {
		// Table options and partitioning do not change columns; the
		// charset options were recorded above. Drop them all: the TiDB
		// parser does not know every engine's options.
		for k := i; k < len(toks); k++ {
			ed.remove(toks[k])
		}
	}
}

func scanAlterTable(p *prepared, toks []token, i int, ed *editor) {
	if k := skipIfExists(toks, i); k != i {
		// ALTER TABLE IF EXISTS: the TiDB parser does not know it.
		for ; i < k; i++ {
			ed.remove(toks[i])
		}
	}
	start := i
	tn, i, ok := readTableName(toks, i)
	if !ok {
		return
	}
	quoteTableName(toks, start, i, ed)
	p.tables = append(p.tables, tn)
	i = skipWait(toks, i, ed)
	ranges := splitTop(toks, i, len(toks))
	keep := make([]bool, len(ranges))
	for n, r := range ranges {
		a, b := r[0], r[1]
		first := toks[a]
		word := func(k int) bool { return k < b && toks[k].kind == tWord }
		switch {
		case first.is("ADD"):
			k := a + 1
			explicitColumn := false
			if k < b && toks[k].is("COLUMN") {
				explicitColumn = true
				k++
			}
			k = skipIfExists(toks, k)
			if k >= b {
				continue
			}
			if toks[k].isPunct("(") {
				keep[n] = true
				end := matchParen(toks, k)
				for _, cr := range splitTop(toks, k+1, end) {
					if isKeyStart(toks, cr[0], cr[1]) {
						continue
					}
					scanColumnDef(p, toks, cr[0], cr[1], ed)
				}
				continue
			}
			if !explicitColumn && isKeyStart(toks, k, b) {
				keep[n] = keyElement(p, toks, k, b, ed)
				continue
			}
			keep[n] = true
			scanColumnDef(p, toks, k, b, ed)
		case first.is("MODIFY"), first.is("CHANGE"):
			keep[n] = true
			k := a + 1
			if k < b && toks[k].is("COLUMN") {
				k++
			}
			k = skipIfExists(toks, k)
			if first.is("CHANGE") {
				quoteIdentAt(toks, k, ed)
				k++
			}
			if k < b {
				scanColumnDef(p, toks, k, b, ed)
			}
		case first.is("CONVERT"):
			keep[n] = true
			scanOptions(p, toks, a, b, ed, true)
		case first.is("DROP"):
			// DROP [COLUMN] c and DROP PRIMARY KEY matter; DROP INDEX, KEY,
			// FOREIGN KEY, CONSTRAINT, CHECK, PARTITION do not.
			keep[n] = !(word(a+1) && (toks[a+1].is("INDEX") || toks[a+1].is("KEY") || toks[a+1].is("FOREIGN") ||
				toks[a+1].is("CONSTRAINT") || toks[a+1].is("CHECK") || toks[a+1].is("PARTITION") ||
				(toks[a+1].is("PERIOD") && word(a+2) && toks[a+2].is("FOR"))))
			if word(a+2) && toks[a+1].is("SYSTEM") && toks[a+2].is("VERSIONING") {
				p.dropVersioning = true
				keep[n] = false
			}
			if keep[n] && a+1 < b && !toks[a+1].is("PRIMARY") {
				k := a + 1
				if toks[k].is("COLUMN") {
					k++
				}
				quoteIdentAt(toks, skipIfExists(toks, k), ed)
			}
		case first.is("RENAME"):
			// RENAME [TO|AS] t and RENAME COLUMN matter; RENAME INDEX|KEY not.
			keep[n] = !(word(a+1) && (toks[a+1].is("INDEX") || toks[a+1].is("KEY")))
			switch {
			case !keep[n] || a+1 >= b:
			case toks[a+1].is("COLUMN"):
				k := a + 2
				if e := skipIfExists(toks, k); e != k {
					// RENAME COLUMN IF EXISTS: the TiDB parser does not
					// know it.
					for ; k < e; k++ {
						ed.remove(toks[k])
					}
					if k < b {
						p.renameIfExists = append(p.renameIfExists, strings.ToLower(toks[k].text))
					}
				}
				quoteIdentAt(toks, k, ed)
				quoteIdentAt(toks, k+2, ed)
			default:
				k := a + 1
				if toks[k].is("TO") || toks[k].is("AS") {
					k++
				}
				if tn, e, ok := readTableName(toks, k); ok {
					quoteTableName(toks, k, e, ed)
					p.renameTo = &tn
				}
			}
		case first.is("ALTER"):
			// ALTER [COLUMN] c SET/DROP DEFAULT: no change of definition,
			// and ALTER INDEX ... [NOT] IGNORED: neither.
			keep[n] = false
		default:
			// Table options, ALGORITHM, LOCK, FORCE, ORDER BY, partitioning,
			// ENABLE/DISABLE KEYS: they do not change columns. Charset
			// options are recorded here.
			scanOptions(p, toks, a, b, ed, false)
		}
	}
	dropElements(toks, ranges, keep, ed)
	if !slices.Contains(keep, true) {
		p.noColumnChange = true
		ed.insertAt(toks[len(toks)-1].end, "FORCE") // an ALTER the TiDB parser accepts and that changes nothing
	}
}

// charsetPlaceholder and collatePlaceholder replace character set and
// collation names (the TiDB parser rejects ones it does not know; the real
// names are kept in prepared).
func charsetPlaceholder(name string) string {
	if strings.EqualFold(name, "binary") {
		return "binary"
	}
	return "utf8mb4"
}

func collatePlaceholder(name string) string {
	if strings.EqualFold(name, "binary") {
		return "binary"
	}
	return "utf8mb4_bin"
}

// charsetAt recognises CHARACTER SET [=] x, CHARSET [=] x and COLLATE [=] x
// at j. It returns which (1 charset, 2 collate, 0 none), the name token index.
func charsetAt(toks []token, j, b int) (what int, nameIdx int) {
	k := j
	switch {
	case toks[k].is("CHARACTER") && k+1 < b && toks[k+1].is("SET"):
		what, k = 1, k+2
	case toks[k].is("CHAR") && k+1 < b && toks[k+1].is("SET"):
		what, k = 1, k+2
	case toks[k].is("CHARSET"):
		what, k = 1, k+1
	case toks[k].is("COLLATE"):
		what, k = 2, k+1
	default:
		return 0, 0
	}
	if k < b && toks[k].isPunct("=") {
		k++
	}
	if k >= b || !(toks[k].ident() || toks[k].kind == tString) {
		return 0, 0
	}
	return what, k
}

// scanOptions records and rewrites table/database level charset options
// found at depth 0 in toks[a:b].
func scanOptions(p *prepared, toks []token, a, b int, ed *editor, convert bool) {
	depth := 0
	for j := a; j < b; j++ {
		t := toks[j]
		switch {
		case t.isPunct("("):
			depth++
			continue
		case t.isPunct(")"):
			depth--
			continue
		}
		if depth != 0 {
			continue
		}
		if t.is("SELECT") {
			p.hasSelect = true
			return
		}
		if t.is("WITH") && j+2 < b && toks[j+1].is("SYSTEM") && toks[j+2].is("VERSIONING") {
			p.sysVersioning = true
		}
		if t.is("ENGINE") && !convert {
			k := j + 1
			if k < b && toks[k].isPunct("=") {
				k++
			}
			if k < b && (toks[k].ident() || toks[k].kind == tString) {
				p.engine = strings.ToUpper(nameText(toks[k]))
				j = k
				continue
			}
		}
		what, k := charsetAt(toks, j, b)
		if what == 0 {
			continue
		}
		name := strings.ToLower(nameText(toks[k]))
		if name == "default" && toks[k].kind == tWord {
			// CHARACTER SET [=] DEFAULT, COLLATE DEFAULT: the database's
			// (for a database: the server's).
			if convert {
				p.convertDefault = true
			} else {
				p.charsetDefault = true
			}
			ed.replace(toks[k], charsetPlaceholder(name))
			if what == 2 {
				ed.replace(toks[k], collatePlaceholder(name))
			}
			j = k
			continue
		}
		if what == 1 {
			if convert {
				p.convertCharset = name
			} else {
				p.charset = name
			}
			ed.replace(toks[k], charsetPlaceholder(name))
		} else {
			if convert {
				p.convertCollate = name
			} else {
				p.collate = name
			}
			ed.replace(toks[k], collatePlaceholder(name))
		}
		j = k
	}
}

// scanColumnDef handles the column definition toks[a:b] (name, type,
// attributes): records what the TiDB parser cannot see and rewrites MariaDB
// syntax. Expressions (defaults that are not literals, ON UPDATE, generated
// column expressions, checks) are removed or replaced: they do not change
// how a row is stored, and MariaDB accepts more of them than the TiDB
// parser does.
func scanColumnDef(p *prepared, toks []token, a, b int, ed *editor) {
	if a >= b || !toks[a].ident() {
		return
	}
	ex := &colExtra{}
	p.cols[strings.ToLower(toks[a].text)] = ex
	quoteIdentAt(toks, a, ed)
	j := a + 1
	if j < b && toks[j].kind == tWord {
		lt := strings.ToLower(toks[j].text)
		switch {
		case unknownTypes[lt]:
			ex.realType = lt
			ed.replace(toks[j], placeholderType)
		case lt == "national" || lt == "nchar" || lt == "nvarchar":
			ex.national = true
		}
	}
	// YEAR(2) (MySQL 5, MariaDB) is still a YEAR; the TiDB parser knows
	// only YEAR(4).
	if j+3 < b && toks[j].is("YEAR") && toks[j+1].isPunct("(") && toks[j+2].kind == tNumber && toks[j+3].isPunct(")") {
		ed.replace(toks[j+2], "4")
	}
	// Type arguments the server truncates: DECIMAL(19.5) is DECIMAL(19).
	if j+1 < b && toks[j+1].isPunct("(") {
		end := matchParen(toks, j+1)
		for k := j + 2; k < end && k < b; k++ {
			if t := toks[k]; t.kind == tNumber && strings.Contains(t.text, ".") && !strings.ContainsAny(t.text, "eExX") {
				ip, _, _ := strings.Cut(t.text, ".")
				if ip == "" {
					ip = "0"
				}
				ed.replace(t, ip)
			}
		}
	}
	removeRange := func(from, to int) {
		for k := from; k < to; k++ {
			ed.remove(toks[k])
		}
	}
	depth := 0
	for j = a + 2; j < b; j++ {
		t := toks[j]
		switch {
		case t.isPunct("("):
			depth++
			continue
		case t.isPunct(")"):
			depth--
			continue
		}
		if depth != 0 || t.kind != tWord {
			continue
		}
		switch {
		case t.is("NOT") && j+1 < b && toks[j+1].is("SECONDARY"):
			// MySQL HeatWave: not a storage attribute.
			removeRange(j, j+2)
			j++
		case t.is("REFERENCES"):
			// An inline foreign key does not change the column.
			end := referenceEnd(toks, j, b)
			removeRange(j, end)
			j = end - 1
		case t.is("SERIAL") && j+2 < b && toks[j+1].is("DEFAULT") && toks[j+2].is("VALUE"):
			// SERIAL DEFAULT VALUE: NOT NULL AUTO_INCREMENT UNIQUE.
			ed.replace(t, "NOT NULL AUTO_INCREMENT")
			ed.remove(toks[j+1])
			ed.remove(toks[j+2])
			j += 2
		case t.is("DEFAULT"):
			end := operandEnd(toks, j+1, b)
			if end == j+1 {
				continue // CHARACTER SET DEFAULT is handled below; nothing else
			}
			if !literalAt(toks, j+1, end, ed) {
				removeRange(j, end)
			}
			j = end - 1
		case t.is("ON") && j+1 < b && toks[j+1].is("UPDATE"):
			end := operandEnd(toks, j+2, b)
			removeRange(j, end)
			j = end - 1
		case t.is("AS") && j+2 < b && toks[j+1].is("ROW") && (toks[j+2].is("START") || toks[j+2].is("END")):
			// [GENERATED ALWAYS] AS ROW START|END: a system-versioning
			// period column, written by the server.
			ex.sysPeriod = true
			if j-2 > a && toks[j-2].is("GENERATED") && toks[j-1].is("ALWAYS") {
				ed.remove(toks[j-2])
				ed.remove(toks[j-1])
			}
			removeRange(j, j+3)
			j += 2
		case t.is("AS") && j+1 < b && toks[j+1].isPunct("("):
			// Generated column: the expression does not matter.
			end := matchParen(toks, j+1)
			if end < b && end > j+2 {
				ed.replace(toks[j+2], "0")
				removeRange(j+3, end)
			}
			j = end
		case t.is("CONSTRAINT") && j+2 < b && toks[j+2].is("CHECK"):
			ed.remove(t)
			ed.remove(toks[j+1])
		case t.is("CHECK") && j+1 < b && toks[j+1].isPunct("("):
			end := matchParen(toks, j+1)
			if !jsonValidAt(toks, j+1, min(end+1, b)) {
				removeRange(j, min(end+1, b))
			}
			j = end
		case t.is("UNICODE"):
			ex.charset = "ucs2"
			ed.remove(t)
		case t.is("ASCII"):
			ex.charset = "latin1"
			ed.remove(t)
		case t.is("BYTE"):
			ex.charset = "binary"
			ed.remove(t)
		case t.is("COMPRESSED"):
			ed.remove(t)
			if toks[j-1].is("COLUMN_FORMAT") {
				ed.remove(toks[j-1]) // Percona's COLUMN_FORMAT COMPRESSED
			}
			if j+2 < b && toks[j+1].isPunct("=") {
				ed.remove(toks[j+1])
				ed.remove(toks[j+2])
				j += 2
			}
		case t.is("INVISIBLE") || t.is("VISIBLE"):
			ed.remove(t)
		case t.is("PERSISTENT"):
			ed.replace(t, "STORED")
		case t.is("SRID") && j+1 < b && toks[j+1].kind == tNumber:
			ed.remove(t)
			ed.remove(toks[j+1])
			j++
		case t.is("REF_SYSTEM_ID") && j+2 < b && toks[j+1].isPunct("="):
			ed.remove(t)
			ed.remove(toks[j+1])
			ed.remove(toks[j+2])
			j += 2
		case (t.is("WITH") || t.is("WITHOUT")) && j+2 < b && toks[j+1].is("SYSTEM") && toks[j+2].is("VERSIONING"):
			if t.is("WITH") {
				p.sysVersioning = true
			}
			ed.remove(t)
			ed.remove(toks[j+1])
			ed.remove(toks[j+2])
			j += 2
		case t.is("AFTER"):
			quoteIdentAt(toks, j+1, ed)
			j++
		default:
			what, k := charsetAt(toks, j, b)
			if what == 0 {
				continue
			}
			name := strings.ToLower(nameText(toks[k]))
			if name == "default" && toks[k].kind == tWord {
				// CHARACTER SET DEFAULT: the table's.
				removeRange(j, k+1)
				j = k
				continue
			}
			if what == 1 {
				ex.charset = name
				ed.replace(toks[k], charsetPlaceholder(name))
			} else {
				ex.collate = name
				ed.replace(toks[k], collatePlaceholder(name))
			}
			j = k
		}
	}
}

// referenceEnd returns the end of REFERENCES t (cols) [MATCH x]
// [ON DELETE|UPDATE action]... starting at toks[i].
func referenceEnd(toks []token, i, b int) int {
	k := i + 1
	if _, e, ok := readTableName(toks, k); ok {
		k = e
	}
	if k < b && toks[k].isPunct("(") {
		k = min(matchParen(toks, k)+1, b)
	}
	for k < b {
		switch {
		case toks[k].is("MATCH") && k+1 < b:
			k += 2
		case toks[k].is("ON") && k+2 < b && (toks[k+1].is("DELETE") || toks[k+1].is("UPDATE")):
			k += 2
			switch {
			case toks[k].is("SET") || toks[k].is("NO"):
				k = min(k+2, b)
			default: // RESTRICT, CASCADE
				k++
			}
		default:
			return k
		}
	}
	return k
}

// operandEnd returns the end of the expression that starts at toks[i] as a
// column DEFAULT or ON UPDATE value: a literal, a parenthesized expression,
// a function call (CURTIME(), CAST(x AS DATE), NEXTVAL(s)), a keyword
// (CURRENT_TIMESTAMP), NEXT VALUE FOR s, chained by binary operators.
func operandEnd(toks []token, i, b int) int {
	k := i
	for k < b {
		for k < b && toks[k].kind == tPunct && strings.Contains("+-~!", toks[k].text) {
			k++
		}
		if k >= b {
			return k
		}
		t := toks[k]
		switch {
		case t.isPunct("("):
			k = min(matchParen(toks, k)+1, b)
		case t.kind == tString || t.kind == tNumber:
			k++
			for k < b && toks[k].kind == tString {
				k++
			}
		case (t.is("NEXT") || t.is("PREVIOUS")) && k+2 < b && toks[k+1].is("VALUE") && toks[k+2].is("FOR"):
			_, e, ok := readTableName(toks, k+3)
			if !ok {
				return k + 3
			}
			k = e
		case t.ident():
			k++
			if k < b && toks[k].kind == tString && t.kind == tWord { // introducer or typed literal
				k++
				break
			}
			if k < b && toks[k].kind == tNumber && t.kind == tWord && strings.HasPrefix(t.text, "_") { // _latin1 0xFF
				k++
				break
			}
			for k+1 < b && toks[k].isPunct(".") && toks[k+1].ident() {
				k += 2
			}
			if k < b && toks[k].isPunct("(") {
				k = min(matchParen(toks, k)+1, b)
			}
		default:
			return k
		}
		if k < b && toks[k].kind == tPunct && strings.Contains("+-*/%&|^<>=", toks[k].text) {
			for k < b && toks[k].kind == tPunct && strings.Contains("+-*/%&|^<>=", toks[k].text) {
				k++
			}
			continue
		}
		return k
	}
	return k
}

// literalAt reports whether toks[i:end] is a literal the TiDB parser reads
// as a value: a signed number, strings (with an introducer, which it drops),
// NULL, TRUE or FALSE.
func literalAt(toks []token, i, end int, ed *editor) bool {
	if i >= end {
		return false
	}
	k := i
	for k < end && (toks[k].isPunct("-") || toks[k].isPunct("+")) {
		k++
	}
	if k == end-1 && toks[k].kind == tNumber {
		return true
	}
	if k != i {
		return false
	}
	if end-i == 1 && (toks[i].is("NULL") || toks[i].is("TRUE") || toks[i].is("FALSE")) {
		return true
	}
	if end-i == 2 && toks[i].kind == tWord && strings.HasPrefix(toks[i].text, "_") && toks[i+1].kind == tNumber {
		ed.remove(toks[i]) // _latin1 0xFF: the introducer does not matter
		return true
	}
	if toks[k].kind == tWord && k+1 < end && toks[k+1].kind == tString && toks[k].end == toks[k+1].start {
		switch w := strings.ToLower(toks[k].text); {
		case w == "n" || w == "x" || w == "b":
		case strings.HasPrefix(w, "_"):
			ed.remove(toks[k])
		default:
			return false
		}
		k++
	}
	for ; k < end; k++ {
		if toks[k].kind != tString {
			return false
		}
	}
	return true
}
