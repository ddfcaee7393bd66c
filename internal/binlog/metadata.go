package binlog

import (
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/bintap/bintap/internal/change"
)

// TableFromMetadata builds a table definition from the optional metadata of
// a TABLE_MAP event (binlog_row_metadata=FULL): column names, signedness,
// character sets, ENUM/SET members, geometry types and the primary key. It
// returns nil when the event carries no column names. Types the binlog cannot
// tell apart (MariaDB UUID/INET4/INET6 look like BINARY(n), MariaDB JSON like
// LONGTEXT) come out as their storage type, and MariaDB COMPRESSED columns as
// their plain type (the decoder knows them by their binlog type); Version and
// GTID are left zero.
func TableFromMetadata(tm *replication.TableMapEvent) *change.Table {
	if tm == nil || len(tm.ColumnName) == 0 || len(tm.ColumnName) != int(tm.ColumnCount) {
		return nil
	}
	// MariaDB COMPRESSED columns: read types, metadata and the maps from
	// a view with their plain types (see compressedView).
	tm, compressed, err := compressedView(tm)
	if err != nil {
		return nil
	}
	unsigned := tm.UnsignedMap()
	collations := tm.CollationMap()
	esCollations := tm.EnumSetCollationMap()
	enums := tm.EnumStrValueMap()
	sets := tm.SetStrValueMap()
	geoms := tm.GeometryTypeMap()
	names := tm.ColumnNameString()

	t := &change.Table{Schema: string(tm.Schema), Name: string(tm.Table), Columns: make([]change.Column, tm.ColumnCount)}
	for i := range t.Columns {
		c := &t.Columns[i]
		c.Name = names[i]
		c.Length = -1
		if ok, null := tm.Nullable(i); ok {
			c.Nullable = null
		}
		c.Unsigned = unsigned[i]
		if coll, ok := collations[i]; ok {
			c.Charset = CharsetOfCollation(coll)
		}
		tp := tm.ColumnType[i]
		meta := tm.ColumnMeta[i]
		switch tp {
		case mysql.MYSQL_TYPE_TINY:
			c.Type = "tinyint"
		case mysql.MYSQL_TYPE_SHORT:
			c.Type = "smallint"
		case mysql.MYSQL_TYPE_INT24:
			c.Type = "mediumint"
		case mysql.MYSQL_TYPE_LONG:
			c.Type = "int"
		case mysql.MYSQL_TYPE_LONGLONG:
			c.Type = "bigint"
		case mysql.MYSQL_TYPE_NEWDECIMAL:
			c.Type = "decimal"
			c.Precision, c.Scale = int(meta>>8), int(meta&0xff)
			c.SQLType = "decimal(" + strconv.Itoa(c.Precision) + "," + strconv.Itoa(c.Scale) + ")"
		case mysql.MYSQL_TYPE_FLOAT:
			c.Type = "float"
		case mysql.MYSQL_TYPE_DOUBLE:
			c.Type = "double"
		case mysql.MYSQL_TYPE_BIT:
			c.Type = "bit"
			c.Length = int(meta>>8)*8 + int(meta&0xff)
			c.SQLType = "bit(" + strconv.Itoa(c.Length) + ")"
		case mysql.MYSQL_TYPE_YEAR:
			c.Type = "year"
			c.Unsigned = false // numeric in the signedness bitmap, but has no sign
		case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
			c.Type = "date"
		case mysql.MYSQL_TYPE_TIME, mysql.MYSQL_TYPE_TIME2:
			c.Type = "time"
		case mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_DATETIME2:
			c.Type = "datetime"
		case mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIMESTAMP2:
			c.Type = "timestamp"
		case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
			c.Type = "varchar"
			if c.Charset == "binary" {
				c.Type = "varbinary"
			}
			if compressed != nil && compressed[i] && meta > 0 {
				meta-- // the field length counts the compression header byte
			}
			c.Length = charLength(int(meta), c.Charset)
		case mysql.MYSQL_TYPE_STRING:
			rt, length := stringRealType(meta)
			switch rt {
			case mysql.MYSQL_TYPE_ENUM:
				c.Type = "enum"
				c.Members = utf8Members(enums[i], esCollations, i)
				if coll, ok := esCollations[i]; ok {
					c.Charset = CharsetOfCollation(coll)
				}
			case mysql.MYSQL_TYPE_SET:
				c.Type = "set"
				c.Members = utf8Members(sets[i], esCollations, i)
				if coll, ok := esCollations[i]; ok {
					c.Charset = CharsetOfCollation(coll)
				}
			default:
				c.Type = "char"
				if c.Charset == "binary" {
					c.Type = "binary"
				}
				c.Length = charLength(length, c.Charset)
			}
		case mysql.MYSQL_TYPE_BLOB:
			prefix := [5]string{"", "tiny", "", "medium", "long"}[min(int(meta), 4)]
			if c.Charset == "binary" {
				c.Type = prefix + "blob"
			} else {
				c.Type = prefix + "text"
			}
		case mysql.MYSQL_TYPE_JSON:
			c.Type = "json"
			c.Charset = ""
		case mysql.MYSQL_TYPE_GEOMETRY:
			c.Type = "geometry"
			c.Charset = ""
			if g, ok := geoms[i]; ok && g < uint64(len(geometryNames)) {
				c.Type = geometryNames[g]
			}
		case mysql.MYSQL_TYPE_VECTOR:
			c.Type = "vector"
		default:
			c.Type = typeName(tp)
		}
		if c.SQLType == "" {
			c.SQLType = sqlType(c)
		}
		switch tp {
		case mysql.MYSQL_TYPE_TIME2, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIMESTAMP2:
			c.Scale = int(meta)
			if meta > 0 {
				c.SQLType += "(" + strconv.Itoa(int(meta)) + ")"
			}
		}
		if c.Unsigned {
			c.SQLType += " unsigned"
		}
	}
	for _, k := range tm.PrimaryKey {
		t.PrimaryKey = append(t.PrimaryKey, int(k))
	}
	return t
}

