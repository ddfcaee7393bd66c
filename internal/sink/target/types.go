package target

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/change"
)

// Column types and driver values of each dialect: every MySQL/MariaDB
// column type maps to a target type that holds all of its values, and every
// value is handed to the driver in a form the target stores exactly
// (docs/targets-types.md has the table and the reasons).
//
// Values go to the drivers as int64, uint64 (MySQL only), float64, []byte,
// time.Time (TIMESTAMP on PostgreSQL and DuckDB) or string: decimals,
// temporal values and the special types travel as their exact text and the
// target parses them, so nothing passes through a float or a local zone.
// Zero dates and zero TIMESTAMPs are stored as NULL on every target.

// sourceType is c's base type; a character type of the binary character set
// is the binary type it really is, and every spatial type is "geometry"
// (each target stores them alike).
func sourceType(c *change.Column) string {
	t := change.BaseType(c.Type)
	switch {
	case t == "long": // LONG [VARCHAR], MySQL's old name of MEDIUMTEXT
		t = "mediumtext"
	case change.IsGeometryType(t):
		return "geometry"
	}
	if c.Charset == "binary" {
		switch t {
		case "char":
			return "binary"
		case "varchar":
			return "varbinary"
		case "tinytext", "text", "mediumtext", "longtext":
			return strings.TrimSuffix(t, "text") + "blob"
		}
	}
	return t
}

func noType(d dialect, c *change.Column) error {
	return fmt.Errorf("column %s: type %s has no %s column type", c.Name, c.Type, d.name())
}

// checkSize refuses a DECIMAL or BIT column of a size no server allows.
func checkSize(c *change.Column) error {
	switch sourceType(c) {
	case "decimal":
		if c.Precision < 1 || c.Scale < 0 || c.Scale > c.Precision {
			return fmt.Errorf("column %s: decimal(%d,%d) is not a valid precision and scale", c.Name, c.Precision, c.Scale)
		}
	case "bit":
		if c.Length < 1 || c.Length > 64 {
			return fmt.Errorf("column %s: bit(%d) is not a valid length", c.Name, c.Length)
		}
	}
	return nil
}

// decimalArgs is "(p,s)" of a DECIMAL column.
func decimalArgs(c *change.Column) string {
	return "(" + strconv.Itoa(c.Precision) + "," + strconv.Itoa(c.Scale) + ")"
}

// bitType is "bit(n)" of a BIT(n) column.
func bitType(c *change.Column) string { return "bit(" + strconv.Itoa(c.Length) + ")" }

// fsp is "(n)" for n fractional-second digits.
func fsp(c *change.Column) string { return "(" + strconv.Itoa(min(max(c.Scale, 0), 6)) + ")" }

// PostgreSQL 15.

func (d postgres) columnType(c *change.Column) (string, error) {
	if err := checkSize(c); err != nil {
		return "", err
	}
	switch t := sourceType(c); t {
	case "tinyint":
		return "smallint", nil
	case "smallint":
		if c.Unsigned {
			return "integer", nil
		}
		return "smallint", nil
	case "mediumint":
		return "integer", nil
	case "int":
		if c.Unsigned {
			return "bigint", nil
		}
		return "integer", nil
	case "bigint":
		if c.Unsigned {
			return "numeric(20,0)", nil
		}
		return "bigint", nil
	case "decimal":
		return "numeric" + decimalArgs(c), nil
	case "float":
		return "real", nil
	case "double":
		return "double precision", nil
	case "bit":
		return bitType(c), nil
	case "year":
		return "smallint", nil
	case "date":
		return "date", nil
	case "time":
		return "interval" + fsp(c), nil
	case "datetime":
		return "timestamp" + fsp(c), nil
	case "timestamp":
		return "timestamptz" + fsp(c), nil
	case "char", "varchar":
		if c.Length < 1 {
			return "text", nil
		}
		return "varchar(" + strconv.Itoa(c.Length) + ")", nil
	case "tinytext", "text", "mediumtext", "longtext", "enum", "set":
		return "text", nil
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "vector":
		return "bytea", nil
	case "json":
		return "jsonb", nil
	case "uuid":
		return "uuid", nil
	case "inet4", "inet6":
		return "inet", nil
	case "geometry":
		return "text", nil
	}
	return "", noType(d, c)
}

// param casts to the column type, so that a statement reads the same
// whatever surrounds the parameter; VARCHAR(n) is cast without its length,
// since an explicit cast would cut a longer value where storing it fails.
func (d postgres) param(c *change.Column, n int) string {
	p := "$" + strconv.Itoa(n)
	typ, err := d.columnType(c)
	switch {
	case err != nil:
		return p
	case strings.HasPrefix(typ, "varchar("):
		typ = "varchar"
	}
	return p + "::" + typ
}

