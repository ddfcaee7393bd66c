package files

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strconv"
	"strings"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding"
)

// Parquet files of change records (docs/files.md, "Parquet types").
//
// A file holds one table version: its columns, all optional, with logical
// types that keep every value exact, then the six change columns and
// __missing. Rows go to parquet-go as parquet.Row values built in reused
// slices (no reflection, no per-value allocation); a row group is cut every
// parquetGroupRows rows or parquetGroupBytes bytes of values, so a writer
// holds at most one row group.

const (
	parquetGroupRows  = 64 * 1024
	parquetGroupBytes = 64 << 20
	// parquetBatch is how many rows are handed to parquet-go at once.
	parquetBatch = 256
)

// The change columns that follow the table's columns, in this order.
var parquetMetaColumns = [...]string{"__op", "__deleted", "__ts_ms", "__transaction_id", "__transaction_order", "__event_number", "__missing"}

// pqKind is how one source column is held.
type pqKind uint8

const (
	pqInt32        pqKind = iota // INT(8|16|32, signed), from KindInt
	pqInt64                      // INT(64, signed), from KindInt
	pqUint32                     // UINT(8|16|32), from KindUint
	pqUint64                     // UINT(64), from KindUint
	pqBit                        // UINT(64), from KindBit
	pqYear                       // INT(16), from KindYear
	pqFloat                      // FLOAT, from KindFloat
	pqDouble                     // DOUBLE, from KindDouble
	pqDecimal32                  // DECIMAL on INT32 (precision ≤ 9)
	pqDecimal64                  // DECIMAL on INT64 (precision ≤ 18)
	pqDecimalFixed               // DECIMAL on FIXED_LEN_BYTE_ARRAY (precision 19 to 38)
	pqDecimalText                // STRING: the exact digits (precision > 38)
	pqDate                       // DATE (days), from KindDate text
	pqDateTime                   // TIMESTAMP(MICROS, local), from KindDateTime text
	pqTimestamp                  // TIMESTAMP(MICROS, UTC), from KindTimestamp Int/Uint
	pqTime                       // STRING: KindTime text (a duration: -838:59:59 to 838:59:59)
	pqString                     // STRING: text kinds
	pqJSON                       // JSON
	pqBytes                      // BYTE_ARRAY: KindBytes
)

// pqColumn is one source column of a file.
type pqColumn struct {
	col  *change.Column
	kind pqKind
	// value is the change.Kind the column's values have.
	value change.Kind
	// scale is a DECIMAL's scale or the fractional digits of a temporal type;
	// size is a FIXED_LEN_BYTE_ARRAY DECIMAL's length in bytes.
	scale, size int
}

// parquetLayout maps the columns of t to Parquet columns and builds the
// file's schema.
func parquetLayout(t *change.Table) ([]pqColumn, *parquet.Schema, error) {
	cols := make([]pqColumn, len(t.Columns))
	fields := make(pqGroup, 0, len(t.Columns)+len(parquetMetaColumns))
	seen := make(map[string]bool, len(t.Columns))
	for i := range t.Columns {
		c := &t.Columns[i]
		if seen[c.Name] || strings.HasPrefix(c.Name, "__") && isMetaColumn(c.Name) {
			return nil, nil, fmt.Errorf("table %s: column name %q appears twice in the Parquet schema", t.FullName(), c.Name)
		}
		seen[c.Name] = true
		pc, node, err := parquetColumn(c)
		if err != nil {
			return nil, nil, fmt.Errorf("table %s: %w", t.FullName(), err)
		}
		cols[i] = pc
		fields = append(fields, pqField{parquet.Optional(node), c.Name})
	}
	fields = append(fields,
		pqField{parquet.String(), "__op"},
		pqField{parquet.Leaf(parquet.BooleanType), "__deleted"},
		pqField{parquet.Int(64), "__ts_ms"},
		pqField{parquet.String(), "__transaction_id"},
		pqField{parquet.Int(64), "__transaction_order"},
		pqField{parquet.Int(64), "__event_number"},
		pqField{parquet.Optional(parquet.JSON()), "__missing"},
	)
	return cols, parquet.NewSchema(t.Name, fields), nil
}

func isMetaColumn(name string) bool {
	for _, m := range parquetMetaColumns {
		if m == name {
			return true
		}
	}
	return false
}

