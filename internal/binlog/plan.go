package binlog

import (
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/bintap/bintap/internal/change"
)

// op is how one column's bytes are read and rendered.
type op uint8

const (
	opInt8 op = iota + 1
	opUint8
	opInt16
	opUint16
	opInt24
	opUint24
	opInt32
	opUint32
	opInt64
	opUint64
	opDecimal
	opFloat
	opDouble
	opBit
	opYear
	opDate
	opTime     // old 3-byte TIME
	opTime2    // TIME2 with fsp
	opDateTime // old 8-byte DATETIME
	opDateTime2
	opTimestamp // old 4-byte TIMESTAMP
	opTimestamp2
	opString    // CHAR/VARCHAR/TEXT: length-prefixed, charset-converted
	opBytes     // VARBINARY/BLOB: length-prefixed raw bytes
	opBinary    // BINARY(n): length-prefixed, re-padded with 0x00
	opEnum      // packlen 1 or 2
	opSet       // 1..8 bytes
	opJSON      // MySQL binary JSON
	opTextJSON  // MariaDB JSON (LONGTEXT): length-prefixed text
	opGeometry  // length-prefixed SRID + WKB
	opUUID      // MariaDB UUID: 16 bytes in the record order
	opInet4     // MariaDB INET4: 4 bytes
	opInet6     // MariaDB INET6: 16 bytes
	opNullField // MYSQL_TYPE_NULL: takes no bytes
	opZipped    // MariaDB COMPRESSED VARCHAR/TEXT/BLOB: length-prefixed, inflated, then as opString/opBytes/opTextJSON by kind
)

// colPlan is the precomputed decoding of one column.
type colPlan struct {
	op      op
	kind    change.Kind
	lenSize int // bytes of the length prefix (strings, blobs, json, geometry)
	size    int // fixed byte size (bit, set, enum packlen, binary pad length)
	prec    int // decimal precision
	scale   int // decimal scale, fractional second digits
	conv    *converter
	members []string
	name    string
	jsonIdx int    // index among the MYSQL_TYPE_JSON columns (partial updates)
	maxLen  uint64 // opZipped: the most bytes a value can hold
}

// stringRealType unpacks the meta of a MYSQL_TYPE_STRING column: the real type
// (STRING, ENUM or SET) and the length (max bytes, ENUM packlen or SET bytes).
func stringRealType(meta uint16) (byte, int) {
	if meta >= 256 {
		b0 := byte(meta >> 8)
		b1 := byte(meta)
		if b0&0x30 != 0x30 {
			return b0 | 0x30, int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
		}
		return b0, int(b1)
	}
	return mysql.MYSQL_TYPE_STRING, int(meta)
}

