package files

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"

	"github.com/bintap/bintap/internal/change"
)

// pqSample is one source value, what reading the file back gives (read;
// the value itself unless set) and the value's text as DuckDB reads it
// from the file (sql; "" with null for NULL).
type pqSample struct {
	v    change.Value
	read *change.Value
	sql  string
	null bool
}

func pv(k change.Kind, s string) pqSample {
	return pqSample{v: change.Value{Kind: k, Text: []byte(s)}, sql: s}
}
func pnull() pqSample { return pqSample{v: change.Value{Kind: change.KindNull}, null: true} }

// pzero is a zero date: it is written as NULL.
func pzero(k change.Kind, s string) pqSample {
	return pqSample{v: change.Value{Kind: k, Text: []byte(s)}, read: &change.Value{Kind: change.KindNull}, null: true}
}
func pint(n int64) pqSample {
	return pqSample{v: change.Value{Kind: change.KindInt, Int: n}, sql: strconv.FormatInt(n, 10)}
}
func puint(k change.Kind, n uint64) pqSample {
	return pqSample{v: change.Value{Kind: k, Uint: n}, sql: strconv.FormatUint(n, 10)}
}
func pyear(n int64) pqSample {
	return pqSample{v: change.Value{Kind: change.KindYear, Int: n}, sql: strconv.FormatInt(n, 10)}
}
func pfloat(f float32) pqSample {
	return pqSample{v: change.Value{Kind: change.KindFloat, Float: float64(f)}, sql: strconv.FormatFloat(float64(f), 'g', -1, 32)}
}
func pdouble(f float64) pqSample {
	return pqSample{v: change.Value{Kind: change.KindDouble, Float: f}, sql: strconv.FormatFloat(f, 'g', -1, 64)}
}
func pblob(b []byte) pqSample {
	return pqSample{v: change.Value{Kind: change.KindBytes, Text: b}, sql: hex.EncodeToString(b)}
}
func penum(s string, idx int64) pqSample {
	return pqSample{v: change.Value{Kind: change.KindEnum, Int: idx, Text: []byte(s)}, sql: s}
}
func pset(s string, mask uint64) pqSample {
	return pqSample{v: change.Value{Kind: change.KindSet, Uint: mask, Text: []byte(s)}, sql: s}
}

// pstamp is a TIMESTAMP at UNIX sec.usec whose text is in UTC+02:00 (a
// configured zone): the file holds the instant, read back in UTC (want).
func pstamp(sec int64, usec uint64, fsp int, want string) pqSample {
	text := time.Unix(sec, int64(usec)*1000).In(time.FixedZone("", 2*3600)).Format("2006-01-02 15:04:05.000000")
	text = text[:len(text)-6+fsp]
	if fsp == 0 {
		text = text[:19]
	}
	v := change.Value{Kind: change.KindTimestamp, Int: sec, Uint: uint64(sec)*1e6 + usec, Text: []byte(text)}
	r := v
	r.Text = []byte(want)
	return pqSample{v: v, read: &r, sql: want}
}

// pqCase is a source column, its Parquet type (physical type and logical
// type as the file's schema says) and its samples: row i of the test file
// holds sample i (NULL where a list is shorter).
type pqCase struct {
	col      change.Column
	physical string
	logical  string
	samples  []pqSample
}

