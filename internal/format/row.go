package format

import (
	"encoding/base64"

	"github.com/bintap/bintap/internal/change"
)

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

// AppendPlain appends one column value as plain text, for CSV: numbers as
// in JSON, binary values in hex or base64, every text kind as its text. It
// reports whether the value is text, which a CSV writer quotes when needed.
// NULL and values missing from a row image are the caller's to write.
func AppendPlain(dst []byte, v *change.Value, bin BinaryEncoding) ([]byte, bool) {
	switch v.Kind {
	case change.KindInt, change.KindYear, change.KindUint, change.KindBit, change.KindFloat, change.KindDouble, change.KindDecimal:
		return appendValue(dst, v, bin), false
	case change.KindBytes:
		if bin == BinaryBase64 {
			n := base64.StdEncoding.EncodedLen(len(v.Text))
			dst = grow(dst, n)
			base64.StdEncoding.Encode(dst[len(dst):len(dst)+n], v.Text)
			return dst[:len(dst)+n], false
		}
		for _, c := range v.Text {
			dst = append(dst, hexDigits[c>>4], hexDigits[c&0xF])
		}
		return dst, false
	}
	return append(dst, v.Text...), true
}