func typeName(tp byte) string {
	switch tp {
	case mysql.MYSQL_TYPE_DECIMAL:
		return "DECIMAL(old)"
	case mysql.MYSQL_TYPE_TINY:
		return "TINY"
	case mysql.MYSQL_TYPE_SHORT:
		return "SHORT"
	case mysql.MYSQL_TYPE_LONG:
		return "LONG"
	case mysql.MYSQL_TYPE_FLOAT:
		return "FLOAT"
	case mysql.MYSQL_TYPE_DOUBLE:
		return "DOUBLE"
	case mysql.MYSQL_TYPE_NULL:
		return "NULL"
	case mysql.MYSQL_TYPE_TIMESTAMP:
		return "TIMESTAMP"
	case mysql.MYSQL_TYPE_LONGLONG:
		return "LONGLONG"
	case mysql.MYSQL_TYPE_INT24:
		return "INT24"
	case mysql.MYSQL_TYPE_DATE:
		return "DATE"
	case mysql.MYSQL_TYPE_TIME:
		return "TIME"
	case mysql.MYSQL_TYPE_DATETIME:
		return "DATETIME"
	case mysql.MYSQL_TYPE_YEAR:
		return "YEAR"
	case mysql.MYSQL_TYPE_VARCHAR:
		return "VARCHAR"
	case mysql.MYSQL_TYPE_BIT:
		return "BIT"
	case mysql.MYSQL_TYPE_TIMESTAMP2:
		return "TIMESTAMP2"
	case mysql.MYSQL_TYPE_DATETIME2:
		return "DATETIME2"
	case mysql.MYSQL_TYPE_TIME2:
		return "TIME2"
	case mysql.MYSQL_TYPE_JSON:
		return "JSON"
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		return "NEWDECIMAL"
	case mysql.MYSQL_TYPE_ENUM:
		return "ENUM"
	case mysql.MYSQL_TYPE_SET:
		return "SET"
	case mysql.MYSQL_TYPE_BLOB:
		return "BLOB"
	case mysql.MYSQL_TYPE_VAR_STRING:
		return "VAR_STRING"
	case mysql.MYSQL_TYPE_STRING:
		return "STRING"
	case mysql.MYSQL_TYPE_GEOMETRY:
		return "GEOMETRY"
	case mysql.MYSQL_TYPE_VECTOR:
		return "VECTOR"
	case typeBlobCompressed:
		return "BLOB_COMPRESSED"
	case typeVarcharCompressed:
		return "VARCHAR_COMPRESSED"
	}
	return fmt.Sprintf("type %d", tp)
}

// CheckTable reports whether the table definition t matches the TABLE_MAP
// event tm: same column count and, for every column, a binlog type that the
// column's SQL type can produce. The error names the table and the first
// column that does not match.
func CheckTable(tm *replication.TableMapEvent, t *change.Table) error {
	_, err := buildPlans(tm, t)
	return err
}

type mismatchError struct {
	table, column string
	index         int
	msg           string
}

func (e *mismatchError) Error() string {
	if e.column == "" && e.index < 0 {
		return fmt.Sprintf("table %s: definition does not match the binlog TABLE_MAP: %s", e.table, e.msg)
	}
	return fmt.Sprintf("table %s column %d (%s): definition does not match the binlog TABLE_MAP: %s", e.table, e.index+1, e.column, e.msg)
}

func buildPlans(tm *replication.TableMapEvent, t *change.Table) ([]colPlan, error) {
	name := string(tm.Schema) + "." + string(tm.Table)
	if t == nil {
		return nil, &mismatchError{table: name, index: -1, msg: "no table definition"}
	}
	if t.Name != "" {
		name = t.FullName()
	}
	if int(tm.ColumnCount) != len(t.Columns) || len(tm.ColumnType) != len(t.Columns) {
		return nil, &mismatchError{table: name, index: -1,
			msg: fmt.Sprintf("the binlog has %d columns, the definition %d", tm.ColumnCount, len(t.Columns))}
	}
	view, compressed, err := compressedView(tm)
	if err != nil {
		return nil, err
	}
	plans := make([]colPlan, len(t.Columns))
	jsonIdx := 0
	for i := range t.Columns {
		c := &t.Columns[i]
		tp := view.ColumnType[i]
		var meta uint16
		if i < len(view.ColumnMeta) {
			meta = view.ColumnMeta[i]
		}
		var p colPlan
		if compressed != nil && compressed[i] {
			p, err = planCompressed(tp, meta, c)
		} else {
			p, err = planColumn(tp, meta, c)
		}
		if err != nil {
			return nil, &mismatchError{table: name, column: c.Name, index: i, msg: err.Error()}
		}
		p.name = c.Name
		if tp == mysql.MYSQL_TYPE_JSON {
			p.jsonIdx = jsonIdx
			jsonIdx++
		}
		plans[i] = p
	}
	return plans, nil
}

func lenPrefix(maxLen int) int {
	if maxLen < 256 {
		return 1
	}
	return 2
}

