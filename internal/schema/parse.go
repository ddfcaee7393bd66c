// Package schema owns table definitions over time. It parses CREATE TABLE
// statements (SHOW CREATE TABLE output of MariaDB and MySQL, and statements as
// users write them) into change.Table, and keeps a versioned, persisted
// History of every table, rebuilt from the DDL found in the binary log itself.
package schema

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/bintap/bintap/internal/change"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/opcode"
	"github.com/pingcap/tidb/pkg/parser/test_driver" // literal values for the parser
)

// DefaultCharset is the character set assumed for text columns when neither
// the column, the table nor the database names one.
const DefaultCharset = "utf8mb4"

var parserPool = sync.Pool{New: func() any { return parser.New() }}

// parseOne parses one statement with the TiDB parser.
func parseOne(sql string) (ast.StmtNode, error) {
	p := parserPool.Get().(*parser.Parser)
	defer parserPool.Put(p)
	stmts, _, err := p.Parse(sql, "", "")
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, fmt.Errorf("expected one statement, got %d", len(stmts))
	}
	return stmts[0], nil
}

// ParseCreateTable parses a CREATE TABLE statement (such as SHOW CREATE TABLE
// prints it) into a table definition. defaultSchema is used when the
// statement does not qualify the table name. Version and GTID are left zero.
func ParseCreateTable(defaultSchema, createSQL string) (*change.Table, error) {
	t, _, err := parseCreateTable(defaultSchema, createSQL, "")
	return t, err
}

// parseCreateTable also returns the table's default character set. dbCharset
// is the default when the statement names none ("" means DefaultCharset).
func parseCreateTable(defaultSchema, createSQL, dbCharset string) (*change.Table, string, error) {
	p := prepare(createSQL)
	if p.kind != kindCreateTable {
		return nil, "", fmt.Errorf("parse create table: not a CREATE TABLE statement: %.60q", createSQL)
	}
	node, err := parseOne(p.sql)
	if err != nil {
		return nil, "", fmt.Errorf("parse create table %s: %w", tableLabel(defaultSchema, p.tables), err)
	}
	stmt, ok := node.(*ast.CreateTableStmt)
	if !ok {
		return nil, "", fmt.Errorf("parse create table: not a CREATE TABLE statement: %.60q", createSQL)
	}
	if stmt.ReferTable != nil {
		return nil, "", fmt.Errorf("parse create table %s: CREATE TABLE ... LIKE has no column list", stmt.Table.Name.O)
	}
	cs := tableCharset(p.charset, p.collate, dbCharset)
	t, err := buildTable(defaultSchema, stmt, p, cs)
	if err != nil {
		return nil, "", err
	}
	return t, cs, nil
}

func tableLabel(defaultSchema string, tables []tableName) string {
	if len(tables) == 0 {
		return "?"
	}
	s := tables[0].schema
	if s == "" {
		s = defaultSchema
	}
	return s + "." + tables[0].name
}

// tableCharset resolves a table's default character set.
func tableCharset(charset, collate, fallback string) string {
	switch {
	case charset != "":
		return normCharset(charset)
	case collate != "":
		return charsetOfCollation(collate)
	case fallback != "":
		return fallback
	}
	return DefaultCharset
}

// normCharset lower-cases a character set name and resolves aliases.
func normCharset(cs string) string {
	cs = strings.ToLower(cs)
	if cs == "utf8" {
		return "utf8mb3"
	}
	return cs
}

// charsetOfCollation is the character set a collation belongs to.
func charsetOfCollation(coll string) string {
	coll = strings.ToLower(coll)
	if coll == "binary" {
		return "binary"
	}
	if i := strings.IndexByte(coll, '_'); i > 0 {
		return normCharset(coll[:i])
	}
	return normCharset(coll)
}

// mbMaxLen is the longest character of a character set in bytes.
func mbMaxLen(cs string) int {
	switch cs {
	case "utf8mb4", "utf16", "utf16le", "utf32", "gb18030":
		return 4
	case "utf8mb3", "ujis", "eucjpms":
		return 3
	case "ucs2", "gbk", "big5", "sjis", "cp932", "euckr", "gb2312":
		return 2
	}
	return 1
}