// parquetColumn is how column c is held, and its Parquet node (required:
// the caller makes it optional).
func parquetColumn(c *change.Column) (pqColumn, parquet.Node, error) {
	p := pqColumn{col: c}
	intNode := func(bits int) parquet.Node {
		switch {
		case c.Unsigned && bits == 64:
			p.kind, p.value = pqUint64, change.KindUint
		case c.Unsigned:
			p.kind, p.value = pqUint32, change.KindUint
		case bits == 64:
			p.kind, p.value = pqInt64, change.KindInt
		default:
			p.kind, p.value = pqInt32, change.KindInt
		}
		if c.Unsigned {
			return parquet.Uint(bits)
		}
		return parquet.Int(bits)
	}
	fsp := min(max(c.Scale, 0), 6)
	var node parquet.Node
	switch t := parquetSourceType(c); t {
	case "tinyint":
		node = intNode(8)
	case "smallint":
		node = intNode(16)
	case "mediumint", "int":
		node = intNode(32)
	case "bigint", "serial":
		node = intNode(64)
	case "bit":
		if c.Length < 1 || c.Length > 64 {
			return p, nil, fmt.Errorf("column %s: bit(%d) is not a valid length (1 to 64)", c.Name, c.Length)
		}
		p.kind, p.value, node = pqBit, change.KindBit, parquet.Uint(64)
	case "year":
		p.kind, p.value, node = pqYear, change.KindYear, parquet.Int(16)
	case "float":
		p.kind, p.value, node = pqFloat, change.KindFloat, parquet.Leaf(parquet.FloatType)
	case "double":
		p.kind, p.value, node = pqDouble, change.KindDouble, parquet.Leaf(parquet.DoubleType)
	case "decimal":
		if c.Precision < 1 || c.Precision > 65 || c.Scale < 0 || c.Scale > c.Precision {
			return p, nil, fmt.Errorf("column %s: decimal(%d,%d) is not a valid precision and scale (precision 1 to 65, scale 0 to the precision)", c.Name, c.Precision, c.Scale)
		}
		p.value, p.scale = change.KindDecimal, c.Scale
		switch {
		case c.Precision <= 9:
			p.kind, node = pqDecimal32, parquet.Decimal(c.Scale, c.Precision, parquet.Int32Type)
		case c.Precision <= 18:
			p.kind, node = pqDecimal64, parquet.Decimal(c.Scale, c.Precision, parquet.Int64Type)
		case c.Precision <= 38:
			p.kind, p.size = pqDecimalFixed, decimalBytes(c.Precision)
			node = parquet.Decimal(c.Scale, c.Precision, parquet.FixedLenByteArrayType(p.size))
		default:
			// Parquet allows any precision, but readers do not: DuckDB reads
			// a DECIMAL wider than 38 digits as DOUBLE (losing digits), Spark
			// and Arrow refuse it. The exact text is what every reader keeps.
			p.kind, node = pqDecimalText, parquet.String()
		}
	case "date":
		p.kind, p.value, node = pqDate, change.KindDate, parquet.Date()
	case "datetime":
		p.kind, p.value, p.scale = pqDateTime, change.KindDateTime, fsp
		node = parquet.TimestampAdjusted(parquet.Microsecond, false)
	case "timestamp":
		p.kind, p.value, p.scale = pqTimestamp, change.KindTimestamp, fsp
		node = parquet.TimestampAdjusted(parquet.Microsecond, true)
	case "time":
		// A MySQL TIME is a duration of up to ±838:59:59, not a time of day:
		// Parquet's TIME holds 00:00:00 to 24:00:00 only, and readers fail
		// on other values (DuckDB stops with an internal error), so the
		// column holds the exact text.
		p.kind, p.value, p.scale = pqTime, change.KindTime, fsp
		node = parquet.String()
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		p.kind, p.value, node = pqString, change.KindString, parquet.String()
	case "enum":
		p.kind, p.value, node = pqString, change.KindEnum, parquet.String()
	case "set":
		p.kind, p.value, node = pqString, change.KindSet, parquet.String()
	case "uuid":
		p.kind, p.value, node = pqString, change.KindUUID, parquet.String()
	case "inet4", "inet6":
		p.kind, p.value, node = pqString, change.KindInet, parquet.String()
	case "geometry":
		p.kind, p.value, node = pqString, change.KindGeometry, parquet.String()
	case "json":
		p.kind, p.value, node = pqJSON, change.KindJSON, parquet.JSON()
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "vector":
		p.kind, p.value, node = pqBytes, change.KindBytes, parquet.Leaf(parquet.ByteArrayType)
	default:
		return p, nil, fmt.Errorf("column %s: type %s has no Parquet type", c.Name, c.Type)
	}
	return p, node, nil
}

// parquetSourceType is c's base type as the binlog decoder reads it: a
// character type of the binary character set is the binary type it really
// is, and every spatial type is "geometry".
func parquetSourceType(c *change.Column) string {
	t := change.BaseType(c.Type)
	switch {
	case t == "long":
		t = "mediumtext"
	case change.IsGeometryType(t):
		return "geometry"
	}
	if strings.EqualFold(c.Charset, "binary") {
		switch t {
		case "char":
			return "binary"
		case "varchar":
			return "varbinary"
		case "tinytext", "text", "mediumtext", "longtext":
			return strings.TrimSuffix(t, "text") + "blob"
		}
	}
	return t
}