// utf8Members converts ENUM/SET member names from the column's charset.
func utf8Members(members []string, colls map[int]uint64, i int) []string {
	coll, ok := colls[i]
	if !ok {
		return members
	}
	conv, err := converterFor(CharsetOfCollation(coll))
	if err != nil || conv == nil {
		return members
	}
	out := make([]string, len(members))
	for j, m := range members {
		b, err := conv.appendUTF8(nil, []byte(m))
		if err != nil {
			return members
		}
		out[j] = string(b)
	}
	return out
}

var geometryNames = []string{"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"}

func sqlType(c *change.Column) string {
	switch c.Type {
	case "varchar", "varbinary", "char", "binary":
		if c.Length >= 0 {
			return c.Type + "(" + strconv.Itoa(c.Length) + ")"
		}
	case "enum", "set":
		var b strings.Builder
		b.WriteString(c.Type)
		b.WriteByte('(')
		for i, m := range c.Members {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('\'')
			b.WriteString(strings.ReplaceAll(m, "'", "''"))
			b.WriteByte('\'')
		}
		b.WriteByte(')')
		return b.String()
	}
	return c.Type
}

// charLength turns a byte length into characters for the charset, or -1.
func charLength(bytes int, cs string) int {
	n := 0
	switch cs {
	case "binary", "latin1", "latin2", "latin5", "latin7", "ascii", "cp1250", "cp1251", "cp1256", "cp1257",
		"koi8r", "koi8u", "greek", "hebrew", "cp850", "cp852", "cp866", "macroman", "tis620":
		n = 1
	case "ucs2", "big5", "gbk", "gb2312", "sjis", "cp932", "euckr":
		n = 2
	case "utf8", "utf8mb3", "ujis", "eucjpms":
		n = 3
	case "utf8mb4", "utf16", "utf16le", "utf32", "gb18030":
		n = 4
	default:
		return -1
	}
	return bytes / n
}