func buildTable(defaultSchema string, stmt *ast.CreateTableStmt, p *prepared, cs string) (*change.Table, error) {
	schemaName := stmt.Table.Schema.O
	if schemaName == "" {
		schemaName = defaultSchema
	}
	t := &change.Table{Schema: schemaName, Name: stmt.Table.Name.O, Columns: make([]change.Column, 0, len(stmt.Cols))}
	var pk []int
	for i, def := range stmt.Cols {
		col, isPK := buildColumn(def, p.cols[strings.ToLower(def.Name.Name.O)], cs)
		if isPK {
			pk = append(pk, i)
		}
		t.Columns = append(t.Columns, col)
	}
	for _, c := range stmt.Constraints {
		switch c.Tp {
		case ast.ConstraintPrimaryKey:
			keys, err := keyColumns(t, c)
			if err != nil {
				return nil, err
			}
			pk = keys
		case ast.ConstraintCheck:
			markJSONCheck(t, c.Expr)
		}
	}
	setPrimaryKey(t, pk)
	if p.sysVersioning && !p.declaresPeriod() {
		addHiddenPeriod(t)
	}
	return t, nil
}

// Names of the hidden columns of a table WITH SYSTEM VERSIONING that does
// not declare its own AS ROW START / ROW END columns. They come last in
// row images (and stay last when columns are added).
const (
	hiddenRowStart = "row_start"
	hiddenRowEnd   = "row_end"
)

// declaresPeriod reports whether the statement declares its own AS ROW
// START / ROW END columns.
func (p *prepared) declaresPeriod() bool {
	for _, ex := range p.cols {
		if ex.sysPeriod {
			return true
		}
	}
	return false
}

func addHiddenPeriod(t *change.Table) {
	for _, n := range []string{hiddenRowStart, hiddenRowEnd} {
		t.Columns = append(t.Columns, change.Column{Name: n, Type: "timestamp", SQLType: "timestamp(6)", Scale: 6, Length: -1, Generated: true})
	}
}

// hiddenPeriodAt returns the index of the hidden row_start column when t
// ends with the hidden system-versioning columns, else -1.
func hiddenPeriodAt(t *change.Table) int {
	n := len(t.Columns)
	if n < 2 {
		return -1
	}
	a, b := t.Columns[n-2], t.Columns[n-1]
	if a.Name == hiddenRowStart && b.Name == hiddenRowEnd && a.Generated && b.Generated && a.SQLType == "timestamp(6)" && b.SQLType == "timestamp(6)" {
		return n - 2
	}
	return -1
}

func setPrimaryKey(t *change.Table, pk []int) {
	t.PrimaryKey = pk
	for _, i := range pk {
		t.Columns[i].Nullable = false
	}
}

// keyColumns resolves the columns of an index constraint to column indexes.
func keyColumns(t *change.Table, c *ast.Constraint) ([]int, error) {
	var out []int
	for _, k := range c.Keys {
		if k.Column == nil {
			return nil, fmt.Errorf("table %s: primary key on an expression", t.FullName())
		}
		i := columnIndex(t, k.Column.Name.O)
		if i < 0 {
			return nil, fmt.Errorf("table %s: primary key column %q does not exist", t.FullName(), k.Column.Name.O)
		}
		out = append(out, i)
	}
	return out, nil
}

// columnIndex finds a column by name (case-insensitive), -1 if absent.
func columnIndex(t *change.Table, name string) int {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return i
		}
	}
	return -1
}

// markJSONCheck turns a LONGTEXT column checked by json_valid(col) into JSON:
// that is how MariaDB stores and prints its JSON type.
func markJSONCheck(t *change.Table, expr ast.ExprNode) {
	name := jsonValidColumn(expr)
	if name == "" {
		return
	}
	if i := columnIndex(t, name); i >= 0 && t.Columns[i].Type == "longtext" {
		toJSON(&t.Columns[i])
	}
}

func toJSON(c *change.Column) {
	c.Type, c.SQLType = "json", "json"
}

// jsonValidColumn returns col when expr is json_valid(`col`).
func jsonValidColumn(expr ast.ExprNode) string {
	f, ok := expr.(*ast.FuncCallExpr)
	if !ok || !strings.EqualFold(f.FnName.L, "json_valid") || len(f.Args) != 1 {
		return ""
	}
	c, ok := f.Args[0].(*ast.ColumnNameExpr)
	if !ok || c.Name == nil {
		return ""
	}
	return c.Name.Name.O
}

var intTypes = map[byte]string{
	mysql.TypeTiny: "tinyint", mysql.TypeShort: "smallint", mysql.TypeInt24: "mediumint",
	mysql.TypeLong: "int", mysql.TypeLonglong: "bigint",
}

// textType picks the TEXT or BLOB type that holds n characters of mbmax bytes.
func textType(n, mbmax int, blob bool) string {
	bytes := n * mbmax
	prefix := "text"
	if blob {
		prefix = "blob"
	}
	switch {
	case bytes <= 255:
		return "tiny" + prefix
	case bytes <= 65535:
		return prefix
	case bytes <= 16777215:
		return "medium" + prefix
	}
	return "long" + prefix
}

// isCharType reports whether a base type holds characters in a charset.
func isCharType(typ string) bool {
	switch typ {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
		return true
	}
	return false
}

