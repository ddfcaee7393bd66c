package target

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/change"
)

// PostgreSQL takes a batch by COPY … FROM STDIN (FORMAT binary) into a
// staging table of the session (a temporary table, emptied at each commit),
// then one statement moves the rows into the target: INSERT … SELECT …
// ON CONFLICT DO UPDATE for a mirror, a plain INSERT for a log, DELETE …
// WHERE key IN (SELECT …) for hard deletes. The common types travel in
// their binary form (integers, text, bytea, DATETIME and TIMESTAMP as
// microseconds), which the server stores without parsing; the others
// travel as their exact text in a text column and are cast to the column
// type by the statement, as a parameter would be. Rows of a mirror go
// sorted by an integer key, so that the server walks its index in order.

// pgEnc is how the values of one column travel.
type pgEnc uint8

const (
	encText        pgEnc = iota // the value's text, cast on the server
	encInt2                     // smallint
	encInt4                     // integer
	encInt8                     // bigint
	encString                   // text
	encBytes                    // bytea
	encTimestamp                // timestamp, from a DATETIME's text
	encTimestamptz              // timestamptz, from a TIMESTAMP's instant
	encNumeric                  // numeric, from a DECIMAL's digits or an unsigned BIGINT
)

// pgColumn is how one column travels: its encoding, its type in the
// staging table, and the cast to the target type of a column sent as text.
type pgColumn struct {
	enc   pgEnc
	stage string // "bigint", "text"
	cast  string // "::numeric(12,2)" ("": none)
}

func (t *Destination) pgColumns(v *version) []pgColumn {
	if v.pg != nil {
		return v.pg
	}
	for i := range v.src.Columns {
		v.pg = append(v.pg, pgColumnOf(t.d, &v.src.Columns[i]))
	}
	return v.pg
}

func pgColumnOf(d dialect, c *change.Column) pgColumn {
	typ, _ := d.columnType(c)
	switch sourceType(c) {
	case "tinyint", "smallint", "mediumint", "int", "bigint", "year":
		switch typ {
		case "smallint":
			return pgColumn{enc: encInt2, stage: typ}
		case "integer":
			return pgColumn{enc: encInt4, stage: typ}
		case "bigint":
			return pgColumn{enc: encInt8, stage: typ}
		case "numeric(20,0)":
			return pgColumn{enc: encNumeric, stage: "numeric"} // BIGINT UNSIGNED
		}
	case "decimal":
		// numeric without its typmod: the value has the column's scale,
		// and storing it checks the precision.
		return pgColumn{enc: encNumeric, stage: "numeric"}
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set":
		// A longer value than varchar(n) holds fails when stored, as it
		// does from a parameter.
		return pgColumn{enc: encString, stage: "text"}
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "vector":
		return pgColumn{enc: encBytes, stage: "bytea"}
	case "datetime":
		return pgColumn{enc: encTimestamp, stage: "timestamp"}
	case "timestamp":
		return pgColumn{enc: encTimestamptz, stage: "timestamptz"}
	}
	p := d.param(c, 1) // "$1::type"
	return pgColumn{enc: encText, stage: "text", cast: p[strings.Index(p, "$1")+2:]}
}

// pgEntry renders a row image as the fields of a binary COPY row
// (entry.text): for each column a 4-byte length (-1: NULL) and the bytes.
func (t *Destination) pgEntry(v *version, row []change.Value, e *entry) error {
	cols := t.pgColumns(v)
	if e.text == nil {
		e.text = make([]byte, 0, v.pgSize) // as long as the last row's
	}
	for i := range row {
		var err error
		if e.text, err = t.pgField(e.text, &v.src.Columns[i], cols[i].enc, &row[i]); err != nil {
			return fmt.Errorf("target %s: table %s column %s: %w", t.name, v.src.FullName(), v.src.Columns[i].Name, err)
		}
	}
	v.pgSize = len(e.text) + len(e.text)/8
	if len(v.key) == 1 {
		switch k := &row[v.key[0]]; k.Kind {
		case change.KindInt:
			e.sortKey, e.sortable = uint64(k.Int)^(1<<63), true
		case change.KindUint:
			e.sortKey, e.sortable = k.Uint, true
		}
	}
	return nil
}

