package target

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/change"
)

// PostgreSQL takes a batch as one array per column: INSERT … SELECT FROM
// unnest($1::text[], …). The statement is the same whatever the number of
// rows, so the server parses and plans it once per table version, and a
// batch is one round trip. Values travel as text (bytea as bytes) and are
// cast to the column types on the server: exact, as with one parameter per
// value.

// pgColumn is how one column travels: its cast and whether it is bytes.
type pgColumn struct {
	cast  string // "::numeric(12,3)"
	bytes bool
}

func (t *Destination) pgColumns(v *version) []pgColumn {
	if v.pg != nil {
		return v.pg
	}
	for i := range v.src.Columns {
		c := &v.src.Columns[i]
		p := t.d.param(c, 1) // "$1::type"
		cast := p[strings.Index(p, "$1")+2:]
		typ, _ := t.d.columnType(c)
		v.pg = append(v.pg, pgColumn{cast: cast, bytes: typ == "bytea"})
	}
	return v.pg
}

// pgWriteSQL is the statement that writes rows of v into table.
func (t *Destination) pgWriteSQL(table string, v *version, appendOnly bool) string {
	key := table + "\x00" + strconv.FormatBool(appendOnly)
	if q, ok := v.sql[key]; ok {
		return q
	}
	cols := t.pgColumns(v)
	meta := mirrorMeta
	if appendOnly {
		meta = logMeta
	}
	var names, arrays, selects []string
	n := 0
	for i, c := range cols {
		n++
		names = append(names, t.d.quote(v.names[i]))
		elem := "text"
		if c.bytes {
			elem = "bytea"
		}
		arrays = append(arrays, "$"+strconv.Itoa(n)+"::"+elem+"[]")
		selects = append(selects, "u.c"+strconv.Itoa(n)+c.cast)
	}
	for _, e := range v.extra {
		names = append(names, t.d.quote(e))
		selects = append(selects, "NULL")
	}
	for _, m := range meta {
		n++
		names = append(names, t.d.quote(m.name))
		arrays = append(arrays, "$"+strconv.Itoa(n)+"::"+pgArrayType(m.typ))
		selects = append(selects, "u.c"+strconv.Itoa(n))
	}
	aliases := make([]string, n)
	for i := range aliases {
		aliases[i] = "c" + strconv.Itoa(i+1)
	}
	q := "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(selects, ", ") +
		" FROM unnest(" + strings.Join(arrays, ", ") + ") AS u(" + strings.Join(aliases, ", ") + ")"
	if !appendOnly {
		var key, set []string
		isKey := map[int]bool{}
		for _, i := range v.key {
			isKey[i] = true
			key = append(key, t.d.quote(v.names[i]))
		}
		for i, name := range names {
			if !isKey[i] {
				set = append(set, name+" = EXCLUDED."+name)
			}
		}
		q += " ON CONFLICT (" + strings.Join(key, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ")
	}
	if v.sql == nil {
		v.sql = map[string]string{}
	}
	v.sql[key] = q
	return q
}

func pgArrayType(sqlType string) string {
	switch sqlType {
	case "BOOLEAN":
		return "bool[]"
	case "BIGINT":
		return "int8[]"
	}
	return "text[]"
}

// pgArgs turns rows into the statement's arrays, each written as the text
// of a PostgreSQL array literal ({"a",NULL,"b"}): the server parses it
// once, and the driver sends one string instead of encoding each element.
func (t *Destination) pgArgs(v *version, rows []*entry, appendOnly bool) ([]any, error) {
	cols := t.pgColumns(v)
	args := make([]any, 0, len(cols)+len(logMeta))
	var buf []byte
	for i := range cols {
		buf = append(buf[:0], '{')
		for r, e := range rows {
			if r > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, e.element(i)...)
		}
		args = append(args, string(append(buf, '}')))
	}
	meta := func(f func(e *entry, dst []byte) []byte) {
		buf = append(buf[:0], '{')
		for r, e := range rows {
			if r > 0 {
				buf = append(buf, ',')
			}
			buf = f(e, buf)
		}
		args = append(args, string(append(buf, '}')))
	}
	if appendOnly {
		meta(func(e *entry, dst []byte) []byte { return append(dst, e.op) })
	}
	meta(func(e *entry, dst []byte) []byte { return strconv.AppendBool(dst, e.deleted) })
	meta(func(e *entry, dst []byte) []byte { return strconv.AppendInt(dst, e.tsMs, 10) })
	meta(func(e *entry, dst []byte) []byte { return appendQuoted(dst, e.txID) })
	meta(func(e *entry, dst []byte) []byte { return strconv.AppendInt(dst, e.order, 10) })
	if appendOnly {
		meta(func(e *entry, dst []byte) []byte { return strconv.AppendUint(dst, e.num, 10) })
	}
	return args, nil
}