var pqCases = []pqCase{
	{change.Column{Name: "ti", Type: "tinyint"}, "INT32", "INT(8,true)",
		[]pqSample{pint(-128), pint(127), pnull(), pint(-1)}},
	{change.Column{Name: "tiu", Type: "tinyint", Unsigned: true}, "INT32", "INT(8,false)",
		[]pqSample{puint(change.KindUint, 255), puint(change.KindUint, 0), pnull(), puint(change.KindUint, 1)}},
	{change.Column{Name: "si", Type: "smallint"}, "INT32", "INT(16,true)",
		[]pqSample{pint(-32768), pint(32767), pnull(), pint(-1)}},
	{change.Column{Name: "siu", Type: "smallint", Unsigned: true}, "INT32", "INT(16,false)",
		[]pqSample{puint(change.KindUint, 65535), puint(change.KindUint, 0)}},
	{change.Column{Name: "mi", Type: "mediumint"}, "INT32", "INT(32,true)",
		[]pqSample{pint(-8388608), pint(8388607)}},
	{change.Column{Name: "miu", Type: "mediumint", Unsigned: true}, "INT32", "INT(32,false)",
		[]pqSample{puint(change.KindUint, 16777215), puint(change.KindUint, 0)}},
	{change.Column{Name: "i", Type: "int"}, "INT32", "INT(32,true)",
		[]pqSample{pint(math.MinInt32), pint(math.MaxInt32)}},
	{change.Column{Name: "iu", Type: "int", Unsigned: true}, "INT32", "INT(32,false)",
		[]pqSample{puint(change.KindUint, math.MaxUint32), puint(change.KindUint, 0), pnull(), puint(change.KindUint, 1<<31)}},
	{change.Column{Name: "bi", Type: "bigint"}, "INT64", "INT(64,true)",
		[]pqSample{pint(math.MinInt64), pint(math.MaxInt64), pnull(), pint(-1)}},
	{change.Column{Name: "biu", Type: "bigint", Unsigned: true}, "INT64", "INT(64,false)",
		[]pqSample{puint(change.KindUint, math.MaxUint64), puint(change.KindUint, 0), pnull(), puint(change.KindUint, 1), puint(change.KindUint, 1<<63)}},
	{change.Column{Name: "d1", Type: "decimal", Precision: 10, Scale: 2}, "INT64", "DECIMAL(10,2)",
		[]pqSample{pv(change.KindDecimal, "-12345678.90"), pv(change.KindDecimal, "0.00"), pnull(), pv(change.KindDecimal, "-0.01"), pv(change.KindDecimal, "99999999.99")}},
	{change.Column{Name: "d9", Type: "decimal", Precision: 9, Scale: 4}, "INT32", "DECIMAL(9,4)",
		[]pqSample{pv(change.KindDecimal, "-99999.9999"), pv(change.KindDecimal, "0.0001"), pnull(), pv(change.KindDecimal, "12345.0000")}},
	{change.Column{Name: "d18", Type: "decimal", Precision: 18, Scale: 0}, "INT64", "DECIMAL(18,0)",
		[]pqSample{pv(change.KindDecimal, "-999999999999999999"), pv(change.KindDecimal, "999999999999999999"), pnull(), pv(change.KindDecimal, "0")}},
	{change.Column{Name: "d2", Type: "decimal", Precision: 65, Scale: 30}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindDecimal, "-12345678901234567890123456789012345.123456789012345678901234567890"),
			pv(change.KindDecimal, "0.000000000000000000000000000001"), pnull(), pv(change.KindDecimal, "-0.000000000000000000000000000001"),
			pv(change.KindDecimal, "99999999999999999999999999999999999.999999999999999999999999999999"),
			pv(change.KindDecimal, "-99999999999999999999999999999999999.999999999999999999999999999999"),
			pv(change.KindDecimal, "0.000000000000000000000000000000")}},
	{change.Column{Name: "d4", Type: "decimal", Precision: 38, Scale: 38}, "FIXED_LEN_BYTE_ARRAY", "DECIMAL(38,38)",
		[]pqSample{pv(change.KindDecimal, "-0.99999999999999999999999999999999999999"), pv(change.KindDecimal, "0.00000000000000000000000000000000000001")}},
	{change.Column{Name: "d19", Type: "decimal", Precision: 19, Scale: 2, Unsigned: true}, "FIXED_LEN_BYTE_ARRAY", "DECIMAL(19,2)",
		[]pqSample{pv(change.KindDecimal, "99999999999999999.99"), pv(change.KindDecimal, "0.00"), pnull(), pv(change.KindDecimal, "1.50")}},
	{change.Column{Name: "f", Type: "float"}, "FLOAT", "",
		[]pqSample{pfloat(-3.4e38), pfloat(0.1), pnull(), pfloat(1e-10), pfloat(math.SmallestNonzeroFloat32), pfloat(math.MaxFloat32)}},
	{change.Column{Name: "db", Type: "double"}, "DOUBLE", "",
		[]pqSample{pdouble(-math.MaxFloat64), pdouble(0.1), pnull(), pdouble(123456789.123456789), pdouble(math.SmallestNonzeroFloat64)}},
	{change.Column{Name: "b1", Type: "bit", Length: 1}, "INT64", "INT(64,false)",
		[]pqSample{puint(change.KindBit, 1), puint(change.KindBit, 0), pnull(), puint(change.KindBit, 1)}},
	{change.Column{Name: "b64", Type: "bit", Length: 64}, "INT64", "INT(64,false)",
		[]pqSample{puint(change.KindBit, math.MaxUint64), puint(change.KindBit, 0), pnull(), puint(change.KindBit, 1<<63)}},
	{change.Column{Name: "y", Type: "year"}, "INT32", "INT(16,true)",
		[]pqSample{pyear(1901), pyear(0), pnull(), pyear(2155)}},
	{change.Column{Name: "dt", Type: "date"}, "INT32", "DATE",
		[]pqSample{pv(change.KindDate, "1000-01-01"), pzero(change.KindDate, "0000-00-00"), pnull(), pv(change.KindDate, "2024-02-29"),
			pzero(change.KindDate, "2024-00-15"), pzero(change.KindDate, "2024-02-00"), pzero(change.KindDate, "0000-01-01"), pv(change.KindDate, "9999-12-31"),
			pv(change.KindDate, "0001-01-01"), pv(change.KindDate, "1969-12-31"), pv(change.KindDate, "1970-01-01")}},
	{change.Column{Name: "tm", Type: "time"}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindTime, "-838:59:59"), pv(change.KindTime, "00:00:00"), pnull(), pv(change.KindTime, "838:59:59"), pv(change.KindTime, "-00:00:01"),
			pv(change.KindTime, "24:00:00"), pv(change.KindTime, "23:59:59"), pv(change.KindTime, "100:00:00")}},
	{change.Column{Name: "tm6", Type: "time", Scale: 6}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindTime, "-00:00:01.500000"), pv(change.KindTime, "12:34:56.000001"), pnull(), pv(change.KindTime, "838:59:59.000000"),
			pv(change.KindTime, "-838:59:59.000000"), pv(change.KindTime, "-00:00:00.000001")}},
	{change.Column{Name: "tm3", Type: "time", Scale: 3}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindTime, "838:59:59.999"), pv(change.KindTime, "-01:00:00.500"), pnull(), pv(change.KindTime, "-838:59:59.000")}},
	{change.Column{Name: "dtm", Type: "datetime"}, "INT64", "TIMESTAMP(isAdjustedToUTC=false,unit=MICROS)",
		[]pqSample{pv(change.KindDateTime, "1000-01-01 00:00:00"), pzero(change.KindDateTime, "0000-00-00 00:00:00"), pnull(), pv(change.KindDateTime, "2024-02-29 23:59:59"),
			pzero(change.KindDateTime, "2024-02-00 10:00:00"), pv(change.KindDateTime, "1969-12-31 23:59:59")}},
	{change.Column{Name: "dtm6", Type: "datetime", Scale: 6}, "INT64", "TIMESTAMP(isAdjustedToUTC=false,unit=MICROS)",
		[]pqSample{pv(change.KindDateTime, "9999-12-31 23:59:59.999999"), pv(change.KindDateTime, "2000-02-29 12:00:00.000001"), pnull(), pv(change.KindDateTime, "2024-02-29 23:59:59.500000"),
			pzero(change.KindDateTime, "0000-00-00 00:00:00.000000"), pv(change.KindDateTime, "0001-01-01 00:00:00.000001")}},
	{change.Column{Name: "dtm2", Type: "datetime", Scale: 2}, "INT64", "TIMESTAMP(isAdjustedToUTC=false,unit=MICROS)",
		[]pqSample{pv(change.KindDateTime, "2026-01-02 03:04:05.06"), pv(change.KindDateTime, "2026-11-21 00:00:00.00"), pnull(), pv(change.KindDateTime, "2024-02-29 23:59:59.99")}},
	{change.Column{Name: "ts", Type: "timestamp", Nullable: true}, "INT64", "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		[]pqSample{pstamp(1, 0, 0, "1970-01-01 00:00:01"), pnull(), pzero(change.KindTimestamp, "0000-00-00 00:00:00"), pstamp(1709251199, 0, 0, "2024-02-29 23:59:59")}},
	{change.Column{Name: "ts6", Type: "timestamp", Scale: 6, Nullable: true}, "INT64", "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		[]pqSample{pstamp(1, 0, 6, "1970-01-01 00:00:01.000000"), pstamp(math.MaxInt32, 999999, 6, "2038-01-19 03:14:07.999999"), pnull(), pstamp(1709251199, 1, 6, "2024-02-29 23:59:59.000001")}},
	{change.Column{Name: "c", Type: "char", Length: 10, Charset: "utf8mb4"}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindString, "abc"), pv(change.KindString, ""), pnull(), pv(change.KindString, "pad"), pv(change.KindString, "😀😀😀😀😀😀😀😀😀😀"), pv(change.KindString, "A")}},
	{change.Column{Name: "vc", Type: "varchar", Length: 300, Charset: "utf8mb4"}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindString, "élan 😀 \"quoted\"\n\ttab"), pv(change.KindString, ""), pnull(), pv(change.KindString, "trailing space "), pv(change.KindString, strings.Repeat("😀", 300))}},
	{change.Column{Name: "tx", Type: "text", Charset: "utf8mb4"}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindString, "text"), pv(change.KindString, ""), pnull(), pv(change.KindString, "x"), pv(change.KindString, "nul\x00byte")}},
	{change.Column{Name: "ltx", Type: "longtext", Charset: "utf8mb4"}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindString, strings.Repeat("x", 70000)), pv(change.KindString, "")}},
	{change.Column{Name: "bn", Type: "binary", Length: 8, Charset: "binary"}, "BYTE_ARRAY", "",
		[]pqSample{pblob([]byte{1, 2, 0, 0, 0, 0, 0, 0}), pblob(make([]byte, 8)), pnull(), pblob([]byte{0, 0, 0, 0, 0, 0, 0, 1})}},
	{change.Column{Name: "vb", Type: "varbinary", Length: 64, Charset: "binary"}, "BYTE_ARRAY", "",
		[]pqSample{pblob([]byte{0, 0xff, 0}), pblob([]byte{}), pnull(), pblob([]byte{0})}},
	{change.Column{Name: "cb", Type: "char", Length: 4, Charset: "binary"}, "BYTE_ARRAY", "",
		[]pqSample{pblob([]byte{0xde, 0xad, 0, 0})}},
	{change.Column{Name: "mb", Type: "mediumblob", Charset: "binary"}, "BYTE_ARRAY", "",
		[]pqSample{pblob(bytes.Repeat([]byte{0xff, 0}, 40000))}},
	{change.Column{Name: "vec", Type: "vector", Length: 2}, "BYTE_ARRAY", "",
		[]pqSample{pblob([]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0})}},
	{change.Column{Name: "e", Type: "enum", Charset: "utf8mb4", Members: []string{"small", "medium", "large", "größer😀"}}, "BYTE_ARRAY", "STRING",
		[]pqSample{penum("large", 3), penum("medium", 2), pnull(), penum("small", 1), penum("", 0), penum("größer😀", 4)}},
	{change.Column{Name: "st", Type: "set", Charset: "utf8mb4", Members: []string{"a", "b", "c", "d"}}, "BYTE_ARRAY", "STRING",
		[]pqSample{pset("a,d", 9), pset("", 0), pnull(), pset("a,b,c,d", 15)}},
	{change.Column{Name: "j", Type: "json"}, "BYTE_ARRAY", "JSON",
		[]pqSample{pv(change.KindJSON, `{"k": [1, 2.5, "x"], "n": null}`), pv(change.KindJSON, `[]`), pnull(), pv(change.KindJSON, `{"a": {"b": {"c": true}}}`),
			pv(change.KindJSON, `"😀 \\u0000 is not a NUL"`), pv(change.KindJSON, `12345678901234567890.123456789`)}},
	{change.Column{Name: "g", Type: "geometry"}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindGeometry, "POLYGON((0 0,10 0,10 10,0 10,0 0),(1 1,2 1,2 2,1 1))"),
			pv(change.KindGeometry, "MULTIPOINT(1 1,2 2)"), pnull(),
			pv(change.KindGeometry, "GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))"),
			{v: change.Value{Kind: change.KindGeometry, Int: 4326, Text: []byte("POINT(13.4 52.52)")}, sql: "SRID=4326;POINT(13.4 52.52)"}}},
	{change.Column{Name: "pt", Type: "point"}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindGeometry, "POINT(1.5 -2.25)")}},
	{change.Column{Name: "u", Type: "uuid"}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindUUID, "123e4567-e89b-12d3-a456-426614174000"), pv(change.KindUUID, "00000000-0000-0000-0000-000000000001"), pnull(), pv(change.KindUUID, "ffffffff-ffff-ffff-ffff-ffffffffffff")}},
	{change.Column{Name: "i4", Type: "inet4"}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindInet, "192.168.0.1"), pv(change.KindInet, "0.0.0.0")}},
	{change.Column{Name: "i6", Type: "inet6"}, "BYTE_ARRAY", "STRING",
		[]pqSample{pv(change.KindInet, "2001:db8::ff00:42:8329"), pv(change.KindInet, "::1"), pnull(), pv(change.KindInet, "::ffff:192.0.2.1")}},
}