func quoteMembers(members []string) string {
	var sb strings.Builder
	for i, m := range members {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('\'')
		sb.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(m))
		sb.WriteByte('\'')
	}
	return sb.String()
}

// buildColumn converts a parsed column definition. cs is the table's default
// character set. It reports whether the column is declared PRIMARY KEY.
func buildColumn(def *ast.ColumnDef, ex *colExtra, cs string) (change.Column, bool) {
	if ex == nil {
		ex = &colExtra{}
	}
	ft := def.Tp
	flag := ft.GetFlag()
	flen, dec := ft.GetFlen(), ft.GetDecimal()
	binary := ft.GetCharset() == "binary"
	c := change.Column{Name: def.Name.Name.O, Length: -1, Nullable: true}
	suffix := ""
	if mysql.HasUnsignedFlag(flag) {
		c.Unsigned = true
		suffix += " unsigned"
	}
	if mysql.HasZerofillFlag(flag) {
		suffix += " zerofill"
	}
	withFSP := func(name string) {
		c.Type = name
		c.SQLType = name
		if dec > 0 {
			c.Scale = dec
			c.SQLType = fmt.Sprintf("%s(%d)", name, dec)
		}
	}
	tp := ft.GetType()
	switch tp {
	case mysql.TypeTiny, mysql.TypeShort, mysql.TypeInt24, mysql.TypeLong, mysql.TypeLonglong:
		c.Type = intTypes[tp]
		c.SQLType = c.Type
		if flen > 0 {
			c.SQLType += "(" + strconv.Itoa(flen) + ")"
		}
		c.SQLType += suffix
	case mysql.TypeNewDecimal:
		c.Type = "decimal"
		c.Precision, c.Scale = flen, dec
		if c.Precision <= 0 {
			c.Precision = 10
		}
		if c.Scale < 0 {
			c.Scale = 0
		}
		c.SQLType = fmt.Sprintf("decimal(%d,%d)%s", c.Precision, c.Scale, suffix)
	case mysql.TypeFloat, mysql.TypeDouble:
		c.Type = "float"
		if tp == mysql.TypeDouble {
			c.Type = "double"
		}
		c.SQLType = c.Type
		if flen > 0 && dec >= 0 {
			c.Precision, c.Scale = flen, dec
			c.SQLType = fmt.Sprintf("%s(%d,%d)", c.Type, flen, dec)
		}
		c.SQLType += suffix
	case mysql.TypeBit:
		c.Type = "bit"
		c.Length = flen
		if c.Length <= 0 {
			c.Length = 1
		}
		c.SQLType = fmt.Sprintf("bit(%d)", c.Length)
	case mysql.TypeYear:
		c.Type, c.SQLType = "year", "year"
		if flen > 0 {
			c.SQLType = fmt.Sprintf("year(%d)", flen)
		}
	case mysql.TypeDate, mysql.TypeNewDate:
		c.Type, c.SQLType = "date", "date"
	case mysql.TypeDuration:
		withFSP("time")
	case mysql.TypeDatetime:
		withFSP("datetime")
	case mysql.TypeTimestamp:
		withFSP("timestamp")
	case mysql.TypeString, mysql.TypeVarchar, mysql.TypeVarString:
		name := "char"
		if tp != mysql.TypeString {
			name = "varchar"
		}
		if binary {
			name = map[string]string{"char": "binary", "varchar": "varbinary"}[name]
		}
		c.Type = name
		c.Length = flen
		if c.Length < 0 {
			c.Length = 1
		}
		c.SQLType = fmt.Sprintf("%s(%d)", name, c.Length)
	case mysql.TypeTinyBlob, mysql.TypeBlob, mysql.TypeMediumBlob, mysql.TypeLongBlob:
		names := map[byte]string{mysql.TypeTinyBlob: "tiny", mysql.TypeBlob: "", mysql.TypeMediumBlob: "medium", mysql.TypeLongBlob: "long"}
		if binary {
			c.Type = names[tp] + "blob"
			if flen > 0 {
				c.Type = textType(flen, 1, true)
			}
		} else {
			c.Type = names[tp] + "text"
			if flen > 0 {
				c.Type = textType(flen, mbMaxLen(columnCharset(ex, cs)), false)
			}
		}
		c.SQLType = c.Type
	case mysql.TypeEnum, mysql.TypeSet:
		c.Type = "enum"
		if tp == mysql.TypeSet {
			c.Type = "set"
		}
		c.Members = append([]string(nil), ft.GetElems()...)
		c.SQLType = c.Type + "(" + quoteMembers(c.Members) + ")"
	case mysql.TypeJSON:
		c.Type, c.SQLType = "json", "json"
	case mysql.TypeGeometry:
		c.Type, c.SQLType = "geometry", "geometry"
	case mysql.TypeTiDBVectorFloat32:
		// MariaDB 11.7 VECTOR(n): n dimensions, stored as binary.
		c.Type, c.SQLType, c.Length = "vector", "vector", flen
		if flen > 0 {
			c.SQLType = fmt.Sprintf("vector(%d)", flen)
		}
	default:
		c.Type = strings.ToLower(ft.String())
		c.SQLType = c.Type
	}
	if ex.realType != "" {
		c.Type, c.SQLType = ex.realType, ex.realType
		c.Length, c.Precision, c.Scale, c.Unsigned, c.Members = -1, 0, 0, false, nil
	}
	// Character set.
	switch {
	case isCharType(c.Type):
		c.Charset = columnCharset(ex, cs)
		if c.Charset == "binary" {
			switch c.Type {
			case "char":
				c.Type = "binary"
			case "varchar":
				c.Type = "varbinary"
			case "tinytext", "text", "mediumtext", "longtext":
				c.Type = strings.TrimSuffix(c.Type, "text") + "blob"
			}
			if c.Length >= 0 {
				c.SQLType = fmt.Sprintf("%s(%d)", c.Type, c.Length)
			} else if c.Type != "enum" && c.Type != "set" {
				c.SQLType = c.Type
			}
		}
	case c.Type == "binary" || c.Type == "varbinary" || strings.HasSuffix(c.Type, "blob"):
		c.Charset = "binary"
	case c.Type == "json":
		c.Charset = DefaultCharset
		if ex.charset != "" || ex.collate != "" {
			c.Charset = columnCharset(ex, cs)
		}
	}
	// A VARCHAR longer than a row can hold becomes a TEXT (or BLOB) that
	// holds it: the server does so when sql_mode is not strict.
	if (c.Type == "varchar" || c.Type == "varbinary") && c.Length > 0 {
		mb := 1
		if c.Type == "varchar" {
			mb = mbMaxLen(c.Charset)
		}
		if c.Length*mb > 65535 {
			c.Type = textType(c.Length, mb, c.Type == "varbinary")
			c.SQLType, c.Length = c.Type, -1
		}
	}
	isPK := false
	for _, o := range def.Options {
		switch o.Tp {
		case ast.ColumnOptionNotNull:
			c.Nullable = false
		case ast.ColumnOptionNull:
			c.Nullable = true
		case ast.ColumnOptionPrimaryKey:
			isPK = true
			c.Nullable = false
		case ast.ColumnOptionGenerated:
			c.Generated = true
		case ast.ColumnOptionDefaultValue:
			if v, ok := literalDefault(o.Expr); ok {
				c.Default = &v
			}
		case ast.ColumnOptionCheck:
			if strings.EqualFold(jsonValidColumn(o.Expr), c.Name) && c.Type == "longtext" {
				toJSON(&c)
			}
		}
	}
	if ex.sysPeriod {
		c.Generated, c.Nullable = true, false // written by the server, never NULL
	}
	return c, isPK
}