// pgNull is a NULL field.
var pgNull = []byte{0xff, 0xff, 0xff, 0xff}

// pgEpoch is PostgreSQL's epoch, 2000-01-01 UTC, in UNIX seconds.
const pgEpoch = 946684800

// pgField appends the field of value val of column c.
func (t *Destination) pgField(dst []byte, c *change.Column, enc pgEnc, val *change.Value) ([]byte, error) {
	switch val.Kind {
	case change.KindNull:
		return append(dst, pgNull...), nil
	case change.KindMissing:
		_, err := portableArg(c, val)
		return dst, err
	}
	switch enc {
	case encInt2, encInt4, encInt8:
		var n int64
		switch val.Kind {
		case change.KindInt, change.KindYear:
			n = val.Int
		case change.KindUint:
			if val.Uint > math.MaxInt64 {
				return dst, fmt.Errorf("%d does not fit the column", val.Uint)
			}
			n = int64(val.Uint)
		default:
			return dst, fmt.Errorf("a value of kind %d in an integer column", val.Kind)
		}
		switch enc {
		case encInt2:
			if n != int64(int16(n)) {
				return dst, fmt.Errorf("%d does not fit smallint", n)
			}
			return binary.BigEndian.AppendUint16(append(dst, 0, 0, 0, 2), uint16(n)), nil
		case encInt4:
			if n != int64(int32(n)) {
				return dst, fmt.Errorf("%d does not fit integer", n)
			}
			return binary.BigEndian.AppendUint32(append(dst, 0, 0, 0, 4), uint32(n)), nil
		}
		return binary.BigEndian.AppendUint64(append(dst, 0, 0, 0, 8), uint64(n)), nil
	case encString:
		switch val.Kind {
		case change.KindString, change.KindEnum, change.KindSet:
			if bytes.IndexByte(val.Text, 0) >= 0 {
				return dst, fmt.Errorf("the value holds a 0x00 byte, which PostgreSQL text cannot hold")
			}
			return appendPGBytes(dst, val.Text), nil
		}
	case encBytes:
		if val.Kind == change.KindBytes {
			return appendPGBytes(dst, val.Text), nil
		}
	case encNumeric:
		switch val.Kind {
		case change.KindDecimal:
			return appendPGNumeric(dst, val.Text)
		case change.KindUint:
			var digits [20]byte
			return appendPGNumeric(dst, strconv.AppendUint(digits[:0], val.Uint, 10))
		}
	case encTimestamp:
		if val.Kind == change.KindDateTime {
			if zero, err := zeroDate(c, val.Text); zero || err != nil {
				return append(dst, pgNull...), err
			}
			us, err := pgMicros(val.Text)
			if err != nil {
				return dst, err
			}
			return binary.BigEndian.AppendUint64(append(dst, 0, 0, 0, 8), uint64(us)), nil
		}
	case encTimestamptz:
		if val.Kind == change.KindTimestamp {
			if val.Int == 0 && val.Uint == 0 {
				return append(dst, pgNull...), nil // the zero TIMESTAMP
			}
			us := (val.Int-pgEpoch)*1e6 + int64(val.Uint%1e6)
			return binary.BigEndian.AppendUint64(append(dst, 0, 0, 0, 8), uint64(us)), nil
		}
	}
	switch enc {
	case encInt2, encInt4, encInt8, encTimestamp, encTimestamptz:
		// Binary of a fixed layout: nothing but the kinds above has it.
		return dst, fmt.Errorf("a value of kind %d for column type %s", val.Kind, pgColumnOf(t.d, c).stage)
	}
	// Any other value goes as the text the driver argument holds.
	a, err := t.d.arg(c, val)
	if err != nil {
		return dst, err
	}
	switch x := a.(type) {
	case nil:
		return append(dst, pgNull...), nil
	case string:
		switch enc {
		case encBytes:
			return dst, fmt.Errorf("text for bytea")
		case encNumeric:
			return appendPGNumeric(dst, []byte(x))
		}
		return appendPGBytes(dst, []byte(x)), nil
	case []byte:
		if enc == encNumeric {
			return appendPGNumeric(dst, x)
		}
		return appendPGBytes(dst, x), nil
	case int64:
		if enc == encNumeric {
			return appendPGNumeric(dst, strconv.AppendInt(nil, x, 10))
		}
		if enc != encText && enc != encString {
			break
		}
		return appendPGText(dst, func(b []byte) []byte { return strconv.AppendInt(b, x, 10) }), nil
	case float64:
		if enc != encText {
			break
		}
		return appendPGText(dst, func(b []byte) []byte { return strconv.AppendFloat(b, x, 'g', -1, 64) }), nil
	case bool:
		if enc != encText {
			break
		}
		return appendPGText(dst, func(b []byte) []byte { return strconv.AppendBool(b, x) }), nil
	case time.Time:
		if enc != encText {
			break
		}
		return appendPGText(dst, func(b []byte) []byte { return x.UTC().AppendFormat(b, pgInstant) }), nil
	}
	return dst, fmt.Errorf("value of type %T for column type %s", a, pgColumnOf(t.d, c).stage)
}