func planColumn(tp byte, meta uint16, c *change.Column) (colPlan, error) {
	bt := change.BaseType(c.Type)
	want := func(types ...string) error {
		if bt == "" {
			return nil
		}
		for _, w := range types {
			if bt == w {
				return nil
			}
		}
		return fmt.Errorf("binlog type %s cannot hold a %s column", typeName(tp), c.Type)
	}
	intOp := func(s, u op, types ...string) (colPlan, error) {
		if err := want(types...); err != nil {
			return colPlan{}, err
		}
		if c.Unsigned {
			return colPlan{op: u, kind: change.KindUint}, nil
		}
		return colPlan{op: s, kind: change.KindInt}, nil
	}
	switch tp {
	case mysql.MYSQL_TYPE_TINY:
		return intOp(opInt8, opUint8, "tinyint")
	case mysql.MYSQL_TYPE_SHORT:
		return intOp(opInt16, opUint16, "smallint")
	case mysql.MYSQL_TYPE_INT24:
		return intOp(opInt24, opUint24, "mediumint")
	case mysql.MYSQL_TYPE_LONG:
		return intOp(opInt32, opUint32, "int")
	case mysql.MYSQL_TYPE_LONGLONG:
		return intOp(opInt64, opUint64, "bigint", "serial")
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		if err := want("decimal"); err != nil {
			return colPlan{}, err
		}
		prec, scale := int(meta>>8), int(meta&0xff)
		if prec == 0 || prec > 65 || scale > 30 || scale > prec {
			return colPlan{}, fmt.Errorf("bad DECIMAL(%d,%d) in TABLE_MAP", prec, scale)
		}
		return colPlan{op: opDecimal, kind: change.KindDecimal, prec: prec, scale: scale}, nil
	case mysql.MYSQL_TYPE_FLOAT:
		if err := want("float"); err != nil {
			return colPlan{}, err
		}
		return colPlan{op: opFloat, kind: change.KindFloat}, nil
	case mysql.MYSQL_TYPE_DOUBLE:
		if err := want("double"); err != nil {
			return colPlan{}, err
		}
		return colPlan{op: opDouble, kind: change.KindDouble}, nil
	case mysql.MYSQL_TYPE_BIT:
		if err := want("bit"); err != nil {
			return colPlan{}, err
		}
		nbits := int(meta>>8)*8 + int(meta&0xff)
		n := (nbits + 7) / 8
		if n < 1 || n > 8 {
			return colPlan{}, fmt.Errorf("bad BIT meta %#x", meta)
		}
		return colPlan{op: opBit, kind: change.KindBit, size: n}, nil
	case mysql.MYSQL_TYPE_YEAR:
		if err := want("year"); err != nil {
			return colPlan{}, err
		}
		return colPlan{op: opYear, kind: change.KindYear}, nil
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE:
		if err := want("date"); err != nil {
			return colPlan{}, err
		}
		return colPlan{op: opDate, kind: change.KindDate}, nil
	case mysql.MYSQL_TYPE_TIME:
		if err := want("time"); err != nil {
			return colPlan{}, err
		}
		return colPlan{op: opTime, kind: change.KindTime}, nil
	case mysql.MYSQL_TYPE_TIME2:
		if err := want("time"); err != nil {
			return colPlan{}, err
		}
		if meta > 6 {
			return colPlan{}, fmt.Errorf("bad TIME fsp %d", meta)
		}
		return colPlan{op: opTime2, kind: change.KindTime, scale: int(meta)}, nil
	case mysql.MYSQL_TYPE_DATETIME:
		if err := want("datetime"); err != nil {
			return colPlan{}, err
		}
		return colPlan{op: opDateTime, kind: change.KindDateTime}, nil
	case mysql.MYSQL_TYPE_DATETIME2:
		if err := want("datetime"); err != nil {
			return colPlan{}, err
		}
		if meta > 6 {
			return colPlan{}, fmt.Errorf("bad DATETIME fsp %d", meta)
		}
		return colPlan{op: opDateTime2, kind: change.KindDateTime, scale: int(meta)}, nil
	case mysql.MYSQL_TYPE_TIMESTAMP:
		if err := want("timestamp"); err != nil {
			return colPlan{}, err
		}
		return colPlan{op: opTimestamp, kind: change.KindTimestamp}, nil
	case mysql.MYSQL_TYPE_TIMESTAMP2:
		if err := want("timestamp"); err != nil {
			return colPlan{}, err
		}
		if meta > 6 {
			return colPlan{}, fmt.Errorf("bad TIMESTAMP fsp %d", meta)
		}
		return colPlan{op: opTimestamp2, kind: change.KindTimestamp, scale: int(meta)}, nil
	case mysql.MYSQL_TYPE_NULL:
		return colPlan{op: opNullField, kind: change.KindNull}, nil
	case mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING:
		if err := want("varchar", "varbinary", "char", "binary"); err != nil {
			return colPlan{}, err
		}
		return stringPlan(c, bt == "varbinary" || bt == "binary", lenPrefix(int(meta)))
	case mysql.MYSQL_TYPE_STRING:
		rt, length := stringRealType(meta)
		switch rt {
		case mysql.MYSQL_TYPE_ENUM:
			if err := want("enum"); err != nil {
				return colPlan{}, err
			}
			if length != 1 && length != 2 {
				return colPlan{}, fmt.Errorf("bad ENUM pack length %d", length)
			}
			return colPlan{op: opEnum, kind: change.KindEnum, size: length, members: c.Members}, nil
		case mysql.MYSQL_TYPE_SET:
			if err := want("set"); err != nil {
				return colPlan{}, err
			}
			if length < 1 || length > 8 {
				return colPlan{}, fmt.Errorf("bad SET length %d", length)
			}
			return colPlan{op: opSet, kind: change.KindSet, size: length, members: c.Members}, nil
		case mysql.MYSQL_TYPE_STRING:
			switch bt {
			case "uuid":
				if length != 16 {
					return colPlan{}, fmt.Errorf("UUID column with binlog length %d", length)
				}
				return colPlan{op: opUUID, kind: change.KindUUID, lenSize: 1, size: 16}, nil
			case "inet6":
				if length != 16 {
					return colPlan{}, fmt.Errorf("INET6 column with binlog length %d", length)
				}
				return colPlan{op: opInet6, kind: change.KindInet, lenSize: 1, size: 16}, nil
			case "inet4":
				if length != 4 {
					return colPlan{}, fmt.Errorf("INET4 column with binlog length %d", length)
				}
				return colPlan{op: opInet4, kind: change.KindInet, lenSize: 1, size: 4}, nil
			}
			if err := want("char", "binary", "varchar", "varbinary"); err != nil {
				return colPlan{}, err
			}
			p, err := stringPlan(c, bt == "binary" || bt == "varbinary", lenPrefix(length))
			if err != nil {
				return p, err
			}
			if p.op == opBytes {
				p.op = opBinary
				p.size = length
			}
			return p, nil
		}
		return colPlan{}, fmt.Errorf("binlog STRING column with real type %d", rt)
	case mysql.MYSQL_TYPE_BLOB:
		if meta < 1 || meta > 4 {
			return colPlan{}, fmt.Errorf("bad BLOB pack length %d", meta)
		}
		switch {
		case bt == "json":
			p, err := stringPlan(c, false, int(meta))
			p.op, p.kind = opTextJSON, change.KindJSON
			return p, err
		case change.IsGeometryType(bt):
			return colPlan{op: opGeometry, kind: change.KindGeometry, lenSize: int(meta)}, nil
		case bt == "vector":
			return colPlan{op: opBytes, kind: change.KindBytes, lenSize: int(meta)}, nil
		}
		if err := want("tinyblob", "blob", "mediumblob", "longblob", "tinytext", "text", "mediumtext", "longtext", "long"); err != nil {
			return colPlan{}, err
		}
		return stringPlan(c, strings.HasSuffix(bt, "blob"), int(meta))
	case mysql.MYSQL_TYPE_JSON:
		if err := want("json"); err != nil {
			return colPlan{}, err
		}
		if meta < 1 || meta > 4 {
			return colPlan{}, fmt.Errorf("bad JSON pack length %d", meta)
		}
		return colPlan{op: opJSON, kind: change.KindJSON, lenSize: int(meta)}, nil
	case mysql.MYSQL_TYPE_GEOMETRY:
		if bt != "" && !change.IsGeometryType(bt) {
			return colPlan{}, fmt.Errorf("binlog type GEOMETRY cannot hold a %s column", c.Type)
		}
		if meta < 1 || meta > 4 {
			return colPlan{}, fmt.Errorf("bad GEOMETRY pack length %d", meta)
		}
		return colPlan{op: opGeometry, kind: change.KindGeometry, lenSize: int(meta)}, nil
	case mysql.MYSQL_TYPE_VECTOR:
		if err := want("vector"); err != nil {
			return colPlan{}, err
		}
		return colPlan{op: opBytes, kind: change.KindBytes, lenSize: int(meta)}, nil
	}
	return colPlan{}, fmt.Errorf("unsupported binlog type %s", typeName(tp))
}