// collationCharset maps MySQL/MariaDB collation ids 0..323 to their character
// set (from INFORMATION_SCHEMA.COLLATIONS of MySQL 8 and MariaDB 10.11).
var collationCharset = func() map[uint64]string {
	m := map[uint64]string{
		1: "big5", 2: "latin2", 3: "dec8", 4: "cp850", 5: "latin1", 6: "hp8", 7: "koi8r", 8: "latin1",
		9: "latin2", 10: "swe7", 11: "ascii", 12: "ujis", 13: "sjis", 14: "cp1251", 15: "latin1",
		16: "hebrew", 18: "tis620", 19: "euckr", 20: "latin7", 21: "latin2", 22: "koi8u", 23: "cp1251",
		24: "gb2312", 25: "greek", 26: "cp1250", 27: "latin2", 28: "gbk", 29: "cp1257", 30: "latin5",
		31: "latin1", 32: "armscii8", 33: "utf8mb3", 34: "cp1250", 35: "ucs2", 36: "cp866", 37: "keybcs2",
		38: "macce", 39: "macroman", 40: "cp852", 41: "latin7", 42: "latin7", 43: "macce", 44: "cp1250",
		45: "utf8mb4", 46: "utf8mb4", 47: "latin1", 48: "latin1", 49: "latin1", 50: "cp1251", 51: "cp1251",
		52: "cp1251", 53: "macroman", 54: "utf16", 55: "utf16", 56: "utf16le", 57: "cp1256", 58: "cp1257",
		59: "cp1257", 60: "utf32", 61: "utf32", 62: "utf16le", 63: "binary", 64: "armscii8", 65: "ascii",
		66: "cp1250", 67: "cp1256", 68: "cp866", 69: "dec8", 70: "greek", 71: "hebrew", 72: "hp8",
		73: "keybcs2", 74: "koi8r", 75: "koi8u", 76: "utf8mb3", 77: "latin2", 78: "latin5", 79: "latin7",
		80: "cp850", 81: "cp852", 82: "swe7", 83: "utf8mb3", 84: "big5", 85: "euckr", 86: "gb2312",
		87: "gbk", 88: "sjis", 89: "tis620", 90: "ucs2", 91: "ujis", 92: "geostd8", 93: "geostd8",
		94: "latin1", 95: "cp932", 96: "cp932", 97: "eucjpms", 98: "eucjpms", 99: "cp1250", 159: "ucs2",
		223: "utf8mb3", 248: "gb18030", 249: "gb18030", 250: "gb18030",
	}
	for id := uint64(101); id <= 124; id++ {
		m[id] = "utf16"
	}
	for id := uint64(128); id <= 151; id++ {
		m[id] = "ucs2"
	}
	for id := uint64(160); id <= 183; id++ {
		m[id] = "utf32"
	}
	for id := uint64(192); id <= 215; id++ {
		m[id] = "utf8mb3"
	}
	for id := uint64(224); id <= 247; id++ {
		m[id] = "utf8mb4"
	}
	for id := uint64(255); id <= 323; id++ {
		m[id] = "utf8mb4"
	}
	return m
}()

// CharsetOfCollation names the character set of a collation id, such as
// "utf8mb4" for 45 or 255. MariaDB's NO PAD collations (id+1024) and its
// UCA 14.0.0 collations (2048 and up) are included. Unknown ids give
// "collation#<id>", which the decoder rejects with a clear error.
func CharsetOfCollation(id uint64) string {
	if cs, ok := collationCharset[id]; ok {
		return cs
	}
	if id >= 1024 && id < 2048 {
		if cs, ok := collationCharset[id-1024]; ok {
			return cs
		}
	}
	if id >= 2048 && id < 3328 {
		return [...]string{"utf8mb3", "utf8mb4", "ucs2", "utf16", "utf32"}[(id-2048)/256]
	}
	return "collation#" + strconv.FormatUint(id, 10)
}
