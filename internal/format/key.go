package format

import "github.com/bintap/bintap/internal/change"

// AppendPrimaryKey appends the JSON object of a row's primary key columns in
// key order, such as {"id":1}, with values rendered as the maxscale format
// renders them, so that a key is byte-for-byte what a consumer sees in the
// record. It reports false (and appends nothing) when the table has no
// primary key or the row lacks a key column.
func AppendPrimaryKey(dst []byte, t *change.Table, row []change.Value, binary BinaryEncoding) ([]byte, bool) {
	if len(t.PrimaryKey) == 0 || row == nil {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, '{')
	for i, c := range t.PrimaryKey {
		if c >= len(row) || c >= len(t.Columns) || row[c].Kind == change.KindMissing {
			return dst[:start], false
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendStringS(dst, t.Columns[c].Name)
		dst = append(dst, ':')
		dst = appendValue(dst, &row[c], binary)
	}
	return append(dst, '}'), true
}

// AppendTableKey appends {"database":"db","table":"t"}, the key of records
// that belong to a table rather than to a row.
func AppendTableKey(dst []byte, t *change.Table) []byte {
	dst = append(dst, `{"database":`...)
	dst = appendStringS(dst, t.Schema)
	dst = append(dst, `,"table":`...)
	dst = appendStringS(dst, t.Name)
	return append(dst, '}')
}
