package change

import "strings"

// BaseType is the lower-case type name of a column type as SHOW CREATE
// TABLE or the schema history spells it, without length, options or
// synonyms: "int(10) unsigned" → "int", "numeric(5,2)" → "decimal".
func BaseType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if i := strings.IndexAny(t, "( "); i >= 0 {
		t = t[:i]
	}
	switch t {
	case "integer":
		return "int"
	case "bool", "boolean":
		return "tinyint"
	case "numeric", "dec", "fixed":
		return "decimal"
	case "real", "double precision":
		return "double"
	case "character":
		return "char"
	case "geomcollection":
		return "geometrycollection"
	}
	return t
}

// IsGeometryType reports whether a BaseType is a spatial type.
func IsGeometryType(base string) bool {
	switch base {
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
		return true
	}
	return false
}

// KindOf is the kind of the values of a column, from its definition; KindNull
// for a type bintap does not know.
func KindOf(c *Column) Kind {
	bt := BaseType(c.Type)
	switch bt {
	case "tinyint", "smallint", "mediumint", "int", "bigint", "serial":
		if c.Unsigned || bt == "serial" {
			return KindUint
		}
		return KindInt
	case "decimal":
		return KindDecimal
	case "float":
		return KindFloat
	case "double":
		return KindDouble
	case "bit":
		return KindBit
	case "year":
		return KindYear
	case "date":
		return KindDate
	case "time":
		return KindTime
	case "datetime":
		return KindDateTime
	case "timestamp":
		return KindTimestamp
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "long":
		if strings.EqualFold(c.Charset, "binary") {
			return KindBytes
		}
		return KindString
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "vector":
		return KindBytes
	case "enum":
		return KindEnum
	case "set":
		return KindSet
	case "json":
		return KindJSON
	case "uuid":
		return KindUUID
	case "inet4", "inet6":
		return KindInet
	}
	if IsGeometryType(bt) {
		return KindGeometry
	}
	return KindNull
}
