package format

import (
	"encoding/base64"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/bintap/bintap/internal/change"
)

// Column values in Debezium's representation. References are to classes of
// the Debezium source: BinlogValueConverters (debezium-connector-binlog),
// JdbcValueConverters and the io.debezium.time / io.debezium.data types
// (debezium-connector-common), and Kafka Connect's JsonConverter, which
// writes BYTES as base64.

// appendValue writes v of column c.
func (d *Debezium) appendValue(dst []byte, c *change.Column, v *change.Value) []byte {
	switch v.Kind {
	case change.KindNull, change.KindMissing:
		return append(dst, "null"...)
	case change.KindInt, change.KindYear:
		// INT8/16/32/64 and io.debezium.time.Year (int32).
		return strconv.AppendInt(dst, v.Int, 10)
	case change.KindUint:
		if c.Type == "bigint" {
			if d.precise {
				// bigint.unsigned.handling.mode=precise: Connect Decimal,
				// scale 0 (BinlogValueConverters.convertUnsignedBigint).
				return appendBytesJSON(dst, unscaledUint(v.Uint))
			}
			// long: Java's long, as the binlog client delivers it: values
			// above 2^63-1 wrap to negative (Debezium's documented caveat).
			return strconv.AppendInt(dst, int64(v.Uint), 10)
		}
		return strconv.AppendUint(dst, v.Uint, 10)
	case change.KindBit:
		return appendBits(dst, c, v.Uint)
	case change.KindFloat:
		return appendFloat(dst, v.Float, 32)
	case change.KindDouble:
		return appendFloat(dst, v.Float, 64)
	case change.KindDecimal:
		return d.appendDecimal(dst, v.Text)
	case change.KindBytes:
		return d.appendBinary(dst, v.Text)
	case change.KindDate:
		days, ok := parseDate(v.Text)
		if !ok {
			return zeroTemporal(dst, c, "0")
		}
		// io.debezium.time.Date / org.apache.kafka.connect.data.Date: days since epoch.
		return strconv.AppendInt(dst, days, 10)
	case change.KindTime:
		us, ok := parseTime(v.Text)
		if !ok {
			return appendString(dst, v.Text) // not a TIME text: keep it visible
		}
		if d.connect {
			// org.apache.kafka.connect.data.Time: milliseconds.
			return strconv.AppendInt(dst, FloorDiv(us, 1000), 10)
		}
		// io.debezium.time.MicroTime (BinlogValueConverters.convertDurationToMicroseconds).
		return strconv.AppendInt(dst, us, 10)
	case change.KindDateTime:
		us, ok := parseDateTime(v.Text)
		if !ok {
			return zeroTemporal(dst, c, "0")
		}
		if d.connect || c.Scale <= 3 {
			// io.debezium.time.Timestamp / Connect Timestamp: epoch milliseconds.
			return strconv.AppendInt(dst, FloorDiv(us, 1000), 10)
		}
		// io.debezium.time.MicroTimestamp: epoch microseconds.
		return strconv.AppendInt(dst, us, 10)
	case change.KindTimestamp:
		us, ok := timestampMicros(v)
		if !ok {
			return zeroTemporal(dst, c, `"1970-01-01T00:00:00Z"`)
		}
		return appendZonedTimestamp(dst, us, c.Scale)
	case change.KindGeometry:
		return appendGeometry(dst, c, v)
	default:
		// Strings, ENUM (io.debezium.data.Enum), SET (EnumSet), JSON
		// (io.debezium.data.Json), UUID and INET as text.
		return appendString(dst, v.Text)
	}
}

// zeroTemporal writes a zero (or partly zero) date: null when the column
// allows NULL, else the epoch (Debezium's "Temporal types" section: "zero-
// values as null values when the column definition allows null values, or
// as the epoch day when the column does not allow null values").
func zeroTemporal(dst []byte, c *change.Column, epoch string) []byte {
	if c.Nullable {
		return append(dst, "null"...)
	}
	return append(dst, epoch...)
}

// appendBits: BIT(1) is BOOLEAN; BIT(n>1) is io.debezium.data.Bits, bytes
// in little-endian order, ceil(n/8) of them (JdbcValueConverters.convertBits
// reverses the binlog's big-endian bytes and pads to the length).
func appendBits(dst []byte, c *change.Column, u uint64) []byte {
	n := c.Length
	if n <= 1 {
		if u != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	}
	var b [8]byte
	nb := (n + 7) / 8
	if nb > 8 {
		nb = 8
	}
	for i := 0; i < nb; i++ {
		b[i] = byte(u >> (8 * i))
	}
	return appendBytesJSON(dst, b[:nb])
}