// decimalBytes is the length of the smallest two's complement integer that
// holds every unscaled value of a DECIMAL of precision p.
func decimalBytes(p int) int {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil)
	for n := 1; ; n++ {
		if new(big.Int).Lsh(big.NewInt(1), uint(8*n-1)).Cmp(limit) >= 0 {
			return n
		}
	}
}

// pqGroup is the schema's root: its fields in the order given (parquet.Group
// would sort them by name).
type pqGroup []parquet.Field

func (g pqGroup) ID() int                     { return 0 }
func (g pqGroup) String() string              { return parquet.NewSchema("", g).String() }
func (g pqGroup) Type() parquet.Type          { return parquet.Group(nil).Type() }
func (g pqGroup) Optional() bool              { return false }
func (g pqGroup) Repeated() bool              { return false }
func (g pqGroup) Required() bool              { return true }
func (g pqGroup) Leaf() bool                  { return false }
func (g pqGroup) Fields() []parquet.Field     { return g }
func (g pqGroup) Encoding() encoding.Encoding { return nil }
func (g pqGroup) Compression() compress.Codec { return nil }
func (g pqGroup) GoType() reflect.Type        { return reflect.TypeOf(parquet.Row(nil)) }

// pqField is a named field of pqGroup. Rows are written as parquet.Row
// values, never from Go values, so Value is not used.
type pqField struct {
	parquet.Node
	name string
}

func (f pqField) Name() string                      { return f.name }
func (f pqField) Value(reflect.Value) reflect.Value { return reflect.Value{} }

// parquetCodec compresses every column: zstd at its fastest level. On the
// 10-column rows of BenchmarkWriteParquet it wrote 28.5 bytes a row for
// 1.2 µs of CPU a row, against 47.8 bytes and 0.9 µs for snappy and 17.9
// bytes and 1.75 µs for zstd's default level (docs/files.md).
var parquetCodec compress.Codec = &zstd.Codec{Level: zstd.SpeedFastest, Concurrency: 1}