// pgInstant is how an instant (TIMESTAMP) travels as text: microseconds,
// UTC offset.
const pgInstant = "2006-01-02 15:04:05.999999-07:00"

// appendPGBytes appends a field holding b.
func appendPGBytes(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// appendPGText appends a field holding what f appends.
func appendPGText(dst []byte, f func([]byte) []byte) []byte {
	at := len(dst)
	dst = f(append(dst, 0, 0, 0, 0))
	binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	return dst
}

// appendPGNumeric appends the binary numeric of a decimal number's text
// ("[-]digits[.digits]"): base-10000 digits around the point, the weight of
// the first, the sign and the scale (the digits after the point).
func appendPGNumeric(dst, s []byte) ([]byte, error) {
	text := s
	neg := len(s) > 0 && s[0] == '-'
	if neg || len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	whole, frac := s, []byte(nil)
	if i := bytes.IndexByte(s, '.'); i >= 0 {
		whole, frac = s[:i], s[i+1:]
	}
	if len(whole)+len(frac) == 0 || len(frac) > 16383 {
		return dst, fmt.Errorf("%q is not a decimal number", text)
	}
	for _, c := range whole {
		if c < '0' || c > '9' {
			return dst, fmt.Errorf("%q is not a decimal number", text)
		}
	}
	for _, c := range frac {
		if c < '0' || c > '9' {
			return dst, fmt.Errorf("%q is not a decimal number", text)
		}
	}
	var groups [64]uint16
	digits := groups[:0]
	pad := (4 - len(whole)%4) % 4 // the whole part in groups of 4 from the point
	for i := -pad; i < len(whole); i += 4 {
		g := uint16(0)
		for k := i; k < i+4; k++ {
			g *= 10
			if k >= 0 {
				g += uint16(whole[k] - '0')
			}
		}
		digits = append(digits, g)
	}
	weight := len(digits) - 1
	for i := 0; i < len(frac); i += 4 {
		g := uint16(0)
		for k := i; k < i+4; k++ {
			g *= 10
			if k < len(frac) {
				g += uint16(frac[k] - '0')
			}
		}
		digits = append(digits, g)
	}
	for len(digits) > 0 && digits[0] == 0 {
		digits, weight = digits[1:], weight-1
	}
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	sign := uint16(0)
	switch {
	case len(digits) == 0:
		weight = 0
	case neg:
		sign = 0x4000
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(8+2*len(digits)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(digits)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(weight)))
	dst = binary.BigEndian.AppendUint16(dst, sign)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(frac)))
	for _, g := range digits {
		dst = binary.BigEndian.AppendUint16(dst, g)
	}
	return dst, nil
}