// planCompressed plans a MariaDB COMPRESSED column: tp is the plain type in
// its place (VARCHAR or BLOB, see compressedView), meta its metadata.
func planCompressed(tp byte, meta uint16, c *change.Column) (colPlan, error) {
	bt := change.BaseType(c.Type)
	var p colPlan
	var err error
	switch tp {
	case mysql.MYSQL_TYPE_VARCHAR:
		if bt != "" && bt != "varchar" && bt != "varbinary" {
			return colPlan{}, fmt.Errorf("binlog type VARCHAR_COMPRESSED cannot hold a %s column", c.Type)
		}
		if meta < 1 {
			return colPlan{}, fmt.Errorf("bad VARCHAR_COMPRESSED length %d", meta)
		}
		p, err = stringPlan(c, bt == "varbinary", lenPrefix(int(meta)))
		p.maxLen = uint64(meta) // the field length (bytes + 1), which the server checks against
	case mysql.MYSQL_TYPE_BLOB:
		if meta < 1 || meta > 4 {
			return colPlan{}, fmt.Errorf("bad BLOB_COMPRESSED pack length %d", meta)
		}
		switch bt {
		case "", "tinyblob", "blob", "mediumblob", "longblob", "tinytext", "text", "mediumtext", "longtext", "long", "json":
		default:
			return colPlan{}, fmt.Errorf("binlog type BLOB_COMPRESSED cannot hold a %s column", c.Type)
		}
		p, err = stringPlan(c, strings.HasSuffix(bt, "blob"), int(meta))
		if bt == "json" {
			p.kind = change.KindJSON
		}
		p.maxLen = 1<<(8*uint(meta)) - 1
	default:
		return colPlan{}, fmt.Errorf("compressed column with binlog type %s", typeName(tp))
	}
	if err != nil {
		return colPlan{}, err
	}
	p.op = opZipped
	return p, nil
}

// stringPlan is a text or binary column with a lenSize-byte length prefix.
func stringPlan(c *change.Column, binaryType bool, lenSize int) (colPlan, error) {
	cs := strings.ToLower(c.Charset)
	if binaryType || cs == "binary" {
		return colPlan{op: opBytes, kind: change.KindBytes, lenSize: lenSize}, nil
	}
	conv, err := converterFor(cs)
	if err != nil {
		return colPlan{}, err
	}
	return colPlan{op: opString, kind: change.KindString, lenSize: lenSize, conv: conv}, nil
}