func (postgres) arg(c *change.Column, v *change.Value) (any, error) {
	switch v.Kind {
	case change.KindString, change.KindEnum, change.KindSet:
		if bytes.IndexByte(v.Text, 0) >= 0 {
			return nil, fmt.Errorf("column %s: the value holds a 0x00 byte, which PostgreSQL text cannot hold", c.Name)
		}
	case change.KindJSON:
		if jsonHasNUL(v.Text) {
			return nil, fmt.Errorf(`column %s: the JSON holds \u0000, which PostgreSQL jsonb cannot hold`, c.Name)
		}
	case change.KindBit:
		return bitString(c, v.Uint)
	case change.KindTimestamp:
		return timestampArg(v), nil
	}
	return portableArg(c, v)
}

// jsonHasNUL reports whether JSON text holds the escape \u0000.
func jsonHasNUL(j []byte) bool {
	for i := 0; i < len(j); i++ {
		if j[i] == '\\' {
			if bytes.HasPrefix(j[i+1:], []byte("u0000")) {
				return true
			}
			i++ // the escaped character
		}
	}
	return false
}

// MySQL and MariaDB.

// utf8 is the character set of text columns: the decoder made every string
// UTF-8, and the binary collation keeps apart what a case-insensitive one
// would merge in a key.
const utf8 = " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"

// maxVarchar is the longest VARCHAR(n) of utf8mb4 (65535 bytes / 4).
const maxVarchar = 16383

// mariaDBAtLeast reports whether the server is MariaDB major.minor or later.
func (d mysql) mariaDBAtLeast(major, minor int) bool {
	return d.mariaDB && (d.version[0] > major || d.version[0] == major && d.version[1] >= minor)
}

func (d mysql) columnType(c *change.Column) (string, error) {
	if err := checkSize(c); err != nil {
		return "", err
	}
	switch t := sourceType(c); t {
	case "tinyint", "smallint", "mediumint", "int", "bigint":
		if c.Unsigned {
			return t + " unsigned", nil
		}
		return t, nil
	case "decimal":
		return "decimal" + decimalArgs(c), nil
	case "float", "double", "year", "date":
		return t, nil
	case "bit":
		return bitType(c), nil
	case "time", "datetime":
		return t + fsp(c), nil
	case "timestamp":
		return "datetime" + fsp(c), nil // in UTC
	case "char", "varchar":
		switch {
		case c.Length < 0 || c.Length > maxVarchar:
			return "longtext" + utf8, nil
		case t == "char":
			return "char(" + strconv.Itoa(c.Length) + ")" + utf8, nil
		}
		return "varchar(" + strconv.Itoa(c.Length) + ")" + utf8, nil
	case "tinytext", "text", "mediumtext", "longtext":
		return mysqlText(t, c.Charset) + utf8, nil
	case "enum", "set":
		return "varchar(" + strconv.Itoa(membersLength(c)) + ")" + utf8, nil
	case "binary", "varbinary":
		if c.Length < 0 {
			return "longblob", nil
		}
		return t + "(" + strconv.Itoa(c.Length) + ")", nil
	case "tinyblob", "blob", "mediumblob", "longblob":
		return t, nil
	case "vector":
		return "blob", nil
	case "json":
		return "json", nil
	case "uuid":
		if d.mariaDBAtLeast(10, 7) {
			return "uuid", nil
		}
		return "char(36) CHARACTER SET ascii", nil
	case "inet4":
		if d.mariaDBAtLeast(10, 10) {
			return "inet4", nil
		}
		return "varchar(15) CHARACTER SET ascii", nil
	case "inet6":
		if d.mariaDBAtLeast(10, 5) {
			return "inet6", nil
		}
		return "varchar(39) CHARACTER SET ascii", nil
	case "geometry":
		return "longtext" + utf8, nil
	}
	return "", noType(d, c)
}

// mysqlText is the TEXT type that holds the UTF-8 of a TEXT column of the
// given character set: the same size for UTF-8 and ASCII, else one larger,
// since a character may take more bytes in UTF-8 (at most 4 times as many,
// and each size holds 256 times the one below).
func mysqlText(t, charset string) string {
	switch charset {
	case "utf8mb4", "utf8mb3", "utf8", "ascii":
		return t
	}
	switch t {
	case "tinytext":
		return "text"
	case "text":
		return "mediumtext"
	}
	return "longtext"
}

// membersLength is the longest value of an ENUM (its longest member) or a
// SET (all members joined by ","), in characters; the most MySQL allows when
// the members are unknown.
func membersLength(c *change.Column) int {
	if len(c.Members) == 0 {
		if sourceType(c) == "set" {
			return 64*255 + 63
		}
		return 255
	}
	n, sum := 1, len(c.Members)-1
	for _, m := range c.Members {
		l := len([]rune(m))
		n, sum = max(n, l), sum+l
	}
	if sourceType(c) == "set" {
		return max(sum, 1)
	}
	return n
}

func (mysql) param(*change.Column, int) string { return "?" }

func (mysql) arg(c *change.Column, v *change.Value) (any, error) {
	switch v.Kind {
	case change.KindUint, change.KindBit:
		return v.Uint, nil
	case change.KindTimestamp:
		t, ok := timestampUTC(v)
		if !ok {
			return nil, nil
		}
		layout := "2006-01-02 15:04:05"
		if n := min(max(c.Scale, 0), 6); n > 0 {
			layout += ".000000"[:n+1]
		}
		return t.Format(layout), nil
	}
	return portableArg(c, v)
}