// pgMicros is a DATETIME's text ("YYYY-MM-DD HH:MM:SS[.ffffff]", not a
// zero date) as microseconds since 2000-01-01, PostgreSQL's timestamp. A
// date that does not exist (February 31st, as ALLOW_INVALID_DATES keeps)
// is refused, as PostgreSQL refuses it as text.
func pgMicros(s []byte) (int64, error) {
	bad := func() (int64, error) { return 0, fmt.Errorf("%q is not a valid PostgreSQL timestamp", s) }
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return bad()
	}
	num := func(b []byte) int64 {
		n := int64(0)
		for _, c := range b {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int64(c-'0')
		}
		return n
	}
	y, mo, d := num(s[0:4]), num(s[5:7]), num(s[8:10])
	h, mi, sec := num(s[11:13]), num(s[14:16]), num(s[17:19])
	if y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 {
		return bad()
	}
	us := int64(0)
	if len(s) > 19 {
		f := s[20:]
		if s[19] != '.' || len(f) < 1 || len(f) > 6 {
			return bad()
		}
		if us = num(f); us < 0 {
			return bad()
		}
		for range 6 - len(f) {
			us *= 10
		}
	}
	days := julianDay(y, mo, d) - julianDay(2000, 1, 1)
	return ((days*24+h)*60+mi)*60e6 + sec*1e6 + us, nil
}

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// julianDay is PostgreSQL's date2j: the Julian day of a Gregorian date.
func julianDay(y, m, d int64) int64 {
	if m > 2 {
		m++
		y += 4800
	} else {
		m += 13
		y += 4799
	}
	century := y / 100
	j := y*365 - 32167
	j += y/4 - century + century/4
	return j + 7834*m/256 + d
}

// pgStage is the staging table of rows of v (with the metadata of a mirror
// or of a log): its name, which says its columns, and its definition.
func (t *Destination) pgStage(v *version, appendOnly bool) (name, ddl string) {
	key := "stage\x00" + strconv.FormatBool(appendOnly)
	if ddl, ok := v.sql[key]; ok {
		return v.sql[key+"\x00name"], ddl
	}
	var cols []string
	for i, c := range t.pgColumns(v) {
		cols = append(cols, "c"+strconv.Itoa(i+1)+" "+c.stage)
	}
	for i, m := range pgMeta(appendOnly) {
		cols = append(cols, "m"+strconv.Itoa(i+1)+" "+pgMetaType(m.typ))
	}
	h := fnv.New64a()
	h.Write([]byte(strings.Join(cols, ",")))
	name = "pg_temp.bintap_stage_" + strconv.FormatUint(h.Sum64(), 36)
	ddl = "CREATE TEMPORARY TABLE IF NOT EXISTS %s (" + strings.Join(cols, ", ") + ") ON COMMIT DELETE ROWS"
	if v.sql == nil {
		v.sql = map[string]string{}
	}
	v.sql[key], v.sql[key+"\x00name"] = ddl, name
	return name, ddl
}

func pgMeta(appendOnly bool) []metaColumn {
	if appendOnly {
		return logMeta
	}
	return mirrorMeta
}

// pgMetaType is the staging type of a metadata column.
func pgMetaType(sqlType string) string {
	switch sqlType {
	case "BOOLEAN":
		return "boolean"
	case "BIGINT":
		return "bigint"
	}
	return "text"
}