// writeParquet writes one Parquet file of table version t to w: the records
// next returns, in order, until it returns (nil, nil). Columns: t's columns
// (all optional) then __op, __deleted, __ts_ms, __transaction_id,
// __transaction_order, __event_number and __missing (the names of the
// columns absent from a MINIMAL/NOBLOB row image, as a JSON array; NULL when
// the image is full). The same records always make the same bytes.
func writeParquet(w io.Writer, t *change.Table, next func() (*Record, error)) error {
	cols, schema, err := parquetLayout(t)
	if err != nil {
		return err
	}
	cfg := parquet.DefaultWriterConfig()
	cfg.CreatedBy = "bintap"
	cfg.Schema = schema
	cfg.Compression = parquetCodec
	cfg.MaxRowsPerRowGroup = parquetGroupRows
	pw := parquet.NewWriter(w, cfg)
	e := parquetEncoder{cols: cols, width: len(cols) + len(parquetMetaColumns)}
	for {
		rec, err := next()
		if err != nil {
			return err
		}
		if rec == nil {
			break
		}
		if err := e.add(rec); err != nil {
			return fmt.Errorf("table %s: %w", t.FullName(), err)
		}
		if e.n == parquetBatch || e.groupBytes+len(e.arena) >= parquetGroupBytes {
			if err := e.flush(pw); err != nil {
				return err
			}
		}
	}
	if err := e.flush(pw); err != nil {
		return err
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	return nil
}

// parquetEncoder turns records into rows of parquet values. A record's
// values are valid only until the next record is asked for, so the bytes a
// row points to are copied into arena until the batch is written.
type parquetEncoder struct {
	cols  []pqColumn
	width int
	// vals holds the values of the batch's rows, rows the rows (slices of
	// vals); n rows are pending.
	vals  []parquet.Value
	rows  []parquet.Row
	n     int
	arena []byte
	// spans are the arena offsets of byte values, resolved when the batch is
	// written (the arena may move while it grows).
	spans []pqSpan
	// groupRows and groupBytes count what the current row group holds.
	groupRows, groupBytes int
	missing               []string
}

type pqSpan struct {
	val        int // index in vals
	start, end int
	fixed      bool
	def, col   int // the value's definition level and column
}

func (e *parquetEncoder) add(rec *Record) error {
	if e.vals == nil {
		e.vals = make([]parquet.Value, 0, parquetBatch*e.width)
		e.rows = make([]parquet.Row, parquetBatch)
	}
	base := len(e.vals)
	e.missing = e.missing[:0]
	for i := range e.cols {
		var v *change.Value
		if i < len(rec.Row) {
			v = &rec.Row[i]
		}
		if v != nil && v.Kind == change.KindMissing {
			e.missing = append(e.missing, e.cols[i].col.Name)
			v = nil
		}
		if err := e.value(i, v); err != nil {
			return err
		}
	}
	c := len(e.cols)
	start := len(e.arena)
	e.arena = append(e.arena, rec.Op)
	e.span(c, start, false, 0)
	e.put(parquet.BooleanValue(rec.Deleted), 0, c+1)
	e.put(parquet.Int64Value(rec.TsMs), 0, c+2)
	start = len(e.arena)
	e.arena = append(e.arena, rec.TxID...)
	e.span(c+3, start, false, 0)
	e.put(parquet.Int64Value(rec.Order), 0, c+4)
	e.put(parquet.Int64Value(int64(rec.Event)), 0, c+5)
	if len(e.missing) == 0 {
		e.put(parquet.NullValue(), 0, c+6)
	} else {
		j, err := json.Marshal(e.missing)
		if err != nil {
			return err
		}
		start = len(e.arena)
		e.arena = append(e.arena, j...)
		e.span(c+6, start, false, 1)
	}
	e.rows[e.n] = e.vals[base:len(e.vals):len(e.vals)]
	e.n++
	return nil
}

// span appends a byte array value of column i at definition level def:
// the arena from start on.
func (e *parquetEncoder) span(i, start int, fixed bool, def int) {
	e.spans = append(e.spans, pqSpan{val: len(e.vals), start: start, end: len(e.arena), fixed: fixed, def: def, col: i})
	e.vals = append(e.vals, parquet.Value{})
}

// put appends v as column col's value at definition level def (setting the
// levels in place: Value.Level is not inlined).
func (e *parquetEncoder) put(v parquet.Value, def, col int) {
	e.vals = append(e.vals, v)
	p := &e.vals[len(e.vals)-1]
	p.SetDefinitionLevel(def)
	p.SetColumnIndex(col)
}

// value appends column i's value v (nil for NULL or absent).
func (e *parquetEncoder) value(i int, v *change.Value) error {
	p := &e.cols[i]
	if v == nil || v.Kind == change.KindNull {
		e.put(parquet.NullValue(), 0, i)
		return nil
	}
	if v.Kind != p.value {
		return fmt.Errorf("column %s: a value of kind %d in a %s column (kind %d expected)", p.col.Name, v.Kind, p.col.Type, p.value)
	}
	var pv parquet.Value
	switch p.kind {
	case pqInt32:
		pv = parquet.Int32Value(int32(v.Int))
	case pqInt64:
		pv = parquet.Int64Value(v.Int)
	case pqUint32:
		pv = parquet.Int32Value(int32(uint32(v.Uint)))
	case pqUint64, pqBit:
		pv = parquet.Int64Value(int64(v.Uint))
	case pqYear:
		pv = parquet.Int32Value(int32(v.Int))
	case pqFloat:
		pv = parquet.FloatValue(float32(v.Float))
	case pqDouble:
		pv = parquet.DoubleValue(v.Float)
	case pqDecimal32, pqDecimal64:
		u, err := parseDecimal64(v.Text, p.scale, p.col.Precision)
		if err != nil {
			return fmt.Errorf("column %s: %w", p.col.Name, err)
		}
		if p.kind == pqDecimal32 {
			pv = parquet.Int32Value(int32(u))
		} else {
			pv = parquet.Int64Value(u)
		}
	case pqDecimalFixed:
		start := len(e.arena)
		for range p.size {
			e.arena = append(e.arena, 0)
		}
		if err := parseDecimalFixed(e.arena[start:], v.Text, p.scale, p.col.Precision); err != nil {
			e.arena = e.arena[:start]
			return fmt.Errorf("column %s: %w", p.col.Name, err)
		}
		e.span(i, start, true, 1)
		return nil
	case pqDate:
		d, ok, err := parseDate(v.Text)
		if err != nil {
			return fmt.Errorf("column %s: %w", p.col.Name, err)
		}
		if !ok { // a zero date, or one with a zero month or day: NULL
			e.put(parquet.NullValue(), 0, i)
			return nil
		}
		pv = parquet.Int32Value(int32(d))
	case pqDateTime:
		us, ok, err := parseDateTime(v.Text)
		if err != nil {
			return fmt.Errorf("column %s: %w", p.col.Name, err)
		}
		if !ok {
			e.put(parquet.NullValue(), 0, i)
			return nil
		}
		pv = parquet.Int64Value(us)
	case pqTimestamp:
		if v.Int == 0 && v.Uint == 0 { // the zero TIMESTAMP: NULL
			e.put(parquet.NullValue(), 0, i)
			return nil
		}
		pv = parquet.Int64Value(v.Int*1e6 + int64(v.Uint%1e6))
	case pqTime, pqDecimalText:
		var err error
		if p.kind == pqTime {
			_, err = parseTime(v.Text)
		} else {
			err = checkDecimal(v.Text, p.scale, p.col.Precision)
		}
		if err != nil {
			return fmt.Errorf("column %s: %w", p.col.Name, err)
		}
		start := len(e.arena)
		e.arena = append(e.arena, v.Text...)
		e.span(i, start, false, 1)
		return nil
	case pqString, pqJSON, pqBytes:
		start := len(e.arena)
		if p.value == change.KindGeometry && v.Int != 0 {
			e.arena = append(e.arena, "SRID="...)
			e.arena = strconv.AppendInt(e.arena, v.Int, 10)
			e.arena = append(e.arena, ';')
		}
		e.arena = append(e.arena, v.Text...)
		e.span(i, start, false, 1)
		return nil
	}
	e.put(pv, 1, i)
	return nil
}

// flush writes the pending rows, and ends the row group when it is full.
func (e *parquetEncoder) flush(pw *parquet.Writer) error {
	if e.n == 0 {
		return nil
	}
	for _, s := range e.spans {
		v := &e.vals[s.val]
		b := e.arena[s.start:s.end:s.end]
		if s.fixed {
			*v = parquet.FixedLenByteArrayValue(b)
		} else {
			*v = parquet.ByteArrayValue(b)
		}
		v.SetDefinitionLevel(s.def)
		v.SetColumnIndex(s.col)
	}
	if _, err := pw.WriteRows(e.rows[:e.n]); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	e.groupRows += e.n
	e.groupBytes += len(e.arena) + 8*len(e.vals)
	if e.groupRows >= parquetGroupRows || e.groupBytes >= parquetGroupBytes {
		if err := pw.Flush(); err != nil {
			return fmt.Errorf("write parquet: %w", err)
		}
		e.groupRows, e.groupBytes = 0, 0
	}
	e.n = 0
	e.vals = e.vals[:0]
	e.spans = e.spans[:0]
	e.arena = e.arena[:0]
	return nil
}

// readParquet calls fn for every record of a file written by writeParquet,
// in order, with values of the kinds the binlog decoder produces: a
// TIMESTAMP has Int, Uint and Text (UTC, with the column's fractional
// digits), a DECIMAL its exact text, a DATE "YYYY-MM-DD", a column absent
// from the row image KindMissing. The Record and its Row are valid only
// during fn.
func readParquet(r io.ReaderAt, size int64, t *change.Table, fn func(*Record) error) error {
	cols, _, err := parquetLayout(t)
	if err != nil {
		return err
	}
	f, err := parquet.OpenFile(r, size)
	if err != nil {
		return fmt.Errorf("read parquet: %w", err)
	}
	leaves := f.Schema().Columns()
	width := len(cols) + len(parquetMetaColumns)
	if len(leaves) != width {
		return fmt.Errorf("read parquet: the file has %d columns, table %s version %d has %d (and %d change columns)", len(leaves), t.FullName(), t.Version, len(cols), len(parquetMetaColumns))
	}
	for i, path := range leaves {
		want := ""
		if i < len(cols) {
			want = cols[i].col.Name
		} else {
			want = parquetMetaColumns[i-len(cols)]
		}
		if len(path) != 1 || path[0] != want {
			return fmt.Errorf("read parquet: column %d is %q, table %s version %d has %q there", i+1, strings.Join(path, "."), t.FullName(), t.Version, want)
		}
	}
	d := parquetDecoder{cols: cols, row: make([]change.Value, len(cols))}
	buf := make([]parquet.Row, 128)
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				if len(row) != width {
					rows.Close()
					return fmt.Errorf("read parquet: a row of %d values, %d expected", len(row), width)
				}
				if err := d.record(row); err != nil {
					rows.Close()
					return err
				}
				if err := fn(&d.rec); err != nil {
					rows.Close()
					return err
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return fmt.Errorf("read parquet: %w", err)
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("read parquet: %w", err)
		}
	}
	return nil
}