// element is column i of a PostgreSQL entry, as an array element.
func (e *entry) element(i int) []byte {
	start := int32(0)
	if i > 0 {
		start = e.ends[i-1]
	}
	return e.text[start:e.ends[i]]
}

// pgEntry renders a row image as array elements (entry.text): the common
// kinds straight from the value, the others through arg, so the text is
// what arg would store.
func (t *Destination) pgEntry(v *version, row []change.Value, e *entry) error {
	e.ends = make([]int32, len(row))
	for i := range row {
		c, val := &v.src.Columns[i], &row[i]
		switch val.Kind {
		case change.KindNull:
			e.text = append(e.text, "NULL"...)
		case change.KindInt, change.KindYear:
			e.text = strconv.AppendInt(e.text, val.Int, 10)
		case change.KindUint:
			e.text = strconv.AppendUint(e.text, val.Uint, 10)
		case change.KindDecimal:
			e.text = appendQuotedBytes(e.text, val.Text)
		case change.KindString, change.KindEnum, change.KindSet:
			if bytes.IndexByte(val.Text, 0) >= 0 {
				return fmt.Errorf("target %s: table %s column %s: the value holds a 0x00 byte, which PostgreSQL text cannot hold", t.name, v.src.FullName(), c.Name)
			}
			e.text = appendQuotedBytes(e.text, val.Text)
		default:
			a, err := t.d.arg(c, val)
			if err == nil {
				e.text, err = appendElement(e.text, a, t.pgColumns(v)[i].bytes)
			}
			if err != nil {
				return fmt.Errorf("target %s: table %s column %s: %w", t.name, v.src.FullName(), c.Name, err)
			}
		}
		e.ends[i] = int32(len(e.text))
	}
	return nil
}

// appendElement appends one array element: NULL, a quoted text, or bytea
// in hex.
func appendElement(dst []byte, a any, isBytes bool) ([]byte, error) {
	if a == nil {
		return append(dst, "NULL"...), nil
	}
	if isBytes {
		b, ok := a.([]byte)
		if !ok {
			return dst, fmt.Errorf("%T for bytea", a)
		}
		dst = append(dst, `"\\x`...)
		dst = hex.AppendEncode(dst, b)
		return append(dst, '"'), nil
	}
	switch x := a.(type) {
	case string:
		return appendQuoted(dst, x), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case float64:
		return strconv.AppendFloat(dst, x, 'g', -1, 64), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case []byte:
		return appendQuoted(dst, string(x)), nil
	case time.Time:
		return appendQuoted(dst, x.UTC().Format(pgInstant)), nil
	}
	return dst, fmt.Errorf("value of type %T", a)
}

// pgInstant is how an instant (TIMESTAMP) travels: microseconds, UTC offset.
const pgInstant = "2006-01-02 15:04:05.999999-07:00"

// appendQuoted appends s as a quoted array element.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// appendQuotedBytes is appendQuoted of bytes.
func appendQuotedBytes(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// pgWriteRows writes rows of one version in one statement.
func (t *Destination) pgWriteRows(ctx context.Context, x execer, table string, tg *batch, rows []*entry, appendOnly bool) error {
	q := t.pgWriteSQL(table, rows[0].v, appendOnly)
	args, err := t.pgArgs(rows[0].v, rows, appendOnly)
	if err != nil {
		return fmt.Errorf("target %s: table %s: %w", t.name, tg.full, err)
	}
	return x.exec(ctx, q, t.stmtWrap(tg, q), args...)
}

// pgDeleteRows removes rows of one version by key in one statement.
func (t *Destination) pgDeleteRows(ctx context.Context, x execer, table string, tg *batch, rows []*entry) error {
	v := rows[0].v
	cols := t.pgColumns(v)
	var keys, arrays, selects, aliases []string
	var args []any
	var buf []byte
	for j, i := range v.key {
		n := strconv.Itoa(j + 1)
		keys = append(keys, t.d.quote(v.names[i]))
		aliases = append(aliases, "c"+n)
		selects = append(selects, "u.c"+n+cols[i].cast)
		elem := "text"
		if cols[i].bytes {
			elem = "bytea"
		}
		buf = append(buf[:0], '{')
		for r, e := range rows {
			if r > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, e.element(i)...)
		}
		arrays, args = append(arrays, "$"+n+"::"+elem+"[]"), append(args, string(append(buf, '}')))
	}
	q := "DELETE FROM " + table + " WHERE (" + strings.Join(keys, ", ") + ") IN (SELECT " + strings.Join(selects, ", ") +
		" FROM unnest(" + strings.Join(arrays, ", ") + ") AS u(" + strings.Join(aliases, ", ") + "))"
	return x.exec(ctx, q, t.stmtWrap(tg, q), args...)
}