// pgWriteSQL is the statement that moves rows of v from stage into table.
func (t *Destination) pgWriteSQL(table, stage string, v *version, appendOnly bool) string {
	key := table + "\x00" + stage + "\x00" + strconv.FormatBool(appendOnly)
	if q, ok := v.sql[key]; ok {
		return q
	}
	var names, selects []string
	for i, c := range t.pgColumns(v) {
		names = append(names, t.d.quote(v.names[i]))
		selects = append(selects, "s.c"+strconv.Itoa(i+1)+c.cast)
	}
	for _, e := range v.extra {
		names = append(names, t.d.quote(e))
		selects = append(selects, "NULL")
	}
	for i, m := range pgMeta(appendOnly) {
		names = append(names, t.d.quote(m.name))
		selects = append(selects, "s.m"+strconv.Itoa(i+1))
	}
	q := "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(selects, ", ") + " FROM " + stage + " AS s"
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

// pgCopyData is the binary COPY of rows, with their metadata.
func pgCopyData(rows []*entry, appendOnly bool) []byte {
	fields := len(rows[0].v.src.Columns) + len(pgMeta(appendOnly))
	size := 21
	for _, e := range rows {
		size += 2 + len(e.text) + 80 + len(e.txID)
	}
	b := make([]byte, 0, size)
	b = append(b, "PGCOPY\n\xff\r\n\x00"...)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // flags, header extension
	i8 := func(b []byte, n int64) []byte { return binary.BigEndian.AppendUint64(append(b, 0, 0, 0, 8), uint64(n)) }
	for _, e := range rows {
		b = binary.BigEndian.AppendUint16(b, uint16(fields))
		b = append(b, e.text...)
		if appendOnly {
			b = append(b, 0, 0, 0, 1, e.op)
		}
		if e.deleted {
			b = append(b, 0, 0, 0, 1, 1)
		} else {
			b = append(b, 0, 0, 0, 1, 0)
		}
		b = i8(b, e.tsMs)
		b = appendPGBytes(b, []byte(e.txID))
		b = i8(b, e.order)
		if appendOnly {
			b = i8(b, int64(e.num))
		}
	}
	return append(b, 0xff, 0xff)
}

// pgStageRows copies rows of one version into a staging table of the
// transaction and returns its name.
func (t *Destination) pgStageRows(ctx context.Context, x execer, tg *batch, rows []*entry, appendOnly bool) (string, error) {
	q, ok := x.(*pgQueue)
	if !ok {
		return "", fmt.Errorf("target %s: a PostgreSQL batch needs a PostgreSQL connection, not %T", t.name, x)
	}
	name, ddl := t.pgStage(rows[0].v, appendOnly)
	name += "_" + strconv.Itoa(q.use(name)) // a second batch of the same columns in the transaction
	if !appendOnly && !slices.ContainsFunc(rows, func(e *entry) bool { return !e.sortable }) {
		slices.SortFunc(rows, func(a, b *entry) int {
			switch {
			case a.sortKey < b.sortKey:
				return -1
			case a.sortKey > b.sortKey:
				return 1
			}
			return 0
		})
	}
	create := fmt.Sprintf(ddl, name)
	cp := "COPY " + name + " FROM STDIN (FORMAT binary)"
	return name, q.copy(ctx, create, cp, pgCopyData(rows, appendOnly), t.stmtWrap(tg, create+"; "+cp+" ("+strconv.Itoa(len(rows))+" rows)"))
}

// pgWriteRows writes rows of one version in one statement.
func (t *Destination) pgWriteRows(ctx context.Context, x execer, table string, tg *batch, rows []*entry, appendOnly bool) error {
	stage, err := t.pgStageRows(ctx, x, tg, rows, appendOnly)
	if err != nil {
		return err
	}
	q := t.pgWriteSQL(table, stage, rows[0].v, appendOnly)
	return x.exec(ctx, q, t.stmtWrap(tg, q))
}

// pgDeleteRows removes rows of one version by key in one statement.
func (t *Destination) pgDeleteRows(ctx context.Context, x execer, table string, tg *batch, rows []*entry) error {
	stage, err := t.pgStageRows(ctx, x, tg, rows, false)
	if err != nil {
		return err
	}
	v := rows[0].v
	cols := t.pgColumns(v)
	var keys, selects []string
	for _, i := range v.key {
		keys = append(keys, t.d.quote(v.names[i]))
		selects = append(selects, "s.c"+strconv.Itoa(i+1)+cols[i].cast)
	}
	q := "DELETE FROM " + table + " WHERE (" + strings.Join(keys, ", ") + ") IN (SELECT " + strings.Join(selects, ", ") + " FROM " + stage + " AS s)"
	return x.exec(ctx, q, t.stmtWrap(tg, q))
}