// appendDecimal follows decimal.handling.mode (SpecialValueDecimal).
func (d *Debezium) appendDecimal(dst, text []byte) []byte {
	switch d.decimal {
	case decimalString:
		// BigDecimal.toPlainString: the digits and scale the server prints.
		return appendString(dst, text)
	case decimalDouble:
		f, err := strconv.ParseFloat(string(text), 64)
		if err != nil {
			return append(dst, "null"...)
		}
		return appendFloat(dst, f, 64)
	}
	// precise: org.apache.kafka.connect.data.Decimal, the unscaled value's
	// minimal big-endian two's-complement bytes (BigInteger.toByteArray).
	var small [8]byte
	return appendBytesJSON(dst, unscaledDecimal(&small, text))
}

// unscaledDecimal turns "-12.50" into the two's-complement bytes of -1250.
// Up to 18 digits it works in small, without allocating.
func unscaledDecimal(small *[8]byte, text []byte) []byte {
	neg, n, digits := false, int64(0), 0
	for _, c := range text {
		switch {
		case c == '-':
			neg = true
		case c >= '0' && c <= '9':
			n = n*10 + int64(c-'0')
			digits++
		}
	}
	if digits <= 18 {
		if neg {
			n = -n
		}
		// The fewest bytes whose sign bit still gives n's sign.
		size := 1
		for size < 8 && (n >= 1<<(8*size-1) || n < -(1<<(8*size-1))) {
			size++
		}
		for i := 0; i < size; i++ {
			small[7-i] = byte(n >> (8 * i))
		}
		return small[8-size:]
	}
	b := make([]byte, 0, len(text))
	for _, c := range text {
		if c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	v, _ := new(big.Int).SetString(string(b), 10)
	if neg {
		v.Neg(v)
	}
	return twosComplement(v)
}

func unscaledUint(u uint64) []byte {
	return twosComplement(new(big.Int).SetUint64(u))
}

// twosComplement is Java's BigInteger.toByteArray: the minimal big-endian
// two's-complement representation (at least one byte).
func twosComplement(n *big.Int) []byte {
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -n-1 has the same bytes as n with every bit inverted.
	m := new(big.Int).Neg(n)
	m.Sub(m, big.NewInt(1))
	b := m.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	for i := range b {
		b[i] = ^b[i]
	}
	return b
}

// appendBinary follows binary.handling.mode (JdbcValueConverters.convertBinary).
func (d *Debezium) appendBinary(dst, b []byte) []byte {
	switch d.binary {
	case binaryHex:
		dst = append(dst, '"')
		for _, c := range b {
			dst = append(dst, hexDigits[c>>4], hexDigits[c&0xF])
		}
		return append(dst, '"')
	case binaryBase64URL:
		// java.util.Base64.getUrlEncoder(): URL alphabet, with padding.
		dst = append(dst, '"')
		dst = appendB64(dst, b, base64.URLEncoding)
		return append(dst, '"')
	}
	// bytes (a Connect BYTES value, base64 in JSON) and base64 look the
	// same in JSON; they differ in the schema type.
	return appendBytesJSON(dst, b)
}

// parseDate reads "YYYY-MM-DD" into days since 1970-01-01; false for a
// date with a zero year, month or day (BinlogValueConverters returns null
// for those).
func parseDate(t []byte) (int64, bool) {
	if len(t) < 10 || t[4] != '-' || t[7] != '-' {
		return 0, false
	}
	y, ok1 := atoi(t[0:4])
	m, ok2 := atoi(t[5:7])
	dd, ok3 := atoi(t[8:10])
	if !ok1 || !ok2 || !ok3 || y == 0 || m == 0 || dd == 0 {
		return 0, false
	}
	return DaysFromCivil(int64(y), int64(m), int64(dd)), true
}

// parseDateTime reads "YYYY-MM-DD HH:MM:SS[.f]" into epoch microseconds, UTC.
func parseDateTime(t []byte) (int64, bool) {
	days, ok := parseDate(t)
	if !ok || len(t) < 19 || t[10] != ' ' {
		return 0, false
	}
	us, ok := parseTime(t[11:])
	if !ok {
		return 0, false
	}
	return days*86400_000000 + us, true
}

// parseTime reads "[-]HH:MM:SS[.f]" (hours up to 838) into microseconds.
func parseTime(t []byte) (int64, bool) {
	neg := len(t) > 0 && t[0] == '-'
	if neg {
		t = t[1:]
	}
	c1 := indexByte(t, ':')
	if c1 < 1 || len(t) < c1+6 || t[c1+3] != ':' {
		return 0, false
	}
	h, ok1 := atoi(t[:c1])
	m, ok2 := atoi(t[c1+1 : c1+3])
	s, ok3 := atoi(t[c1+4 : c1+6])
	if !ok1 || !ok2 || !ok3 {
		return 0, false
	}
	us := (int64(h)*3600 + int64(m)*60 + int64(s)) * 1000000
	if rest := t[c1+6:]; len(rest) > 0 {
		if rest[0] != '.' || len(rest) > 7 {
			return 0, false
		}
		f, ok := atoi(rest[1:])
		if !ok {
			return 0, false
		}
		for i := len(rest) - 1; i < 6; i++ {
			f *= 10
		}
		us += int64(f)
	}
	if neg {
		us = -us
	}
	return us, true
}

// timestampMicros is a TIMESTAMP's epoch microseconds; false for the zero
// timestamp. The decoder sets Int (seconds) and Uint (microseconds); a value
// without them is read from its text as UTC.
func timestampMicros(v *change.Value) (int64, bool) {
	if v.Int != 0 || v.Uint != 0 {
		return int64(v.Uint), true
	}
	return parseDateTime(v.Text)
}

// appendZonedTimestamp writes io.debezium.time.ZonedTimestamp in UTC:
// ISO_OFFSET_DATE_TIME with exactly fsp fraction digits when the column
// has fsp > 0, none otherwise ("2018-06-20T13:37:03Z").
func appendZonedTimestamp(dst []byte, us int64, fsp int) []byte {
	days := FloorDiv(us, 86400_000000)
	rem := us - days*86400_000000
	y, m, dd := CivilFromDays(days)
	sec := rem / 1000000
	dst = append(dst, '"')
	dst = appendPadded(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPadded(dst, m, 2)
	dst = append(dst, '-')
	dst = appendPadded(dst, dd, 2)
	dst = append(dst, 'T')
	dst = appendPadded(dst, sec/3600, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, sec/60%60, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, sec%60, 2)
	if fsp > 0 {
		if fsp > 6 {
			fsp = 6
		}
		frac := rem % 1000000
		for i := fsp; i < 6; i++ {
			frac /= 10
		}
		dst = append(dst, '.')
		dst = appendPadded(dst, frac, fsp)
	}
	return append(dst, `Z"`...)
}

// appendGeometry writes io.debezium.data.geometry.Geometry {wkb, srid}, or
// io.debezium.data.geometry.Point {x, y, wkb, srid} for POINT columns
// (BinlogValueConverters.convertGeometry/convertPoint; srid 0 is null as in
// BinlogGeometry.fromBytes). bintap holds geometry as WKT with the shortest
// round-trip coordinates, so the WKB rebuilt here (little-endian, as the
// server stores it) has the server's exact coordinates.
func appendGeometry(dst []byte, c *change.Column, v *change.Value) []byte {
	wkb, err := wktToWKB(nil, v.Text)
	if err != nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	if c.Type == "point" && len(wkb) == 21 {
		x := math.Float64frombits(leU64(wkb[5:]))
		y := math.Float64frombits(leU64(wkb[13:]))
		dst = append(dst, `"x":`...)
		dst = appendFloat(dst, x, 64)
		dst = append(dst, `,"y":`...)
		dst = appendFloat(dst, y, 64)
		dst = append(dst, ',')
	}
	dst = append(dst, `"wkb":`...)
	dst = appendBytesJSON(dst, wkb)
	dst = append(dst, `,"srid":`...)
	if v.Int != 0 {
		dst = strconv.AppendInt(dst, v.Int, 10)
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, '}')
}

func leU64(b []byte) uint64 {
	var u uint64
	for i := 7; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	return u
}

func atoi(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// FloorDiv is a/b rounded toward negative infinity.
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func appendPadded(dst []byte, n int64, width int) []byte {
	var b [20]byte
	s := strconv.AppendInt(b[:0], n, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// DaysFromCivil is days since 1970-01-01 of a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func DaysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := FloorDiv(y, 400)
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// CivilFromDays is the inverse of DaysFromCivil.
func CivilFromDays(z int64) (y, m, d int64) {
	z += 719468
	era := FloorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// columnSchemaType is the Connect schema of one column: type, logical name
// and parameters (BinlogValueConverters.schemaBuilder and
// JdbcValueConverters.schemaBuilder).
func (d *Debezium) appendColumnSchema(dst []byte, c *change.Column, optional bool) []byte {
	typ, name := "string", ""
	var params [][2]string
	switch c.Type {
	case "tinyint":
		typ = "int8"
		if c.Unsigned {
			typ = "int16"
		}
	case "smallint":
		typ = "int16"
		if c.Unsigned {
			typ = "int32"
		}
	case "mediumint":
		typ = "int32"
	case "int", "integer":
		typ = "int32"
		if c.Unsigned {
			typ = "int64"
		}
	case "bigint":
		typ = "int64"
		if c.Unsigned && d.precise {
			typ, name = "bytes", "org.apache.kafka.connect.data.Decimal"
			params = [][2]string{{"scale", "0"}, {"connect.decimal.precision", "20"}}
		}
	case "decimal", "numeric":
		switch d.decimal {
		case decimalPrecise:
			typ, name = "bytes", "org.apache.kafka.connect.data.Decimal"
			params = [][2]string{{"scale", strconv.Itoa(c.Scale)}, {"connect.decimal.precision", strconv.Itoa(c.Precision)}}
		case decimalDouble:
			typ = "double"
		}
	case "float":
		typ = "float"
	case "double", "real":
		typ = "double"
	case "bit":
		if c.Length <= 1 {
			typ = "boolean"
		} else {
			typ, name = "bytes", "io.debezium.data.Bits"
			params = [][2]string{{"length", strconv.Itoa(c.Length)}}
		}
	case "year":
		typ, name = "int32", "io.debezium.time.Year"
	case "date":
		typ, name = "int32", "io.debezium.time.Date"
		if d.connect {
			name = "org.apache.kafka.connect.data.Date"
		}
	case "time":
		typ, name = "int64", "io.debezium.time.MicroTime"
		if d.connect {
			typ, name = "int32", "org.apache.kafka.connect.data.Time"
		}
	case "datetime":
		switch {
		case d.connect:
			typ, name = "int64", "org.apache.kafka.connect.data.Timestamp"
		case c.Scale <= 3:
			typ, name = "int64", "io.debezium.time.Timestamp"
		default:
			typ, name = "int64", "io.debezium.time.MicroTimestamp"
		}
	case "timestamp":
		name = "io.debezium.time.ZonedTimestamp"
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "vector":
		if d.binary == binaryBytes {
			typ = "bytes"
		}
	case "enum":
		name = "io.debezium.data.Enum"
		params = [][2]string{{"allowed", strings.Join(c.Members, ",")}}
	case "set":
		name = "io.debezium.data.EnumSet"
		params = [][2]string{{"allowed", strings.Join(c.Members, ",")}}
	case "json":
		name = "io.debezium.data.Json"
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection", "geomcollection":
		dst = append(dst, `{"type":"struct","fields":[`...)
		if c.Type == "point" {
			dst = append(dst, `{"type":"double","optional":false,"field":"x"},{"type":"double","optional":false,"field":"y"},{"type":"bytes","optional":true,"field":"wkb"},`...)
			name = "io.debezium.data.geometry.Point"
		} else {
			dst = append(dst, `{"type":"bytes","optional":false,"field":"wkb"},`...)
			name = "io.debezium.data.geometry.Geometry"
		}
		dst = append(dst, `{"type":"int32","optional":true,"field":"srid"}],"optional":`...)
		dst = strconv.AppendBool(dst, optional)
		dst = append(dst, `,"name":"`...)
		dst = append(dst, name...)
		if c.Type == "point" {
			dst = append(dst, `","version":1,"doc":"Geometry (POINT)"`...)
		} else {
			// The documented two-field struct (version 1); Debezium 3.x
			// adds an optional "extensions" map as version 2.
			dst = append(dst, `","version":1,"doc":"Geometry"`...)
		}
		dst = append(dst, `,"field":`...)
		dst = appendStringS(dst, c.Name)
		return append(dst, '}')
	}
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","optional":`...)
	dst = strconv.AppendBool(dst, optional)
	if name != "" {
		dst = append(dst, `,"name":"`...)
		dst = append(dst, name...)
		dst = append(dst, `","version":1`...)
	}
	if len(params) > 0 {
		dst = append(dst, `,"parameters":{`...)
		for i, p := range params {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendStringS(dst, p[0])
			dst = append(dst, ':')
			dst = appendStringS(dst, p[1])
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"field":`...)
	dst = appendStringS(dst, c.Name)
	return append(dst, '}')
}

// appendKeySchema is the key struct {prefix}.{db}.{table}.Key.
func (d *Debezium) appendKeySchema(dst []byte, t *change.Table) []byte {
	dst = append(dst, `{"type":"struct","fields":[`...)
	for n, i := range t.PrimaryKey {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = d.appendColumnSchema(dst, &t.Columns[i], false)
	}
	dst = append(dst, `],"optional":false,"name":`...)
	dst = appendStringS(dst, d.schemaName(t, "Key"))
	return append(dst, '}')
}

func (d *Debezium) schemaName(t *change.Table, suffix string) string {
	return d.opts.TopicPrefix + "." + t.Schema + "." + t.Name + "." + suffix
}

// appendEnvelopeSchema is the value schema: Envelope.defineSchema()
// .withRecord(Value).withSource(Source).build() — before, after, source, op,
// ts_ms, ts_us, ts_ns, transaction.
func (d *Debezium) appendEnvelopeSchema(dst []byte, t *change.Table, connector string) []byte {
	row := []byte(`{"type":"struct","fields":[`)
	for i := range t.Columns {
		if i > 0 {
			row = append(row, ',')
		}
		c := &t.Columns[i]
		row = d.appendColumnSchema(row, c, c.Nullable)
	}
	row = append(row, `],"optional":true,"name":`...)
	row = appendStringS(row, d.schemaName(t, "Value"))
	dst = append(dst, `{"type":"struct","fields":[`...)
	dst = append(dst, row...)
	dst = append(dst, `,"field":"before"},`...)
	dst = append(dst, row...)
	dst = append(dst, `,"field":"after"},`...)
	dst = d.appendSourceSchema(dst, connector)
	dst = append(dst, `,{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"},{"type":"int64","optional":true,"field":"ts_us"},{"type":"int64","optional":true,"field":"ts_ns"},`...)
	dst = append(dst, `{"type":"struct","fields":[{"type":"string","optional":false,"field":"id"},{"type":"int64","optional":false,"field":"total_order"},{"type":"int64","optional":false,"field":"data_collection_order"}],"optional":true,"name":"event.block","version":1,"field":"transaction"}`...)
	dst = append(dst, `],"optional":false,"name":`...)
	dst = appendStringS(dst, d.schemaName(t, "Envelope"))
	return append(dst, `,"version":2}`...)
}

// appendSourceSchema is SchemaFactory.sourceInfoSchemaBuilder plus
// BinlogSourceInfoStructMaker's fields.
func (d *Debezium) appendSourceSchema(dst []byte, connector string) []byte {
	dst = append(dst, `{"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},{"type":"string","optional":false,"field":"connector"},{"type":"string","optional":false,"field":"name"},{"type":"int64","optional":false,"field":"ts_ms"},`...)
	dst = append(dst, `{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false","field":"snapshot"},`...)
	dst = append(dst, `{"type":"string","optional":false,"field":"db"},{"type":"string","optional":true,"field":"sequence"},{"type":"int64","optional":true,"field":"ts_us"},{"type":"int64","optional":true,"field":"ts_ns"},`...)
	dst = append(dst, `{"type":"string","optional":true,"field":"table"},{"type":"int64","optional":false,"field":"server_id"},{"type":"string","optional":true,"field":"gtid"},{"type":"string","optional":false,"field":"file"},{"type":"int64","optional":false,"field":"pos"},{"type":"int32","optional":false,"field":"row"},{"type":"int64","optional":true,"field":"thread"},{"type":"string","optional":true,"field":"query"}],`...)
	dst = append(dst, `"optional":false,"name":"io.debezium.connector.`...)
	dst = append(dst, connector...)
	return append(dst, `.Source","version":1,"field":"source"}`...)
}