// pqTable is the table of every case's column.
func pqTable() *change.Table {
	t := &change.Table{Schema: "db", Name: "every_type", Version: 3}
	for _, c := range pqCases {
		t.Columns = append(t.Columns, c.col)
	}
	t.PrimaryKey = []int{0}
	return t
}

// pqRecords are the test file's records: row i holds sample i of every
// column, then a row with columns absent from the image (MINIMAL) and a
// TRUNCATE (no row image).
func pqRecords() []Record {
	rows := 0
	for _, c := range pqCases {
		rows = max(rows, len(c.samples))
	}
	ops := []byte{'c', 'u', 'd', 'r'}
	var recs []Record
	for i := range rows {
		r := Record{Meta: change.Meta{Op: ops[i%len(ops)], TsMs: 1764000000000 + int64(i)*1000, TxID: "0-1-" + strconv.Itoa(100+i),
			Order: int64(7)<<32 | int64(4+i*100), Event: uint64(i + 1)}}
		r.Deleted = r.Op == 'd'
		for _, c := range pqCases {
			v := change.Value{Kind: change.KindNull}
			if i < len(c.samples) {
				v = c.samples[i].v
			}
			r.Row = append(r.Row, v)
		}
		recs = append(recs, r)
	}
	minimal := Record{Meta: change.Meta{Op: 'u', TsMs: 1764000099000, TxID: "mysql-bin.000007:123456", Order: 7<<32 | 123456, Event: math.MaxUint32 + 1}}
	for i, c := range pqCases {
		v := change.Value{Kind: change.KindMissing}
		if i%3 == 0 {
			v = c.samples[0].v
		}
		minimal.Row = append(minimal.Row, v)
	}
	recs = append(recs, minimal)
	recs = append(recs, Record{Meta: change.Meta{Op: 't', Deleted: true, TsMs: 1764000100000, TxID: "0-1-999", Order: 8 << 32, Event: 1}})
	return recs
}