type parquetDecoder struct {
	cols  []pqColumn
	row   []change.Value
	rec   Record
	arena []byte
	// texts are the arena spans of row's Text values, set when the row is
	// complete (the arena may move while it grows).
	texts   []pqSpan
	missing []string
}

func (d *parquetDecoder) record(row parquet.Row) error {
	d.arena, d.texts = d.arena[:0], d.texts[:0]
	c := len(d.cols)
	for i := range d.cols {
		if err := d.value(i, row[i]); err != nil {
			return err
		}
	}
	if m := row[c+6]; !m.IsNull() {
		d.missing = d.missing[:0]
		if err := json.Unmarshal(m.ByteArray(), &d.missing); err != nil {
			return fmt.Errorf("read parquet: __missing %q: %w", m.ByteArray(), err)
		}
		for _, name := range d.missing {
			found := false
			for i := range d.cols {
				if d.cols[i].col.Name == name {
					d.row[i] = change.Value{Kind: change.KindMissing}
					found = true
				}
			}
			if !found {
				return fmt.Errorf("read parquet: __missing names column %q, which the table does not have", name)
			}
		}
	}
	for _, s := range d.texts {
		d.row[s.val].Text = d.arena[s.start:s.end:s.end]
	}
	op := row[c].ByteArray()
	if len(op) != 1 {
		return fmt.Errorf("read parquet: __op %q is not one letter", op)
	}
	d.rec = Record{
		Meta: change.Meta{
			Op:      op[0],
			Deleted: row[c+1].Boolean(),
			TsMs:    row[c+2].Int64(),
			TxID:    string(row[c+3].ByteArray()),
			Order:   row[c+4].Int64(),
			Event:   uint64(row[c+5].Int64()),
		},
		Row: d.row,
	}
	return nil
}

