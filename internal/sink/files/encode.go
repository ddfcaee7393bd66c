package files

import (
	"strconv"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
)

// metaNames are the metadata columns every record carries after the
// table's own, in this order.
var metaNames = []string{"__op", "__deleted", "__ts_ms", "__transaction_id", "__transaction_order", "__event_number"}

// csvNull is the CSV field of a NULL value: \N, unquoted. A text value that
// reads \N is quoted, and so is the empty string; a column missing from a
// MINIMAL or NOBLOB row image is an empty field.
const csvNull = `\N`

// appendJSONRecord appends one record as a JSON object and a newline: the
// table's columns by name (values as in DESIGN.md; a column missing from a
// MINIMAL row image is left out), then the metadata.
func appendJSONRecord(dst []byte, t *change.Table, r *Record, bin format.BinaryEncoding) []byte {
	if r.Row == nil {
		dst = append(dst, '{')
		for i := range t.Columns {
			dst = format.AppendJSONString(dst, t.Columns[i].Name)
			dst = append(dst, ":null,"...)
		}
	} else {
		dst = format.AppendRowObject(dst, t.Columns, r.Row, bin)
		dst = dst[:len(dst)-1] // the closing brace
		if dst[len(dst)-1] != '{' {
			dst = append(dst, ',')
		}
	}
	dst = append(dst, `"__op":"`...)
	dst = append(dst, r.Op)
	dst = append(dst, `","__deleted":`...)
	dst = strconv.AppendBool(dst, r.Deleted)
	dst = append(dst, `,"__ts_ms":`...)
	dst = strconv.AppendInt(dst, r.TsMs, 10)
	dst = append(dst, `,"__transaction_id":`...)
	dst = format.AppendJSONString(dst, r.TxID)
	dst = append(dst, `,"__transaction_order":`...)
	dst = strconv.AppendInt(dst, r.Order, 10)
	dst = append(dst, `,"__event_number":`...)
	dst = strconv.AppendUint(dst, r.Event, 10)
	return append(dst, "}\n"...)
}

// appendCSVHeader appends the header line of a CSV file of table t.
func appendCSVHeader(dst []byte, t *change.Table) []byte {
	for i := range t.Columns {
		dst = appendCSVText(dst, []byte(t.Columns[i].Name))
		dst = append(dst, ',')
	}
	for i, n := range metaNames {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, n...)
	}
	return append(dst, '\n')
}

// appendCSVRecord appends one record as a CSV line (RFC 4180, "\n" line
// ends): the table's columns, then the metadata.
func appendCSVRecord(dst []byte, t *change.Table, r *Record, bin format.BinaryEncoding) []byte {
	for i := range t.Columns {
		switch {
		case r.Row == nil || i >= len(r.Row) || r.Row[i].Kind == change.KindNull:
			dst = append(dst, csvNull...)
		case r.Row[i].Kind == change.KindMissing:
		default:
			start := len(dst)
			var text bool
			dst, text = format.AppendPlain(dst, &r.Row[i], bin)
			if text && needsQuotes(dst[start:]) || len(dst) == start {
				dst = quoteTail(dst, start)
			}
		}
		dst = append(dst, ',')
	}
	dst = append(dst, r.Op, ',')
	dst = strconv.AppendBool(dst, r.Deleted)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, r.TsMs, 10)
	dst = append(dst, ',')
	dst = appendCSVText(dst, []byte(r.TxID))
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, r.Order, 10)
	dst = append(dst, ',')
	dst = strconv.AppendUint(dst, r.Event, 10)
	return append(dst, '\n')
}

// appendCSVText appends a text field, quoted when it must be.
func appendCSVText(dst, s []byte) []byte {
	start := len(dst)
	dst = append(dst, s...)
	if needsQuotes(s) {
		dst = quoteTail(dst, start)
	}
	return dst
}

// needsQuotes reports whether a text field must be quoted: it is empty
// (an empty unquoted field is a missing value), reads \N (NULL), or holds
// a comma, a quote, a line end, or leading or trailing white space.
func needsQuotes(s []byte) bool {
	if len(s) == 0 || string(s) == csvNull || s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t' {
		return true
	}
	for _, c := range s {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			return true
		}
	}
	return false
}

// quoteTail quotes dst[start:] in place, doubling its quotes.
func quoteTail(dst []byte, start int) []byte {
	field := append([]byte(nil), dst[start:]...)
	dst = append(dst[:start], '"')
	for _, c := range field {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
