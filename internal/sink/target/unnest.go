package target

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
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
	for i, c := range cols {
		buf = append(buf[:0], '{')
		for r, e := range rows {
			if r > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendElement(buf, e.args[i], c.bytes); err != nil {
				return nil, fmt.Errorf("column %s: %w", v.names[i], err)
			}
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

// pgText is a driver value as the text PostgreSQL parses back to it.
func pgText(a any) (string, error) {
	switch x := a.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case []byte:
		return string(x), nil
	case time.Time:
		return x.UTC().Format(pgInstant), nil
	}
	return "", fmt.Errorf("value of type %T", a)
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
	for j, i := range v.key {
		n := strconv.Itoa(j + 1)
		keys = append(keys, t.d.quote(v.names[i]))
		aliases = append(aliases, "c"+n)
		selects = append(selects, "u.c"+n+cols[i].cast)
		if cols[i].bytes {
			a := make([][]byte, len(rows))
			for r, e := range rows {
				a[r], _ = e.args[i].([]byte)
			}
			arrays, args = append(arrays, "$"+n+"::bytea[]"), append(args, a)
			continue
		}
		a := make([]*string, len(rows))
		for r, e := range rows {
			if e.args[i] != nil {
				s, err := pgText(e.args[i])
				if err != nil {
					return fmt.Errorf("target %s: table %s column %s: %w", t.name, tg.full, v.names[i], err)
				}
				a[r] = &s
			}
		}
		arrays, args = append(arrays, "$"+n+"::text[]"), append(args, a)
	}
	q := "DELETE FROM " + table + " WHERE (" + strings.Join(keys, ", ") + ") IN (SELECT " + strings.Join(selects, ", ") +
		" FROM unnest(" + strings.Join(arrays, ", ") + ") AS u(" + strings.Join(aliases, ", ") + "))"
	return x.exec(ctx, q, t.stmtWrap(tg, q), args...)
}