// text records that row value i's Text is the arena from start on.
func (d *parquetDecoder) text(i, start int) {
	d.texts = append(d.texts, pqSpan{val: i, start: start, end: len(d.arena)})
}

func (d *parquetDecoder) value(i int, pv parquet.Value) error {
	p := &d.cols[i]
	v := &d.row[i]
	if pv.IsNull() {
		*v = change.Value{Kind: change.KindNull}
		return nil
	}
	*v = change.Value{Kind: p.value}
	start := len(d.arena)
	switch p.kind {
	case pqInt32:
		v.Int = int64(pv.Int32())
	case pqInt64:
		v.Int = pv.Int64()
	case pqUint32:
		v.Uint = uint64(uint32(pv.Int32()))
	case pqUint64, pqBit:
		v.Uint = uint64(pv.Int64())
	case pqYear:
		v.Int = int64(pv.Int32())
	case pqFloat:
		v.Float = float64(pv.Float())
	case pqDouble:
		v.Float = pv.Double()
	case pqDecimal32:
		d.arena = appendDecimal64(d.arena, int64(pv.Int32()), p.scale)
		d.text(i, start)
	case pqDecimal64:
		d.arena = appendDecimal64(d.arena, pv.Int64(), p.scale)
		d.text(i, start)
	case pqDecimalFixed:
		b := pv.ByteArray()
		if len(b) != p.size {
			return fmt.Errorf("read parquet: column %s: a decimal of %d bytes, %d expected", p.col.Name, len(b), p.size)
		}
		d.arena = appendDecimalFixed(d.arena, b, p.scale)
		d.text(i, start)
	case pqDate:
		d.arena = appendDays(d.arena, int64(pv.Int32()))
		d.text(i, start)
	case pqDateTime:
		d.arena = appendMicros(d.arena, pv.Int64(), p.scale)
		d.text(i, start)
	case pqTimestamp:
		us := pv.Int64()
		v.Int, v.Uint = format.FloorDiv(us, 1e6), uint64(us)
		d.arena = appendMicros(d.arena, us, p.scale)
		d.text(i, start)
	case pqString, pqTime, pqDecimalText, pqJSON, pqBytes:
		b := pv.ByteArray()
		if p.value == change.KindGeometry && len(b) > 5 && string(b[:5]) == "SRID=" {
			if j := indexByte(b, ';'); j > 5 {
				srid, err := strconv.ParseInt(string(b[5:j]), 10, 64)
				if err != nil {
					return fmt.Errorf("read parquet: column %s: %q is not a SRID", p.col.Name, b[5:j])
				}
				v.Int, b = srid, b[j+1:]
			}
		}
		d.arena = append(d.arena, b...)
		d.text(i, start)
		switch p.value {
		case change.KindEnum:
			v.Int = enumIndex(p.col.Members, b)
		case change.KindSet:
			mask, err := setMask(p.col.Members, b)
			if err != nil {
				return fmt.Errorf("read parquet: column %s: %w", p.col.Name, err)
			}
			v.Uint = mask
		}
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// enumIndex is the 1-based index of an ENUM member; 0 for the empty error
// value (or a member the definition does not have).
func enumIndex(members []string, name []byte) int64 {
	for i, m := range members {
		if m == string(name) {
			return int64(i + 1)
		}
	}
	return 0
}

// setMask is the bitmask of a SET value's members.
func setMask(members []string, text []byte) (uint64, error) {
	var mask uint64
	for len(text) > 0 {
		j := indexByte(text, ',')
		name := text
		if j >= 0 {
			name, text = text[:j], text[j+1:]
		} else {
			text = nil
		}
		found := false
		for i, m := range members {
			if m == string(name) && i < 64 {
				mask |= 1 << i
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("%q is not a member of the SET", name)
		}
	}
	return mask, nil
}

// Decimals: the unscaled integer of the exact text, and back.

// parseDecimal64 is the unscaled value of a decimal text of a precision of
// at most 18 digits with at most scale fractional digits.
func parseDecimal64(text []byte, scale, precision int) (int64, error) {
	s := text
	neg := len(s) > 0 && s[0] == '-'
	if neg || len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	var u uint64
	digits, frac, point := 0, 0, false
	for _, c := range s {
		switch {
		case c == '.' && !point:
			point = true
		case c >= '0' && c <= '9':
			if point {
				frac++
			}
			if u != 0 || c != '0' {
				digits++
			}
			u = u*10 + uint64(c-'0')
		default:
			return 0, fmt.Errorf("%q is not a decimal number", text)
		}
		if digits > 18 {
			return 0, fmt.Errorf("%q has more digits than its column's precision", text)
		}
	}
	if len(s) == 0 || frac > scale || point && frac == 0 {
		return 0, fmt.Errorf("%q is not a decimal number of scale %d", text, scale)
	}
	for ; frac < scale; frac++ {
		u *= 10
		if u > 999999999999999999 {
			return 0, fmt.Errorf("%q has more digits than its column's precision", text)
		}
	}
	if u >= pow10u64[precision] {
		return 0, fmt.Errorf("%q has more digits than its column's precision %d", text, precision)
	}
	if neg {
		return -int64(u), nil
	}
	return int64(u), nil
}

var pow10u64 = func() (p [19]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// checkDecimal checks that text is a decimal number of the column's
// precision and scale.
func checkDecimal(text []byte, scale, precision int) error {
	var buf [32]byte
	return parseDecimalFixed(buf[:], text, scale, precision)
}

// parseDecimalFixed writes the unscaled value of a decimal text into dst as
// a big-endian two's complement integer of len(dst) bytes (zeroed).
func parseDecimalFixed(dst, text []byte, scale, precision int) error {
	s := text
	neg := len(s) > 0 && s[0] == '-'
	if neg || len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	digits, frac, point := 0, 0, false
	mul := func(add byte) {
		carry := uint(add)
		for k := len(dst) - 1; k >= 0; k-- {
			x := uint(dst[k])*10 + carry
			dst[k], carry = byte(x), x>>8
		}
	}
	for _, c := range s {
		switch {
		case c == '.' && !point:
			point = true
		case c >= '0' && c <= '9':
			if point {
				frac++
			}
			if digits > 0 || c != '0' {
				digits++
			}
			mul(c - '0')
		default:
			return fmt.Errorf("%q is not a decimal number", text)
		}
	}
	if len(s) == 0 || frac > scale || point && frac == 0 {
		return fmt.Errorf("%q is not a decimal number of scale %d", text, scale)
	}
	for ; frac < scale; frac++ {
		if digits > 0 {
			digits++
		}
		mul(0)
	}
	if digits > precision {
		return fmt.Errorf("%q has more digits than its column's precision %d", text, precision)
	}
	if neg { // two's complement: invert and add one
		carry := uint(1)
		for k := len(dst) - 1; k >= 0; k-- {
			x := uint(^dst[k]) + carry
			dst[k], carry = byte(x), x>>8
		}
	}
	return nil
}

// appendDecimal64 appends the text of unscaled value u with scale digits.
func appendDecimal64(dst []byte, u int64, scale int) []byte {
	var buf [24]byte
	mag := uint64(u)
	if u < 0 {
		dst = append(dst, '-')
		mag = uint64(-u)
	}
	digits := strconv.AppendUint(buf[:0], mag, 10)
	return appendScaled(dst, digits, scale)
}

// appendScaled appends the decimal digits (no sign) with a point before the
// last scale of them.
func appendScaled(dst, digits []byte, scale int) []byte {
	if scale == 0 {
		return append(dst, digits...)
	}
	if len(digits) <= scale {
		dst = append(dst, '0', '.')
		for k := len(digits); k < scale; k++ {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[:len(digits)-scale]...)
	dst = append(dst, '.')
	return append(dst, digits[len(digits)-scale:]...)
}

// appendDecimalFixed appends the text of a big-endian two's complement
// unscaled value with scale digits.
func appendDecimalFixed(dst, b []byte, scale int) []byte {
	var mag [32]byte
	m := mag[:copy(mag[:], b)]
	if len(b) > len(mag) {
		return append(dst, "NaN"...) // not written by writeParquet: decimalBytes(65) is 28
	}
	if len(m) > 0 && m[0]&0x80 != 0 {
		dst = append(dst, '-')
		carry := uint(1)
		for k := len(m) - 1; k >= 0; k-- {
			x := uint(^m[k]) + carry
			m[k], carry = byte(x), x>>8
		}
	}
	// Repeated division by 10 of the magnitude, the digits coming out last
	// first.
	var out [80]byte
	n := len(out)
	for {
		zero := true
		rem := uint(0)
		for k := range m {
			x := rem<<8 | uint(m[k])
			m[k], rem = byte(x/10), x%10
			if m[k] != 0 {
				zero = false
			}
		}
		n--
		out[n] = byte('0' + rem)
		if zero {
			break
		}
	}
	return appendScaled(dst, out[n:], scale)
}

// Dates and times: days and microseconds since 1970-01-01, and back
// (format.DaysFromCivil and CivilFromDays).

// digits parses s as a non-negative decimal number of exactly its length.
func digits(s []byte) (int64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseDate is the day number of "YYYY-MM-DD"; ok is false for a date with
// a zero year, month or day (stored as NULL).
func parseDate(t []byte) (days int64, ok bool, err error) {
	if len(t) != 10 || t[4] != '-' || t[7] != '-' {
		return 0, false, fmt.Errorf("%q is not a date (YYYY-MM-DD)", t)
	}
	y, ok1 := digits(t[:4])
	m, ok2 := digits(t[5:7])
	d, ok3 := digits(t[8:10])
	if !ok1 || !ok2 || !ok3 || m > 12 || d > 31 {
		return 0, false, fmt.Errorf("%q is not a date (YYYY-MM-DD)", t)
	}
	if y == 0 || m == 0 || d == 0 {
		return 0, false, nil
	}
	return format.DaysFromCivil(y, m, d), true, nil
}

// parseClock is the microseconds of "HH:MM:SS[.ffffff]" (hours of any
// number of digits).
func parseClock(t []byte) (int64, bool) {
	i := indexByte(t, ':')
	if i < 1 || len(t) < i+6 || t[i+3] != ':' {
		return 0, false
	}
	h, ok1 := digits(t[:i])
	m, ok2 := digits(t[i+1 : i+3])
	s, ok3 := digits(t[i+4 : i+6])
	if !ok1 || !ok2 || !ok3 || m > 59 || s > 59 || h > 1e6 {
		return 0, false
	}
	us := ((h*60+m)*60 + s) * 1e6
	if rest := t[i+6:]; len(rest) > 0 {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 7 {
			return 0, false
		}
		f, ok := digits(rest[1:])
		if !ok {
			return 0, false
		}
		for k := len(rest) - 1; k < 6; k++ {
			f *= 10
		}
		us += f
	}
	return us, true
}

// parseDateTime is the microseconds of "YYYY-MM-DD HH:MM:SS[.f]" read as
// UTC; ok is false for a zero date part (stored as NULL).
func parseDateTime(t []byte) (int64, bool, error) {
	if len(t) < 19 || t[10] != ' ' {
		return 0, false, fmt.Errorf("%q is not a datetime (YYYY-MM-DD HH:MM:SS[.f])", t)
	}
	days, ok, err := parseDate(t[:10])
	if err != nil {
		return 0, false, fmt.Errorf("%q is not a datetime (YYYY-MM-DD HH:MM:SS[.f])", t)
	}
	us, okc := parseClock(t[11:])
	if !okc || us >= 86400e6 {
		return 0, false, fmt.Errorf("%q is not a datetime (YYYY-MM-DD HH:MM:SS[.f])", t)
	}
	if !ok {
		return 0, false, nil
	}
	return days*86400e6 + us, true, nil
}

// parseTime is the signed microseconds of a TIME "[-]HH:MM:SS[.f]".
func parseTime(t []byte) (int64, error) {
	s, neg := t, false
	if len(s) > 0 && s[0] == '-' {
		s, neg = s[1:], true
	}
	us, ok := parseClock(s)
	if !ok {
		return 0, fmt.Errorf("%q is not a time ([-]HH:MM:SS[.f])", t)
	}
	if neg {
		us = -us
	}
	return us, nil
}

func append2(dst []byte, n int64) []byte { return append(dst, byte('0'+n/10), byte('0'+n%10)) }

// appendFrac appends "." and the first fsp digits of us microseconds.
func appendFrac(dst []byte, us int64, fsp int) []byte {
	if fsp <= 0 {
		return dst
	}
	dst = append(dst, '.')
	div := int64(100000)
	for range fsp {
		dst = append(dst, byte('0'+us/div%10))
		div /= 10
	}
	return dst
}

// appendDays appends day number z as "YYYY-MM-DD".
func appendDays(dst []byte, z int64) []byte {
	y, m, d := format.CivilFromDays(z)
	if y < 0 || y > 9999 {
		return strconv.AppendInt(dst, y, 10) // not written by writeParquet
	}
	dst = append2(dst, y/100)
	dst = append2(dst, y%100)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	return append2(dst, d)
}

// appendMicros appends us microseconds since the epoch as
// "YYYY-MM-DD HH:MM:SS[.f]" with fsp fractional digits.
func appendMicros(dst []byte, us int64, fsp int) []byte {
	days := format.FloorDiv(us, 86400e6)
	rest := us - days*86400e6
	dst = appendDays(dst, days)
	dst = append(dst, ' ')
	sec := rest / 1e6
	dst = append2(dst, sec/3600)
	dst = append(dst, ':')
	dst = append2(dst, sec/60%60)
	dst = append(dst, ':')
	dst = append2(dst, sec%60)
	return appendFrac(dst, rest%1e6, fsp)
}

// appendTimeMicros appends signed microseconds as a TIME "[-]HH:MM:SS[.f]".
func appendTimeMicros(dst []byte, us int64, fsp int) []byte {
	if us < 0 {
		dst = append(dst, '-')
		us = -us
	}
	sec := us / 1e6
	if h := sec / 3600; h >= 100 {
		dst = strconv.AppendInt(dst, h, 10)
	} else {
		dst = append2(dst, h)
	}
	dst = append(dst, ':')
	dst = append2(dst, sec/60%60)
	dst = append(dst, ':')
	dst = append2(dst, sec%60)
	return appendFrac(dst, us%1e6, fsp)
}