// writeTestParquet writes records to a file in dir.
func writeTestParquet(t testing.TB, path string, tbl *change.Table, recs []Record) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	err = writeParquet(f, tbl, func() (*Record, error) {
		if i == len(recs) {
			return nil, nil
		}
		i++
		return &recs[i-1], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// readTestParquet reads a file back into records (deep copies).
func readTestParquet(t testing.TB, path string, tbl *change.Table) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var got []Record
	err = readParquet(f, st.Size(), tbl, func(r *Record) error {
		c := Record{Meta: r.Meta, Row: make([]change.Value, len(r.Row))}
		for i, v := range r.Row {
			v.Text = bytes.Clone(v.Text)
			c.Row[i] = v
		}
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sameValue(a, b change.Value) bool {
	return a.Kind == b.Kind && a.Int == b.Int && a.Uint == b.Uint && math.Float64bits(a.Float) == math.Float64bits(b.Float) && bytes.Equal(a.Text, b.Text)
}

func showValue(v change.Value) string {
	return fmt.Sprintf("{kind %d int %d uint %d float %g text %q}", v.Kind, v.Int, v.Uint, v.Float, v.Text)
}

func TestParquetRoundTrip(t *testing.T) {
	tbl := pqTable()
	recs := pqRecords()
	path := filepath.Join(t.TempDir(), "every_type.parquet")
	writeTestParquet(t, path, tbl, recs)
	got := readTestParquet(t, path, tbl)
	if len(got) != len(recs) {
		t.Fatalf("read %d records, wrote %d", len(got), len(recs))
	}
	for i, want := range recs {
		g := got[i]
		if g.Meta != want.Meta {
			t.Errorf("record %d: meta %+v, want %+v", i, g.Meta, want.Meta)
		}
		if len(g.Row) != len(pqCases) {
			t.Fatalf("record %d: %d values, want %d", i, len(g.Row), len(pqCases))
		}
		for j, c := range pqCases {
			w := change.Value{Kind: change.KindNull}
			if j < len(want.Row) {
				w = want.Row[j]
				for _, s := range c.samples {
					if s.read != nil && sameValue(s.v, w) {
						w = *s.read
					}
				}
			}
			if !sameValue(g.Row[j], w) {
				t.Errorf("record %d column %s: read %s, want %s", i, c.col.Name, showValue(g.Row[j]), showValue(w))
			}
		}
	}

	// The same records make the same bytes.
	again := filepath.Join(t.TempDir(), "again.parquet")
	writeTestParquet(t, again, tbl, recs)
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Errorf("two writes of the same records differ (%d and %d bytes)", len(a), len(b))
	}
}

// TestParquetSchema reads the file's schema with parquet-go: every column
// has the physical and logical type of the mapping (docs/files.md).
func TestParquetSchema(t *testing.T) {
	tbl := pqTable()
	path := filepath.Join(t.TempDir(), "every_type.parquet")
	writeTestParquet(t, path, tbl, pqRecords())
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	elems := pf.Metadata().Schema[1:] // [0] is the root
	want := make([]pqCase, 0, len(pqCases)+len(parquetMetaColumns))
	want = append(want, pqCases...)
	for _, m := range []struct{ name, physical, logical string }{
		{"__op", "BYTE_ARRAY", "STRING"}, {"__deleted", "BOOLEAN", ""}, {"__ts_ms", "INT64", "INT(64,true)"},
		{"__transaction_id", "BYTE_ARRAY", "STRING"}, {"__transaction_order", "INT64", "INT(64,true)"},
		{"__event_number", "INT64", "INT(64,true)"}, {"__missing", "BYTE_ARRAY", "JSON"},
	} {
		want = append(want, pqCase{col: change.Column{Name: m.name}, physical: m.physical, logical: m.logical})
	}
	if len(elems) != len(want) {
		t.Fatalf("%d columns, want %d", len(elems), len(want))
	}
	for i, e := range elems {
		w := want[i]
		lt := e.LogicalType.String()
		optional := e.RepetitionType.Valid && e.RepetitionType.V == format.Optional
		wantOptional := i < len(pqCases) || w.col.Name == "__missing"
		if e.Name != w.col.Name || e.Type.V.String() != w.physical || lt != w.logical || optional != wantOptional {
			t.Errorf("column %d: %s %s %q optional %v, want %s %s %q optional %v", i, e.Name, e.Type.V, lt, optional, w.col.Name, w.physical, w.logical, wantOptional)
		}
		if w.logical == "DECIMAL(38,38)" && e.TypeLength.V != 16 || w.logical == "DECIMAL(19,2)" && e.TypeLength.V != 9 {
			t.Errorf("column %s: FIXED_LEN_BYTE_ARRAY(%d), want the fewest bytes for the precision", e.Name, e.TypeLength.V)
		}
	}
	// parquet-go's own generic reading sees every row.
	rows := parquet.NewReader(pf)
	defer rows.Close()
	if n := rows.NumRows(); n != int64(len(pqRecords())) {
		t.Errorf("parquet-go reads %d rows, want %d", n, len(pqRecords()))
	}
	buf := make([]parquet.Row, 1)
	if n, err := rows.ReadRows(buf); n != 1 || err != nil && n == 0 {
		t.Fatalf("parquet-go ReadRows: %d, %v", n, err)
	}
	if v := buf[0][1]; v.Uint64() != 255 { // tiu of row 0
		t.Errorf("parquet-go reads tiu %v, want 255", v)
	}
}

// TestParquetDuckDB reads the file with DuckDB's read_parquet: every value
// reads as the source server prints it.
func TestParquetDuckDB(t *testing.T) {
	tbl := pqTable()
	recs := pqRecords()
	path := filepath.Join(t.TempDir(), "every_type.parquet")
	writeTestParquet(t, path, tbl, recs)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var exprs []string
	for _, c := range pqCases {
		q := `"` + c.col.Name + `"`
		var e string
		switch parquetSourceType(&c.col) {
		case "binary", "varbinary", "mediumblob", "vector":
			e = "lower(hex(" + q + "))"
		case "datetime":
			e = "strftime(" + q + ", '%Y-%m-%d %H:%M:%S.%f')"
		case "timestamp":
			e = "strftime(timezone('UTC', " + q + "), '%Y-%m-%d %H:%M:%S.%f')"
		case "float", "double":
			e = q // compared as numbers
		default:
			e = "CAST(" + q + " AS VARCHAR)"
		}
		exprs = append(exprs, e)
	}
	exprs = append(exprs, "__op", "CAST(__deleted AS VARCHAR)", "__ts_ms", "__transaction_id", "__transaction_order", "__event_number", "CAST(__missing AS VARCHAR)")
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM read_parquet('" + path + "')"
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		vals := make([]any, len(exprs))
		ptrs := make([]any, len(exprs))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		rec := recs[n]
		for j, c := range pqCases {
			got := vals[j]
			want := pqSample{null: true}
			if j < len(rec.Row) {
				want = sampleOf(c, rec.Row[j])
			}
			switch {
			case want.null:
				if got != nil {
					t.Errorf("row %d column %s: DuckDB reads %v, want NULL", n, c.col.Name, got)
				}
			case c.col.Type == "float" || c.col.Type == "double":
				f, ok := got.(float64)
				if c.col.Type == "float" {
					var f32 float32
					f32, ok = got.(float32)
					f = float64(f32)
				}
				if !ok || f != want.v.Float {
					t.Errorf("row %d column %s: DuckDB reads %v (%T), want %s", n, c.col.Name, got, got, want.sql)
				}
			default:
				w := want.sql
				switch parquetSourceType(&c.col) {
				case "datetime", "timestamp":
					w = fracTo6(w)
				}
				if s, ok := got.(string); !ok || s != w && duckDecimal(s) != w {
					t.Errorf("row %d column %s: DuckDB reads %q, want %q", n, c.col.Name, got, w)
				}
			}
		}
		m := vals[len(pqCases):]
		wantMeta := []any{string(rec.Op), strconv.FormatBool(rec.Deleted), rec.TsMs, rec.TxID, rec.Order, int64(rec.Event)}
		for k, w := range wantMeta {
			if fmt.Sprint(m[k]) != fmt.Sprint(w) {
				t.Errorf("row %d %s: DuckDB reads %v, want %v", n, parquetMetaColumns[k], m[k], w)
			}
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(recs) {
		t.Errorf("DuckDB reads %d rows, want %d", n, len(recs))
	}
}

// fracTo6 pads a "YYYY-MM-DD HH:MM:SS[.f]" text to six fractional digits.
func fracTo6(s string) string {
	if len(s) == 19 {
		return s + ".000000"
	}
	return s + strings.Repeat("0", 26-len(s))
}

// sampleOf is c's sample of value v (NULL for a value absent from the
// image).
func sampleOf(c pqCase, v change.Value) pqSample {
	for _, s := range c.samples {
		if sameValue(s.v, v) {
			return s
		}
	}
	return pqSample{null: true}
}

// duckDecimal is a DECIMAL(p,p) as DuckDB prints it ("-.5") as the server
// prints it ("-0.5").
func duckDecimal(s string) string {
	switch {
	case strings.HasPrefix(s, "."):
		return "0" + s
	case strings.HasPrefix(s, "-."):
		return "-0" + s[1:]
	}
	return s
}

// benchTable is a 10-column table like the benchmark workload's.
func benchTable() *change.Table {
	return &change.Table{Schema: "bench", Name: "orders", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{
		{Name: "id", Type: "bigint", Unsigned: true},
		{Name: "customer", Type: "int"},
		{Name: "status", Type: "varchar", Length: 16, Charset: "utf8mb4"},
		{Name: "note", Type: "varchar", Length: 200, Charset: "utf8mb4"},
		{Name: "amount", Type: "decimal", Precision: 12, Scale: 2},
		{Name: "created", Type: "datetime", Scale: 6},
		{Name: "updated", Type: "timestamp", Scale: 3},
		{Name: "ratio", Type: "double"},
		{Name: "flag", Type: "tinyint"},
		{Name: "code", Type: "char", Length: 8, Charset: "ascii"},
	}}
}

// benchRecords are n distinct records of benchTable.
func benchRecords(n int) []Record {
	recs := make([]Record, n)
	statuses := []string{"new", "paid", "shipped", "cancelled"}
	for i := range recs {
		sec := int64(1764000000 + i)
		recs[i] = Record{
			Meta: change.Meta{Op: 'c', TsMs: sec * 1000, TxID: "0-1-" + strconv.Itoa(1000+i/4), Order: 3<<32 | int64(4+i/4*500), Event: uint64(i%4 + 1)},
			Row: []change.Value{
				{Kind: change.KindUint, Uint: uint64(i + 1)},
				{Kind: change.KindInt, Int: int64(i % 9973)},
				{Kind: change.KindString, Text: []byte(statuses[i%4])},
				{Kind: change.KindString, Text: []byte("order note number " + strconv.Itoa(i*7919) + " for the customer")},
				{Kind: change.KindDecimal, Text: []byte(strconv.Itoa(i%100000) + "." + strconv.Itoa(10+i%90))},
				{Kind: change.KindDateTime, Text: []byte(time.Unix(sec, int64(i%1000000)*1000).UTC().Format("2006-01-02 15:04:05.000000"))},
				{Kind: change.KindTimestamp, Int: sec, Uint: uint64(sec)*1e6 + uint64(i%1000)*1000, Text: []byte(time.Unix(sec, 0).UTC().Format("2006-01-02 15:04:05") + ".123")},
				{Kind: change.KindDouble, Float: float64(i) / 7},
				{Kind: change.KindInt, Int: int64(i % 2)},
				{Kind: change.KindString, Text: []byte(fmt.Sprintf("C%07d", i%50000))},
			},
		}
	}
	return recs
}

// countingWriter counts what is written and drops it.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkWriteParquet writes b.N rows of 10 columns into one file (row
// groups of parquetGroupRows, each of distinct rows): rows/s is the figure
// docs/files.md quotes. zstd-default and snappy measure the codecs not
// chosen.
func BenchmarkWriteParquet(b *testing.B) {
	recs := benchRecords(parquetGroupRows)
	b.Run("zstd-fastest", func(b *testing.B) { benchWriteParquet(b, recs) })
	b.Run("zstd-default", func(b *testing.B) {
		defer func(c compress.Codec) { parquetCodec = c }(parquetCodec)
		parquetCodec = &zstd.Codec{Level: zstd.SpeedDefault, Concurrency: 1}
		benchWriteParquet(b, recs)
	})
	b.Run("snappy", func(b *testing.B) {
		defer func(c compress.Codec) { parquetCodec = c }(parquetCodec)
		parquetCodec = &snappy.Codec{}
		benchWriteParquet(b, recs)
	})
}

func benchWriteParquet(b *testing.B, recs []Record) {
	tbl := benchTable()
	b.ReportAllocs()
	b.ResetTimer()
	var out countingWriter
	i := 0
	err := writeParquet(&out, tbl, func() (*Record, error) {
		if i == b.N {
			return nil, nil
		}
		r := &recs[i%len(recs)]
		i++
		return r, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(out.n)/float64(b.N), "bytes/row")
}

// TestParquetRowGroups: a file of more rows than a row group holds is cut
// into row groups of at most parquetGroupRows rows, read back whole and in
// order.
func TestParquetRowGroups(t *testing.T) {
	tbl := benchTable()
	recs := benchRecords(2*parquetGroupRows + 1000)
	path := filepath.Join(t.TempDir(), "big.parquet")
	writeTestParquet(t, path, tbl, recs)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	groups := pf.RowGroups()
	if len(groups) != 3 {
		t.Errorf("%d row groups, want 3", len(groups))
	}
	for i, g := range groups {
		if g.NumRows() > parquetGroupRows {
			t.Errorf("row group %d holds %d rows, more than %d", i, g.NumRows(), parquetGroupRows)
		}
	}
	n := 0
	err = readParquet(f, st.Size(), tbl, func(r *Record) error {
		w := &recs[n]
		if r.Meta != w.Meta || r.Row[0].Uint != w.Row[0].Uint || string(r.Row[3].Text) != string(w.Row[3].Text) || string(r.Row[4].Text) != string(w.Row[4].Text) {
			return fmt.Errorf("record %d: %+v %s, want %+v %s", n, r.Meta, showValue(r.Row[3]), w.Meta, showValue(w.Row[3]))
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(recs) {
		t.Errorf("read %d records, wrote %d", n, len(recs))
	}
}

// TestParquetBadInput: a value that does not fit its column, or a file of
// another table version, is an error naming the column and the value.
func TestParquetBadInput(t *testing.T) {
	one := func(tbl *change.Table, row ...change.Value) error {
		done := false
		return writeParquet(&countingWriter{}, tbl, func() (*Record, error) {
			if done {
				return nil, nil
			}
			done = true
			return &Record{Meta: change.Meta{Op: 'c'}, Row: row}, nil
		})
	}
	table := func(cols ...change.Column) *change.Table {
		return &change.Table{Schema: "db", Name: "t", Version: 1, Columns: cols}
	}
	text := func(k change.Kind, s string) change.Value { return change.Value{Kind: k, Text: []byte(s)} }
	for _, tc := range []struct {
		tbl  *change.Table
		v    change.Value
		want string
	}{
		{table(change.Column{Name: "amount", Type: "decimal", Precision: 5, Scale: 2}), text(change.KindDecimal, "1234.56"), `column amount: "1234.56" has more digits`},
		{table(change.Column{Name: "amount", Type: "decimal", Precision: 5, Scale: 2}), text(change.KindDecimal, "1.234"), `column amount: "1.234" is not a decimal number of scale 2`},
		{table(change.Column{Name: "big", Type: "decimal", Precision: 30, Scale: 2}), text(change.KindDecimal, "1e5"), `column big: "1e5" is not a decimal number`},
		{table(change.Column{Name: "wide", Type: "decimal", Precision: 40, Scale: 0}), text(change.KindDecimal, strings.Repeat("9", 41)), `column wide: "` + strings.Repeat("9", 41) + `" has more digits`},
		{table(change.Column{Name: "d", Type: "date"}), text(change.KindDate, "2024-1-1"), `column d: "2024-1-1" is not a date`},
		{table(change.Column{Name: "dt", Type: "datetime"}), text(change.KindDateTime, "2024-01-01 25:00:00"), `column dt: "2024-01-01 25:00:00" is not a datetime`},
		{table(change.Column{Name: "tm", Type: "time"}), text(change.KindTime, "12:3:00"), `column tm: "12:3:00" is not a time`},
		{table(change.Column{Name: "n", Type: "int"}), text(change.KindString, "1"), "column n: a value of kind"},
		{table(change.Column{Name: "x", Type: "hyperloglog"}), change.Value{}, "column x: type hyperloglog has no Parquet type"},
		{table(change.Column{Name: "b", Type: "bit", Length: 65}), change.Value{}, "column b: bit(65) is not a valid length"},
		{table(change.Column{Name: "__op", Type: "int"}), change.Value{}, `column name "__op" appears twice`},
	} {
		err := one(tc.tbl, tc.v)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: error %v, want one containing %q", tc.tbl.Columns[0].Name, showValue(tc.v), err, tc.want)
		}
	}

	// A file read as another version of its table.
	tbl := benchTable()
	path := filepath.Join(t.TempDir(), "v1.parquet")
	writeTestParquet(t, path, tbl, benchRecords(3))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	v2 := *tbl
	v2.Version = 2
	v2.Columns = append([]change.Column{}, tbl.Columns...)
	v2.Columns[3].Name = "remark"
	err = readParquet(f, st.Size(), &v2, func(*Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `column 4 is "note", table bench.orders version 2 has "remark" there`) {
		t.Errorf("reading as another version: %v", err)
	}
	v2.Columns = v2.Columns[:9]
	err = readParquet(f, st.Size(), &v2, func(*Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "the file has 17 columns, table bench.orders version 2 has 9") {
		t.Errorf("reading with fewer columns: %v", err)
	}
}
