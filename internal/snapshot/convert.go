package snapshot

import (
	"database/sql/driver"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/bintap/bintap/internal/change"
)

// conv is how one column is selected and how its text-protocol value
// becomes a change.Value with exactly the representation the binlog
// decoder gives (DESIGN.md, "Value representation"). The session runs with
// time_zone '+00:00' and utf8mb4 results, so the server already prints most
// types exactly as bintap writes them; the rest is converted here.
type conv struct {
	op      convOp
	kind    change.Kind
	members map[string]int // ENUM: name → 1-based index; SET: name → bit
}

type convOp uint8

const (
	cInt convOp = iota + 1
	cUint
	cDecimal
	cFloat  // selected as CAST(col AS DOUBLE): the server prints a double exactly, a FLOAT with 6 digits only
	cDouble // the server prints the shortest text that round-trips
	cBit    // raw big-endian bytes
	cYear
	cText // bytes as they come: strings (utf8mb4), binary, temporal, JSON, UUID, INET, WKT
	cTimestamp
	cEnum
	cSet
)

// columnConv plans one column: the SELECT expression and its conversion.
func columnConv(c *change.Column) (string, conv, error) {
	q := quoteIdent(c.Name)
	bt := change.BaseType(c.Type)
	switch bt {
	case "tinyint", "smallint", "mediumint", "int", "bigint", "serial":
		if c.Unsigned || bt == "serial" {
			return q, conv{op: cUint, kind: change.KindUint}, nil
		}
		return q, conv{op: cInt, kind: change.KindInt}, nil
	case "decimal":
		return q, conv{op: cDecimal, kind: change.KindDecimal}, nil
	case "float":
		return "CAST(" + q + " AS DOUBLE)", conv{op: cFloat, kind: change.KindFloat}, nil
	case "double":
		return q, conv{op: cDouble, kind: change.KindDouble}, nil
	case "bit":
		return q, conv{op: cBit, kind: change.KindBit}, nil
	case "year":
		return q, conv{op: cYear, kind: change.KindYear}, nil
	case "date":
		return q, conv{op: cText, kind: change.KindDate}, nil
	case "time":
		return q, conv{op: cText, kind: change.KindTime}, nil
	case "datetime":
		return q, conv{op: cText, kind: change.KindDateTime}, nil
	case "timestamp":
		return q, conv{op: cTimestamp, kind: change.KindTimestamp}, nil
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "long":
		if strings.EqualFold(c.Charset, "binary") {
			return q, conv{op: cText, kind: change.KindBytes}, nil
		}
		return q, conv{op: cText, kind: change.KindString}, nil
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "vector":
		return q, conv{op: cText, kind: change.KindBytes}, nil
	case "enum", "set":
		m := make(map[string]int, len(c.Members))
		for i, name := range c.Members {
			if bt == "enum" {
				m[name] = i + 1
			} else {
				m[name] = i
			}
		}
		if bt == "enum" {
			return q, conv{op: cEnum, kind: change.KindEnum, members: m}, nil
		}
		return q, conv{op: cSet, kind: change.KindSet, members: m}, nil
	case "json":
		return q, conv{op: cText, kind: change.KindJSON}, nil
	case "uuid":
		return q, conv{op: cText, kind: change.KindUUID}, nil
	case "inet4", "inet6":
		return q, conv{op: cText, kind: change.KindInet}, nil
	}
	if change.IsGeometryType(bt) {
		return "ST_AsText(" + q + ")", conv{op: cText, kind: change.KindGeometry}, nil
	}
	return "", conv{}, fmt.Errorf("column %s: type %s is not supported by snapshots", c.Name, c.Type)
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// str views b as a string without copying, for parsers that keep nothing.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// converter turns rows of one table into values.
type converter struct {
	convs []conv
	loc   *time.Location // nil for UTC
	arena []byte         // text made here (re-zoned timestamps), reused per row
}

// value converts one column as the driver returned it in the text
// protocol: nil for NULL, int64/uint64 for integer types, float64 for
// DOUBLE, []byte for the rest. Text may point into the driver's buffer
// (valid until the next row) or into the converter's arena.
func (cv *converter) value(i int, dv driver.Value, v *change.Value) error {
	c := &cv.convs[i]
	switch x := dv.(type) {
	case nil:
		*v = change.Value{Kind: change.KindNull}
		return nil
	case int64:
		*v = change.Value{Kind: c.kind}
		switch c.op {
		case cInt, cYear:
			v.Int = x
		case cUint:
			v.Uint = uint64(x)
		default:
			return fmt.Errorf("integer %d for a %v column", x, c.kind)
		}
		return nil
	case uint64:
		*v = change.Value{Kind: c.kind, Uint: x}
		if c.op != cUint {
			return fmt.Errorf("integer %d for a %v column", x, c.kind)
		}
		return nil
	case float64:
		*v = change.Value{Kind: c.kind, Float: x}
		switch c.op {
		case cFloat:
			v.Float = float64(float32(x))
		case cDouble:
		default:
			return fmt.Errorf("float %v for a %v column", x, c.kind)
		}
		return nil
	case []byte:
		return cv.text(c, x, v)
	}
	return fmt.Errorf("unexpected driver value %T", dv)
}

// cell converts one column of a view connection's row: NULL, a number the
// binary protocol sent, or text.
func (cv *converter) cell(c *conv, cl *cell, v *change.Value) error {
	switch cl.num {
	case 0:
		if cl.text == nil {
			*v = change.Value{Kind: change.KindNull}
			return nil
		}
		return cv.text(c, cl.text, v)
	case numInt:
		*v = change.Value{Kind: c.kind}
		switch c.op {
		case cInt, cYear:
			v.Int = cl.i
		case cUint:
			v.Uint = uint64(cl.i)
		default:
			return fmt.Errorf("integer %d for a %v column", cl.i, c.kind)
		}
	case numUint:
		*v = change.Value{Kind: c.kind}
		switch c.op {
		case cUint:
			v.Uint = cl.u
		case cInt, cYear:
			if cl.u > math.MaxInt64 {
				return fmt.Errorf("integer %d for a %v column", cl.u, c.kind)
			}
			v.Int = int64(cl.u)
		default:
			return fmt.Errorf("integer %d for a %v column", cl.u, c.kind)
		}
	case numFloat:
		*v = change.Value{Kind: c.kind, Float: cl.f}
		switch c.op {
		case cFloat:
			v.Float = float64(float32(cl.f))
		case cDouble:
		default:
			return fmt.Errorf("float %v for a %v column", cl.f, c.kind)
		}
	}
	return nil
}

// text converts a value given as the text the server sent (the driver left
// it as bytes, or a view connection read it from the packet).
func (cv *converter) text(c *conv, raw []byte, v *change.Value) error {
	*v = change.Value{Kind: c.kind}
	switch c.op {
	case cInt, cYear:
		n, err := strconv.ParseInt(str(raw), 10, 64)
		if err != nil {
			return err
		}
		v.Int = n
	case cUint:
		n, err := strconv.ParseUint(str(raw), 10, 64)
		if err != nil {
			return err
		}
		v.Uint = n
	case cDecimal:
		// ZEROFILL columns print leading zeros; the binlog has none.
		for len(raw) > 1 && raw[0] == '0' && raw[1] >= '0' && raw[1] <= '9' {
			raw = raw[1:]
		}
		v.Text = raw
	case cFloat, cDouble:
		f, err := strconv.ParseFloat(str(raw), 64)
		if err != nil {
			return err
		}
		if c.op == cFloat {
			f = float64(float32(f))
		}
		v.Float = f
	case cBit:
		var u uint64
		for _, b := range raw {
			u = u<<8 | uint64(b)
		}
		v.Uint = u
	case cText:
		v.Text = raw
	case cTimestamp:
		return cv.timestamp(raw, v)
	case cEnum:
		v.Text = raw
		v.Int = int64(c.members[string(raw)]) // the empty error value is index 0
	case cSet:
		v.Text = raw
		for len(raw) > 0 {
			j := 0
			for j < len(raw) && raw[j] != ',' {
				j++
			}
			if bit, ok := c.members[string(raw[:j])]; ok {
				v.Uint |= 1 << uint(bit)
			}
			if j == len(raw) {
				break
			}
			raw = raw[j+1:]
		}
	default:
		return fmt.Errorf("no conversion for op %d", c.op)
	}
	return nil
}

// timestamp takes the UTC text the session prints ("YYYY-MM-DD HH:MM:SS[.f]")
// and fills UNIX seconds and microseconds as the binlog decoder does; in
// another --timezone the text is re-rendered in that zone.
func (cv *converter) timestamp(raw []byte, v *change.Value) error {
	s := str(raw)
	if strings.HasPrefix(s, "0000-00-00") {
		v.Text = raw // the zero timestamp (UNIX 0 in the binlog)
		return nil
	}
	if len(s) < 19 {
		return fmt.Errorf("TIMESTAMP value %q", s)
	}
	t, err := time.Parse("2006-01-02 15:04:05", s[:19])
	if err != nil {
		return fmt.Errorf("TIMESTAMP value %q: %w", s, err)
	}
	usec := 0
	if len(s) > 20 {
		frac := s[20:]
		n, err := strconv.Atoi(frac)
		if err != nil {
			return fmt.Errorf("TIMESTAMP value %q", s)
		}
		for i := len(frac); i < 6; i++ {
			n *= 10
		}
		usec = n
	}
	sec := t.Unix()
	v.Int = sec
	v.Uint = uint64(sec)*1000000 + uint64(usec)
	if cv.loc == nil {
		v.Text = raw
		return nil
	}
	start := len(cv.arena)
	cv.arena = t.In(cv.loc).AppendFormat(cv.arena, "2006-01-02 15:04:05")
	cv.arena = append(cv.arena, s[19:]...)
	v.Text = cv.arena[start:len(cv.arena):len(cv.arena)]
	return nil
}

// keyLiteral renders a primary-key value (as the text protocol returned it)
// as a SQL literal that compares with the column the way ORDER BY sorts it.
// ok is false for key types keyset pagination cannot follow safely.
func keyLiteral(c *change.Column, raw []byte) (string, bool) {
	bt := change.BaseType(c.Type)
	switch bt {
	case "tinyint", "smallint", "mediumint", "int", "bigint", "serial", "decimal", "year":
		// Unquoted: a quoted number would be compared as a double.
		for _, b := range raw {
			if !(b >= '0' && b <= '9' || b == '-' || b == '.') {
				return "", false
			}
		}
		return string(raw), true
	case "date", "time", "datetime", "timestamp", "uuid", "inet4", "inet6":
		for _, b := range raw {
			if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' || b == '-' || b == '.' || b == ':' || b == ' ') {
				return "", false
			}
		}
		return "'" + string(raw) + "'", true
	case "char", "varchar":
		if strings.EqualFold(c.Charset, "binary") {
			return "X'" + hexOf(raw) + "'", true
		}
		// A coercible literal: the comparison takes the column's collation,
		// as ORDER BY does.
		return "_utf8mb4 X'" + hexOf(raw) + "'", true
	case "binary", "varbinary":
		return "X'" + hexOf(raw) + "'", true
	}
	return "", false
}

// keyable reports whether keyset pagination works on a column type.
func keyable(c *change.Column) bool {
	_, ok := keyLiteral(c, []byte("0"))
	return ok
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}
