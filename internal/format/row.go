package format

import "github.com/bintap/bintap/internal/change"

// AppendValue appends one column value as JSON in bintap's exact
// representation (DESIGN.md, "Value representation"). A value missing from
// a MINIMAL row image is written as null.
func AppendValue(dst []byte, v *change.Value, bin BinaryEncoding) []byte {
	return appendValue(dst, v, bin)
}

// AppendRowObject appends a row image as one JSON object of column name →
// value, the values written exactly as in the MaxScale records. Columns
// absent from a MINIMAL/NOBLOB image (KindMissing) are left out: their value
// is unknown, which is not null.
func AppendRowObject(dst []byte, cols []change.Column, row []change.Value, bin BinaryEncoding) []byte {
	dst = append(dst, '{')
	first := true
	for i := range row {
		if row[i].Kind == change.KindMissing || i >= len(cols) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendStringS(dst, cols[i].Name)
		dst = append(dst, ':')
		dst = appendValue(dst, &row[i], bin)
	}
	return append(dst, '}')
}

// AppendJSONString appends s as a JSON string.
func AppendJSONString(dst []byte, s string) []byte { return appendStringS(dst, s) }

// AppendJSONBytes is AppendJSONString of text held in a byte slice.
func AppendJSONBytes(dst, s []byte) []byte { return appendString(dst, s) }