// DuckDB.

func (d duck) columnType(c *change.Column) (string, error) {
	if err := checkSize(c); err != nil {
		return "", err
	}
	u := ""
	if c.Unsigned {
		u = "U"
	}
	switch t := sourceType(c); t {
	case "tinyint":
		return u + "TINYINT", nil
	case "smallint":
		return u + "SMALLINT", nil
	case "mediumint", "int":
		return u + "INTEGER", nil
	case "bigint":
		return u + "BIGINT", nil
	case "decimal":
		if c.Precision > 38 { // wider than DuckDB's DECIMAL: the exact digits as text
			return "VARCHAR", nil
		}
		return "DECIMAL" + decimalArgs(c), nil
	case "float":
		return "FLOAT", nil
	case "double":
		return "DOUBLE", nil
	case "bit":
		return "BIT", nil
	case "year":
		return "SMALLINT", nil
	case "date":
		return "DATE", nil
	case "time":
		return "INTERVAL", nil
	case "datetime":
		return "TIMESTAMP", nil
	case "timestamp":
		return "TIMESTAMPTZ", nil
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "inet4", "inet6":
		return "VARCHAR", nil
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "vector":
		return "BLOB", nil
	case "json":
		return "JSON", nil
	case "uuid":
		return "UUID", nil
	case "geometry":
		return "VARCHAR", nil
	}
	return "", noType(d, c)
}

// param is "?" (the placeholder the rest of a DuckDB statement uses) cast
// to the column type.
func (d duck) param(c *change.Column, _ int) string {
	typ, err := d.columnType(c)
	if err != nil {
		return "?"
	}
	return "?::" + typ
}

func (duck) arg(c *change.Column, v *change.Value) (any, error) {
	switch v.Kind {
	case change.KindBit:
		return bitString(c, v.Uint)
	case change.KindTimestamp:
		return timestampArg(v), nil
	}
	return portableArg(c, v)
}

// Values every dialect takes alike.

// portableArg converts the value kinds that every target stores the same way.
func portableArg(c *change.Column, v *change.Value) (any, error) {
	switch v.Kind {
	case change.KindNull:
		return nil, nil
	case change.KindMissing:
		return nil, fmt.Errorf("column %s: the value is not in the row image (binlog_row_image MINIMAL or NOBLOB) and cannot be stored", c.Name)
	case change.KindInt, change.KindYear:
		return v.Int, nil
	case change.KindUint:
		// database/sql's default converter refuses uint64 values past MaxInt64.
		if v.Uint > math.MaxInt64 {
			return strconv.FormatUint(v.Uint, 10), nil
		}
		return int64(v.Uint), nil
	case change.KindFloat, change.KindDouble:
		return v.Float, nil // a FLOAT's float32 is exact in a float64
	case change.KindBytes:
		return v.Text, nil
	case change.KindDate, change.KindDateTime:
		zero, err := zeroDate(c, v.Text)
		if zero || err != nil {
			return nil, err
		}
		return string(v.Text), nil
	case change.KindGeometry:
		if v.Int != 0 {
			return "SRID=" + strconv.FormatInt(v.Int, 10) + ";" + string(v.Text), nil
		}
		return string(v.Text), nil
	case change.KindDecimal, change.KindString, change.KindTime, change.KindEnum, change.KindSet,
		change.KindJSON, change.KindUUID, change.KindInet:
		return string(v.Text), nil
	}
	return nil, fmt.Errorf("column %s: value of unknown kind %d", c.Name, v.Kind)
}

// zeroDate reports whether a DATE or DATETIME text ("YYYY-MM-DD...") has a
// zero year, month or day: no target holds such a date, and each stores NULL.
func zeroDate(c *change.Column, t []byte) (bool, error) {
	if len(t) < 10 || t[4] != '-' || t[7] != '-' {
		return false, fmt.Errorf("column %s: %q is not a date", c.Name, t)
	}
	return string(t[:4]) == "0000" || string(t[5:7]) == "00" || string(t[8:10]) == "00", nil
}

// timestampUTC is a TIMESTAMP's instant in UTC, from its UNIX seconds and
// microseconds (never from its text, which is in the configured zone); ok is
// false for the zero TIMESTAMP.
func timestampUTC(v *change.Value) (t time.Time, ok bool) {
	if v.Int == 0 && v.Uint == 0 {
		return time.Time{}, false
	}
	return time.Unix(v.Int, int64(v.Uint%1e6)*1e3).UTC(), true
}

// timestampArg is timestampUTC as a driver argument: nil (NULL) for the zero
// TIMESTAMP.
func timestampArg(v *change.Value) any {
	if t, ok := timestampUTC(v); ok {
		return t
	}
	return nil
}

// bitString is a BIT(n) value as n binary digits.
func bitString(c *change.Column, u uint64) (string, error) {
	n := c.Length
	if n < 1 || n > 64 || n < 64 && u>>n != 0 {
		return "", fmt.Errorf("column %s: %d does not fit in bit(%d)", c.Name, u, n)
	}
	s := strconv.FormatUint(u, 2)
	return strings.Repeat("0", n-len(s)) + s, nil
}
