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