// literalDefault is the text of a DEFAULT that is a literal number or
// string (possibly negated); ok is false for NULL, expressions and other
// literals.
func literalDefault(e ast.ExprNode) (string, bool) {
	neg := false
	if u, ok := e.(*ast.UnaryOperationExpr); ok && u.Op == opcode.Minus {
		neg, e = true, u.V
	}
	v, ok := e.(*test_driver.ValueExpr)
	if !ok {
		return "", false
	}
	var s string
	switch v.Kind() {
	case test_driver.KindInt64:
		s = strconv.FormatInt(v.GetInt64(), 10)
	case test_driver.KindUint64:
		s = strconv.FormatUint(v.GetUint64(), 10)
	case test_driver.KindFloat32, test_driver.KindFloat64:
		s = strconv.FormatFloat(v.GetFloat64(), 'g', -1, 64)
	case test_driver.KindMysqlDecimal:
		s = v.GetMysqlDecimal().String()
	case test_driver.KindString, test_driver.KindBytes:
		if neg {
			return "", false
		}
		return v.GetString(), true
	default:
		return "", false
	}
	if neg {
		if strings.HasPrefix(s, "-") {
			return s[1:], true
		}
		return "-" + s, true
	}
	return s, true
}

// columnCharset is a column's character set: declared, else from its
// collation, else the table's.
func columnCharset(ex *colExtra, tableCS string) string {
	switch {
	case ex.charset != "":
		return normCharset(ex.charset)
	case ex.collate != "":
		return charsetOfCollation(ex.collate)
	case ex.national:
		return "utf8mb3"
	}
	return tableCS
}
