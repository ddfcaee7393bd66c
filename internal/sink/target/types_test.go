package target

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb"
	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/testutil"
)

// sample is one source value and what it means, as the source server
// prints it (the DESIGN value table: integers in decimal, BIT as an
// unsigned integer, bytes in lowercase hex, TIMESTAMP in UTC); null: the
// target stores NULL.
type sample struct {
	v    change.Value
	want string
	null bool
	// pgRefuses: PostgreSQL cannot hold the value (a 0x00 byte in text,
	// \u0000 in jsonb); arg must say so, and the row stores NULL there.
	pgRefuses bool
}

func val(k change.Kind, s string) sample {
	return sample{v: change.Value{Kind: k, Text: []byte(s)}, want: s}
}
func null() sample { return sample{v: change.Value{Kind: change.KindNull}, null: true} }
func zero(k change.Kind, s string) sample {
	return sample{v: change.Value{Kind: k, Text: []byte(s)}, null: true}
}
func intv(n int64) sample {
	return sample{v: change.Value{Kind: change.KindInt, Int: n}, want: strconv.FormatInt(n, 10)}
}
func uintv(k change.Kind, n uint64) sample {
	return sample{v: change.Value{Kind: k, Uint: n}, want: strconv.FormatUint(n, 10)}
}
func year(n int64) sample {
	return sample{v: change.Value{Kind: change.KindYear, Int: n}, want: strconv.FormatInt(n, 10)}
}
func float(f float32) sample {
	return sample{v: change.Value{Kind: change.KindFloat, Float: float64(f)}, want: strconv.FormatFloat(float64(f), 'g', -1, 32)}
}
func double(f float64) sample {
	return sample{v: change.Value{Kind: change.KindDouble, Float: f}, want: strconv.FormatFloat(f, 'g', -1, 64)}
}
func blob(b []byte) sample {
	return sample{v: change.Value{Kind: change.KindBytes, Text: b}, want: hex.EncodeToString(b)}
}

// stamp is a TIMESTAMP at UNIX sec.usec whose text is in UTC+02:00 (a
// configured zone): the target must store the instant, want in UTC.
func stamp(sec int64, usec uint64, fsp int, want string) sample {
	text := time.Unix(sec, int64(usec)*1000).In(time.FixedZone("", 2*3600)).Format("2006-01-02 15:04:05.000000")
	text = text[:len(text)-6+fsp]
	if fsp == 0 {
		text = text[:19]
	}
	return sample{v: change.Value{Kind: change.KindTimestamp, Int: sec, Uint: uint64(sec)*1e6 + usec, Text: []byte(text)}, want: want}
}

func refusedByPG(s sample) sample { s.pgRefuses = true; return s }

// typeCase is a source column, its type on each target and its samples
// (row i of the round-trip table holds sample i; shorter lists leave NULL).
type typeCase struct {
	col        change.Column
	pg, my, du string
	my8        string // MySQL 8 (or MariaDB before UUID/INET4/INET6) where it differs from my
	samples    []sample
}

// typeCases covers every MySQL/MariaDB column type with the edge values of
// cmd/bintap's createAllTypes and a few more.
var typeCases = []typeCase{
	{change.Column{Name: "ti", Type: "tinyint"}, "smallint", "tinyint", "TINYINT", "",
		[]sample{intv(-128), intv(127), null(), intv(-1)}},
	{change.Column{Name: "tiu", Type: "tinyint", Unsigned: true}, "smallint", "tinyint unsigned", "UTINYINT", "",
		[]sample{uintv(change.KindUint, 255), uintv(change.KindUint, 0), null(), uintv(change.KindUint, 1)}},
	{change.Column{Name: "si", Type: "smallint"}, "smallint", "smallint", "SMALLINT", "",
		[]sample{intv(-32768), intv(32767), null(), intv(-1)}},
	{change.Column{Name: "siu", Type: "smallint", Unsigned: true}, "integer", "smallint unsigned", "USMALLINT", "",
		[]sample{uintv(change.KindUint, 65535), uintv(change.KindUint, 0)}},
	{change.Column{Name: "mi", Type: "mediumint"}, "integer", "mediumint", "INTEGER", "",
		[]sample{intv(-8388608), intv(8388607)}},
	{change.Column{Name: "miu", Type: "mediumint", Unsigned: true}, "integer", "mediumint unsigned", "UINTEGER", "",
		[]sample{uintv(change.KindUint, 16777215), uintv(change.KindUint, 0)}},
	{change.Column{Name: "i", Type: "int"}, "integer", "int", "INTEGER", "",
		[]sample{intv(math.MinInt32), intv(math.MaxInt32)}},
	{change.Column{Name: "iu", Type: "int", Unsigned: true}, "bigint", "int unsigned", "UINTEGER", "",
		[]sample{uintv(change.KindUint, math.MaxUint32), uintv(change.KindUint, 0)}},
	{change.Column{Name: "bi", Type: "bigint"}, "bigint", "bigint", "BIGINT", "",
		[]sample{intv(math.MinInt64), intv(math.MaxInt64), null(), intv(-1)}},
	{change.Column{Name: "biu", Type: "bigint", Unsigned: true}, "numeric(20,0)", "bigint unsigned", "UBIGINT", "",
		[]sample{uintv(change.KindUint, math.MaxUint64), uintv(change.KindUint, 0), null(), uintv(change.KindUint, 1), uintv(change.KindUint, 1<<63)}},
	{change.Column{Name: "d1", Type: "decimal", Precision: 10, Scale: 2}, "numeric(10,2)", "decimal(10,2)", "DECIMAL(10,2)", "",
		[]sample{val(change.KindDecimal, "-12345678.90"), val(change.KindDecimal, "0.00"), null(), val(change.KindDecimal, "-0.01"), val(change.KindDecimal, "99999999.99")}},
	{change.Column{Name: "d2", Type: "decimal", Precision: 65, Scale: 30}, "numeric(65,30)", "decimal(65,30)", "VARCHAR", "",
		[]sample{val(change.KindDecimal, "-12345678901234567890123456789012345.123456789012345678901234567890"),
			val(change.KindDecimal, "0.000000000000000000000000000001"), null(), val(change.KindDecimal, "-0.000000000000000000000000000001")}},
	{change.Column{Name: "d3", Type: "decimal", Precision: 5, Scale: 0, Unsigned: true}, "numeric(5,0)", "decimal(5,0)", "DECIMAL(5,0)", "",
		[]sample{val(change.KindDecimal, "99999"), val(change.KindDecimal, "0")}},
	{change.Column{Name: "d4", Type: "decimal", Precision: 38, Scale: 38}, "numeric(38,38)", "decimal(38,38)", "DECIMAL(38,38)", "",
		[]sample{val(change.KindDecimal, "-0.99999999999999999999999999999999999999"), val(change.KindDecimal, "0.00000000000000000000000000000000000001")}},
	{change.Column{Name: "f", Type: "float"}, "real", "float", "FLOAT", "",
		[]sample{float(-3.4e38), float(0.1), null(), float(1e-10), float(math.SmallestNonzeroFloat32), float(math.MaxFloat32)}},
	{change.Column{Name: "db", Type: "double"}, "double precision", "double", "DOUBLE", "",
		[]sample{double(-math.MaxFloat64), double(0.1), null(), double(123456789.123456789), double(math.SmallestNonzeroFloat64)}},
	{change.Column{Name: "b1", Type: "bit", Length: 1}, "bit(1)", "bit(1)", "BIT", "",
		[]sample{uintv(change.KindBit, 1), uintv(change.KindBit, 0), null(), uintv(change.KindBit, 1)}},
	{change.Column{Name: "b64", Type: "bit", Length: 64}, "bit(64)", "bit(64)", "BIT", "",
		[]sample{uintv(change.KindBit, math.MaxUint64), uintv(change.KindBit, 0), null(), uintv(change.KindBit, 1<<63)}},
	{change.Column{Name: "b10", Type: "bit", Length: 10}, "bit(10)", "bit(10)", "BIT", "",
		[]sample{uintv(change.KindBit, 1023), uintv(change.KindBit, 513)}},
	{change.Column{Name: "y", Type: "year"}, "smallint", "year", "SMALLINT", "",
		[]sample{year(1901), year(0), null(), year(2155)}},
	{change.Column{Name: "dt", Type: "date"}, "date", "date", "DATE", "",
		[]sample{val(change.KindDate, "1000-01-01"), zero(change.KindDate, "0000-00-00"), null(), val(change.KindDate, "2024-02-29"),
			zero(change.KindDate, "2024-00-15"), zero(change.KindDate, "2024-02-00"), zero(change.KindDate, "0000-01-01"), val(change.KindDate, "9999-12-31"), val(change.KindDate, "0001-01-01")}},
	{change.Column{Name: "tm", Type: "time"}, "interval(0)", "time(0)", "INTERVAL", "",
		[]sample{val(change.KindTime, "-838:59:59"), val(change.KindTime, "00:00:00"), null(), val(change.KindTime, "838:59:59"), val(change.KindTime, "-00:00:01"), val(change.KindTime, "24:00:00")}},
	{change.Column{Name: "tm6", Type: "time", Scale: 6}, "interval(6)", "time(6)", "INTERVAL", "",
		[]sample{val(change.KindTime, "-00:00:01.500000"), val(change.KindTime, "12:34:56.000001"), null(), val(change.KindTime, "838:59:59.000000"),
			val(change.KindTime, "-838:59:59.000000"), val(change.KindTime, "-00:00:00.000001")}},
	{change.Column{Name: "tm3", Type: "time", Scale: 3}, "interval(3)", "time(3)", "INTERVAL", "",
		[]sample{val(change.KindTime, "838:59:59.999"), val(change.KindTime, "-01:00:00.500"), null(), val(change.KindTime, "-838:59:59.000")}},
	{change.Column{Name: "dtm", Type: "datetime"}, "timestamp(0)", "datetime(0)", "TIMESTAMP", "",
		[]sample{val(change.KindDateTime, "1000-01-01 00:00:00"), zero(change.KindDateTime, "0000-00-00 00:00:00"), null(), val(change.KindDateTime, "2024-02-29 23:59:59"),
			zero(change.KindDateTime, "2024-02-00 10:00:00")}},
	{change.Column{Name: "dtm6", Type: "datetime", Scale: 6}, "timestamp(6)", "datetime(6)", "TIMESTAMP", "",
		[]sample{val(change.KindDateTime, "9999-12-31 23:59:59.999999"), val(change.KindDateTime, "2000-02-29 12:00:00.000001"), null(), val(change.KindDateTime, "2024-02-29 23:59:59.500000"),
			zero(change.KindDateTime, "0000-00-00 00:00:00.000000")}},
	{change.Column{Name: "dtm2", Type: "datetime", Scale: 2}, "timestamp(2)", "datetime(2)", "TIMESTAMP", "",
		[]sample{val(change.KindDateTime, "2026-01-02 03:04:05.06"), val(change.KindDateTime, "2026-11-21 00:00:00.00"), null(), val(change.KindDateTime, "2024-02-29 23:59:59.99")}},
	{change.Column{Name: "ts", Type: "timestamp", Nullable: true}, "timestamptz(0)", "datetime(0)", "TIMESTAMPTZ", "",
		[]sample{stamp(1, 0, 0, "1970-01-01 00:00:01"), null(), zero(change.KindTimestamp, "0000-00-00 00:00:00"), stamp(1709251199, 0, 0, "2024-02-29 23:59:59")}},
	{change.Column{Name: "ts6", Type: "timestamp", Scale: 6, Nullable: true}, "timestamptz(6)", "datetime(6)", "TIMESTAMPTZ", "",
		[]sample{stamp(1, 0, 6, "1970-01-01 00:00:01.000000"), stamp(math.MaxInt32, 999999, 6, "2038-01-19 03:14:07.999999"), null(), stamp(1709251199, 1, 6, "2024-02-29 23:59:59.000001")}},
	{change.Column{Name: "c", Type: "char", Length: 10, Charset: "utf8mb4"}, "varchar(10)", "char(10)" + utf8, "VARCHAR", "",
		[]sample{val(change.KindString, "abc"), val(change.KindString, ""), null(), val(change.KindString, "pad"), val(change.KindString, "😀😀😀😀😀😀😀😀😀😀"), val(change.KindString, "A")}},
	{change.Column{Name: "vc", Type: "varchar", Length: 300, Charset: "utf8mb4"}, "varchar(300)", "varchar(300)" + utf8, "VARCHAR", "",
		[]sample{val(change.KindString, "élan 😀 \"quoted\"\n\ttab"), val(change.KindString, ""), null(), val(change.KindString, "trailing space "), val(change.KindString, strings.Repeat("😀", 300))}},
	{change.Column{Name: "l1", Type: "varchar", Length: 50, Charset: "latin1"}, "varchar(50)", "varchar(50)" + utf8, "VARCHAR", "",
		[]sample{val(change.KindString, "Grüße €"), val(change.KindString, ""), null(), val(change.KindString, "Ægir"), val(change.KindString, strings.Repeat("€", 50))}},
	{change.Column{Name: "vcl", Type: "varchar", Length: 20000, Charset: "latin1"}, "varchar(20000)", "longtext" + utf8, "VARCHAR", "",
		[]sample{val(change.KindString, strings.Repeat("é", 20000))}},
	{change.Column{Name: "tt", Type: "tinytext", Charset: "latin1"}, "text", "text" + utf8, "VARCHAR", "",
		[]sample{val(change.KindString, strings.Repeat("é", 255))}},
	{change.Column{Name: "tx", Type: "text", Charset: "utf8mb4"}, "text", "text" + utf8, "VARCHAR", "",
		[]sample{val(change.KindString, "text"), val(change.KindString, ""), null(), val(change.KindString, "x"), refusedByPG(val(change.KindString, "nul\x00byte"))}},
	{change.Column{Name: "mtx", Type: "mediumtext", Charset: "cp1251"}, "text", "longtext" + utf8, "VARCHAR", "",
		[]sample{val(change.KindString, "Привет")}},
	{change.Column{Name: "ltx", Type: "longtext", Charset: "utf8mb4"}, "text", "longtext" + utf8, "VARCHAR", "",
		[]sample{val(change.KindString, strings.Repeat("x", 70000)), val(change.KindString, "")}},
	{change.Column{Name: "bn", Type: "binary", Length: 8, Charset: "binary"}, "bytea", "binary(8)", "BLOB", "",
		[]sample{blob([]byte{1, 2, 0, 0, 0, 0, 0, 0}), blob(make([]byte, 8)), null(), blob([]byte{0, 0, 0, 0, 0, 0, 0, 1})}},
	{change.Column{Name: "vb", Type: "varbinary", Length: 64, Charset: "binary"}, "bytea", "varbinary(64)", "BLOB", "",
		[]sample{blob([]byte{0, 0xff, 0}), blob([]byte{}), null(), blob([]byte{0})}},
	{change.Column{Name: "cb", Type: "char", Length: 4, Charset: "binary"}, "bytea", "binary(4)", "BLOB", "",
		[]sample{blob([]byte{0xde, 0xad, 0, 0})}},
	{change.Column{Name: "tb", Type: "tinyblob", Charset: "binary"}, "bytea", "tinyblob", "BLOB", "",
		[]sample{blob(bytes.Repeat([]byte{0}, 255))}},
	{change.Column{Name: "bl", Type: "blob", Charset: "binary"}, "bytea", "blob", "BLOB", "",
		[]sample{blob([]byte{}), blob([]byte{0}), null(), blob([]byte{0})}},
	{change.Column{Name: "mb", Type: "mediumblob", Charset: "binary"}, "bytea", "mediumblob", "BLOB", "",
		[]sample{blob(bytes.Repeat([]byte{0xff, 0}, 40000))}},
	{change.Column{Name: "lb", Type: "longblob", Charset: "binary"}, "bytea", "longblob", "BLOB", "",
		[]sample{blob([]byte("\x00\x01\x02\xfe\xff"))}},
	{change.Column{Name: "vec", Type: "vector", Length: 2}, "bytea", "blob", "BLOB", "",
		[]sample{blob([]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0})}},
	{change.Column{Name: "e", Type: "enum", Charset: "utf8mb4", Members: []string{"small", "medium", "large", "größer😀"}},
		"text", "varchar(7)" + utf8, "VARCHAR", "",
		[]sample{val(change.KindEnum, "large"), val(change.KindEnum, "medium"), null(), val(change.KindEnum, "small"), val(change.KindEnum, ""), val(change.KindEnum, "größer😀")}},
	{change.Column{Name: "st", Type: "set", Charset: "utf8mb4", Members: []string{"a", "b", "c", "d"}}, "text", "varchar(7)" + utf8, "VARCHAR", "",
		[]sample{val(change.KindSet, "a,d"), val(change.KindSet, ""), null(), val(change.KindSet, "a,b,c,d")}},
	{change.Column{Name: "j", Type: "json"}, "jsonb", "json", "JSON", "",
		[]sample{val(change.KindJSON, `{"k": [1, 2.5, "x"], "n": null}`), val(change.KindJSON, `[]`), null(), val(change.KindJSON, `{"a": {"b": {"c": true}}}`),
			val(change.KindJSON, `"😀 \\u0000 is not a NUL"`), refusedByPG(val(change.KindJSON, `{"nul": "a\u0000b"}`)), val(change.KindJSON, `12345678901234567890.123456789`)}},
	{change.Column{Name: "g", Type: "geometry"}, "text", "longtext" + utf8, "VARCHAR", "",
		[]sample{val(change.KindGeometry, "POLYGON((0 0,10 0,10 10,0 10,0 0),(1 1,2 1,2 2,1 1))"),
			val(change.KindGeometry, "MULTIPOINT(1 1,2 2)"), null(),
			val(change.KindGeometry, "GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))"),
			{v: change.Value{Kind: change.KindGeometry, Int: 4326, Text: []byte("POINT(13.4 52.52)")}, want: "SRID=4326;POINT(13.4 52.52)"}}},
	{change.Column{Name: "pt", Type: "point"}, "text", "longtext" + utf8, "VARCHAR", "",
		[]sample{val(change.KindGeometry, "POINT(1.5 -2.25)"), val(change.KindGeometry, "POINT(0 0)"), null(), val(change.KindGeometry, "POINT(10000000000 -0.00001)")}},
	{change.Column{Name: "ls", Type: "linestring"}, "text", "longtext" + utf8, "VARCHAR", "",
		[]sample{val(change.KindGeometry, "LINESTRING(0 0,1 1,2 0)")}},
	{change.Column{Name: "pg", Type: "polygon"}, "text", "longtext" + utf8, "VARCHAR", "",
		[]sample{val(change.KindGeometry, "POLYGON((0 0,1 0,1 1,0 0))")}},
	{change.Column{Name: "mp", Type: "multipoint"}, "text", "longtext" + utf8, "VARCHAR", "",
		[]sample{val(change.KindGeometry, "MULTIPOINT(0 0,1 1)")}},
	{change.Column{Name: "mls", Type: "multilinestring"}, "text", "longtext" + utf8, "VARCHAR", "",
		[]sample{val(change.KindGeometry, "MULTILINESTRING((0 0,1 1),(2 2,3 3))")}},
	{change.Column{Name: "mpg", Type: "multipolygon"}, "text", "longtext" + utf8, "VARCHAR", "",
		[]sample{val(change.KindGeometry, "MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((5 5,6 5,6 6,5 5)))")}},
	{change.Column{Name: "gc", Type: "geometrycollection"}, "text", "longtext" + utf8, "VARCHAR", "",
		[]sample{val(change.KindGeometry, "GEOMETRYCOLLECTION EMPTY")}},
	{change.Column{Name: "u", Type: "uuid"}, "uuid", "uuid", "UUID", "char(36) CHARACTER SET ascii",
		[]sample{val(change.KindUUID, "123e4567-e89b-12d3-a456-426614174000"), val(change.KindUUID, "00000000-0000-0000-0000-000000000001"), null(), val(change.KindUUID, "ffffffff-ffff-ffff-ffff-ffffffffffff")}},
	{change.Column{Name: "i4", Type: "inet4"}, "inet", "inet4", "VARCHAR", "varchar(15) CHARACTER SET ascii",
		[]sample{val(change.KindInet, "192.168.0.1"), val(change.KindInet, "0.0.0.0"), null(), val(change.KindInet, "255.255.255.255")}},
	{change.Column{Name: "i6", Type: "inet6"}, "inet", "inet6", "VARCHAR", "varchar(39) CHARACTER SET ascii",
		[]sample{val(change.KindInet, "2001:db8::ff00:42:8329"), val(change.KindInet, "::1"), null(), val(change.KindInet, "::ffff:192.0.2.1"), val(change.KindInet, "1:2:3:4:5:6:7:8")}},
}

var (
	mariaDB1011 = mysql{mariaDB: true, version: [2]int{10, 11}}
	mysql80     = mysql{version: [2]int{8, 0}}
)

func TestColumnTypes(t *testing.T) {
	for _, tc := range typeCases {
		c := &tc.col
		my8 := tc.my8
		if my8 == "" {
			my8 = tc.my
		}
		for _, d := range []struct {
			d    dialect
			want string
		}{{postgres{}, tc.pg}, {mariaDB1011, tc.my}, {mysql80, my8}, {duck{}, tc.du}} {
			got, err := d.d.columnType(c)
			if err != nil || got != d.want {
				t.Errorf("%s column %s (%s): columnType %q, %v; want %q", d.d.name(), c.Name, c.Type, got, err, d.want)
			}
		}
		// Parameters are cast to the column type (PostgreSQL without
		// VARCHAR's length) on PostgreSQL and DuckDB.
		wantPG := "$7::" + tc.pg
		if strings.HasPrefix(tc.pg, "varchar(") {
			wantPG = "$7::varchar"
		}
		if got := (postgres{}).param(c, 7); got != wantPG {
			t.Errorf("postgres param of %s: %q, want %q", c.Name, got, wantPG)
		}
		if got := mariaDB1011.param(c, 7); got != "?" {
			t.Errorf("mysql param of %s: %q", c.Name, got)
		}
		if got := (duck{}).param(c, 7); got != "?::"+tc.du {
			t.Errorf("duckdb param of %s: %q, want %q", c.Name, got, "?::"+tc.du)
		}
	}
}

func TestColumnTypeVersions(t *testing.T) {
	for _, tc := range []struct {
		d                  mysql
		uuid, inet4, inet6 string
	}{
		{mysql{mariaDB: true, version: [2]int{10, 4}}, "char(36) CHARACTER SET ascii", "varchar(15) CHARACTER SET ascii", "varchar(39) CHARACTER SET ascii"},
		{mysql{mariaDB: true, version: [2]int{10, 5}}, "char(36) CHARACTER SET ascii", "varchar(15) CHARACTER SET ascii", "inet6"},
		{mysql{mariaDB: true, version: [2]int{10, 7}}, "uuid", "varchar(15) CHARACTER SET ascii", "inet6"},
		{mysql{mariaDB: true, version: [2]int{10, 10}}, "uuid", "inet4", "inet6"},
		{mysql{mariaDB: true, version: [2]int{11, 0}}, "uuid", "inet4", "inet6"},
		{mysql{version: [2]int{11, 0}}, "char(36) CHARACTER SET ascii", "varchar(15) CHARACTER SET ascii", "varchar(39) CHARACTER SET ascii"},
	} {
		for typ, want := range map[string]string{"uuid": tc.uuid, "inet4": tc.inet4, "inet6": tc.inet6} {
			if got, _ := tc.d.columnType(&change.Column{Name: "x", Type: typ}); got != want {
				t.Errorf("%+v %s: %q, want %q", tc.d, typ, got, want)
			}
		}
	}
}

func TestTypeErrors(t *testing.T) {
	dialects := []dialect{postgres{}, mariaDB1011, duck{}}
	for _, d := range dialects {
		for _, c := range []change.Column{
			{Name: "odd", Type: "frobnicate"},
			{Name: "odd", Type: "decimal", Precision: 0},
			{Name: "odd", Type: "bit", Length: 65},
		} {
			_, err := d.columnType(&c)
			if err == nil || !strings.Contains(err.Error(), "column odd") || !strings.Contains(err.Error(), c.Type) {
				t.Errorf("%s columnType(%+v): %v; want an error naming the column and type", d.name(), c, err)
			}
		}
		c := &change.Column{Name: "gone", Type: "longtext"}
		if _, err := d.arg(c, &change.Value{Kind: change.KindMissing}); err == nil || !strings.Contains(err.Error(), "column gone") {
			t.Errorf("%s: a missing value gave %v, want an error naming the column", d.name(), err)
		}
		b := &change.Column{Name: "flags", Type: "bit", Length: 4}
		if _, err := d.arg(b, &change.Value{Kind: change.KindBit, Uint: 16}); d.name() != "mysql" && err == nil {
			t.Errorf("%s: 16 in bit(4) was accepted", d.name())
		}
		dt := &change.Column{Name: "day", Type: "date"}
		if _, err := d.arg(dt, &change.Value{Kind: change.KindDate, Text: []byte("soon")}); err == nil {
			t.Errorf("%s: a date %q was accepted", d.name(), "soon")
		}
	}
	pg := postgres{}
	for _, tc := range []struct {
		v       change.Value
		refused bool
	}{
		{change.Value{Kind: change.KindString, Text: []byte("a\x00")}, true},
		{change.Value{Kind: change.KindEnum, Text: []byte("\x00")}, true},
		{change.Value{Kind: change.KindJSON, Text: []byte(`["\u0000"]`)}, true},
		{change.Value{Kind: change.KindJSON, Text: []byte(`["\\\u0000"]`)}, true},
		{change.Value{Kind: change.KindJSON, Text: []byte(`["\\u0000"]`)}, false},
		{change.Value{Kind: change.KindJSON, Text: []byte(`["\u00001"]`)}, true},
		{change.Value{Kind: change.KindJSON, Text: []byte(`["\u0001"]`)}, false},
		{change.Value{Kind: change.KindString, Text: []byte("a")}, false},
		{change.Value{Kind: change.KindBytes, Text: []byte("\x00")}, false},
	} {
		c := &change.Column{Name: "note", Type: "text"}
		_, err := pg.arg(c, &tc.v)
		if tc.refused != (err != nil) || err != nil && (!strings.Contains(err.Error(), "column note") || !strings.Contains(err.Error(), "PostgreSQL")) {
			t.Errorf("postgres arg %q: %v; refused should be %v, with the column named", tc.v.Text, err, tc.refused)
		}
	}
}

// TestTimestampFromInstant checks that a TIMESTAMP is stored from its UNIX
// seconds and microseconds, whatever zone its text is in.
func TestTimestampFromInstant(t *testing.T) {
	c := &change.Column{Name: "at", Type: "timestamp", Scale: 3}
	v := &change.Value{Kind: change.KindTimestamp, Int: 1700000000, Uint: 1700000000*1e6 + 123000, Text: []byte("2023-11-15 00:13:20.123")}
	want := time.Date(2023, 11, 14, 22, 13, 20, 123e6, time.UTC)
	for _, d := range []dialect{postgres{}, duck{}} {
		a, err := d.arg(c, v)
		if got, ok := a.(time.Time); err != nil || !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s: %v, %v; want %v", d.name(), a, err, want)
		}
	}
	if a, err := mariaDB1011.arg(c, v); a != "2023-11-14 22:13:20.123" || err != nil {
		t.Errorf("mysql: %v, %v", a, err)
	}
	for _, d := range []dialect{postgres{}, mariaDB1011, duck{}} {
		if a, err := d.arg(c, &change.Value{Kind: change.KindTimestamp, Text: []byte("0000-00-00 00:00:00.000")}); a != nil || err != nil {
			t.Errorf("%s: zero TIMESTAMP gave %v, %v; want NULL", d.name(), a, err)
		}
	}
}

// roundTrip creates a table of every type case with columnType, inserts the
// samples with param and arg, reads them back as text and compares each with
// what the source value means.
func roundTrip(t *testing.T, d dialect, db *sql.DB, table string, read func(c *change.Column, q string) string) {
	t.Helper()
	roundTripWith(t, d, db, table, read, false)
}

// roundTripWith stores the samples one INSERT a row with d's parameters,
// or, batched (PostgreSQL), the way a Destination writes a batch (a binary
// COPY into a staging table, then one INSERT … SELECT), and reads them back.
func roundTripWith(t *testing.T, d dialect, db *sql.DB, table string, read func(c *change.Column, q string) string, batched bool) {
	t.Helper()
	idCol := &change.Column{Name: "id", Type: "int"}
	defs := []string{d.quote("id") + " " + must(d.columnType(idCol)) + " PRIMARY KEY"}
	src := &change.Table{Schema: "x", Name: table, Columns: []change.Column{*idCol}, PrimaryKey: []int{0}}
	var entries []*entry
	reads := []string{d.quote("id")}
	rows := 0
	for _, tc := range typeCases {
		defs = append(defs, d.quote(tc.col.Name)+" "+must(d.columnType(&tc.col)))
		reads = append(reads, read(&tc.col, d.quote(tc.col.Name)))
		rows = max(rows, len(tc.samples))
		src.Columns = append(src.Columns, tc.col)
	}
	if batched {
		for _, m := range mirrorMeta {
			defs = append(defs, d.quote(m.name)+" "+m.typ)
		}
	}
	create := "CREATE TABLE " + table + " (" + strings.Join(defs, ", ") + ")"
	if _, err := db.Exec(create); err != nil {
		t.Fatalf("%s\n%v", create, err)
	}
	var values [][]change.Value // batched: the rows as values
	for r := 0; r < rows; r++ {
		params := []string{d.param(idCol, 1)}
		args := []any{must(d.arg(idCol, &change.Value{Kind: change.KindInt, Int: int64(r)}))}
		vals := []change.Value{{Kind: change.KindInt, Int: int64(r)}}
		for _, tc := range typeCases {
			v := &change.Value{Kind: change.KindNull}
			if r < len(tc.samples) {
				v = &tc.samples[r].v
			}
			if r < len(tc.samples) && tc.samples[r].pgRefuses && d.name() == "postgres" {
				vals = append(vals, change.Value{Kind: change.KindNull})
			} else {
				vals = append(vals, *v)
			}
			a, err := d.arg(&tc.col, v)
			if refused := r < len(tc.samples) && tc.samples[r].pgRefuses && d.name() == "postgres"; refused || err != nil {
				if !refused || err == nil || !strings.Contains(err.Error(), tc.col.Name) {
					t.Errorf("row %d column %s: arg %v (PostgreSQL should refuse: %v)", r, tc.col.Name, err, refused)
				}
				a = nil
			}
			params = append(params, d.param(&tc.col, len(params)+1))
			args = append(args, a)
		}
		if batched {
			values = append(values, vals)
			continue
		}
		insert := "INSERT INTO " + table + " VALUES (" + strings.Join(params, ", ") + ")"
		if _, err := db.Exec(insert, args...); err != nil {
			t.Fatalf("row %d: %v\n%s", r, err, insert)
		}
	}
	if batched {
		v := &version{src: src, key: []int{0}}
		for _, c := range src.Columns {
			v.names = append(v.names, c.Name)
		}
		dest := &Destination{d: d}
		for _, vals := range values {
			e, err := dest.entry(v, vals, false, 'c', entry{v: v, txID: `0-1-"\\2`})
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, e)
		}
		// The way a Destination writes a batch: a binary COPY into a
		// staging table, then one INSERT … SELECT, in one transaction.
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		err = conn.Raw(func(dc any) error {
			q := &pgQueue{conn: dc.(*stdlib.Conn).Conn()}
			ctx := context.Background()
			q.exec(ctx, "BEGIN", nil)
			if err := dest.pgWriteRows(ctx, q, table, &batch{full: table}, entries, false); err != nil {
				return err
			}
			q.exec(ctx, "COMMIT", nil)
			return q.flush(ctx)
		})
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		var txID string
		if err := db.QueryRow("SELECT __transaction_id FROM " + table + " LIMIT 1").Scan(&txID); err != nil || txID != `0-1-"\\2` {
			t.Errorf("__transaction_id %q, %v", txID, err)
		}
	}
	rs, err := db.Query("SELECT " + strings.Join(reads, ", ") + " FROM " + table + " ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	got := make([]sql.NullString, len(reads))
	ptrs := make([]any, len(got))
	for i := range got {
		ptrs[i] = &got[i]
	}
	n := 0
	for ; rs.Next(); n++ {
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, tc := range typeCases {
			s := sample{null: true}
			if n < len(tc.samples) {
				s = tc.samples[n]
			}
			if s.pgRefuses && d.name() == "postgres" {
				s = sample{null: true}
			}
			g := got[i+1]
			switch {
			case s.null || !g.Valid:
				if s.null != !g.Valid {
					t.Errorf("row %d column %s (%s): got %q (valid %v), want NULL: %v", n, tc.col.Name, tc.col.Type, short(g.String), g.Valid, s.null)
				}
			case norm(&tc.col, fromTarget(d, &tc.col, g.String)) != norm(&tc.col, s.want):
				t.Errorf("row %d column %s (%s): got %q, want %q", n, tc.col.Name, tc.col.Type, short(g.String), short(s.want))
			}
		}
	}
	if err := rs.Err(); err != nil || n != rows {
		t.Fatalf("read %d rows of %d: %v", n, rows, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func short(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// fromTarget undoes what a target's text shows differently by design: BIT
// as binary digits on PostgreSQL and DuckDB, and DuckDB's DECIMAL(p,p)
// without the 0 before the point ("-.5").
func fromTarget(d dialect, c *change.Column, s string) string {
	if d.name() == "duckdb" && sourceType(c) == "decimal" {
		if r, ok := strings.CutPrefix(s, "-."); ok {
			return "-0." + r
		}
		if r, ok := strings.CutPrefix(s, "."); ok {
			return "0." + r
		}
	}
	if sourceType(c) == "bit" && d.name() != "mysql" {
		if len(s) != c.Length {
			return "bit string of " + strconv.Itoa(len(s)) + " digits: " + s
		}
		u, err := strconv.ParseUint(s, 2, 64)
		if err != nil {
			return s
		}
		return strconv.FormatUint(u, 10)
	}
	return s
}

// norm makes equal texts of equal values: FLOAT and DOUBLE parsed, JSON
// compacted with sorted keys (jsonb reorders them), and the trailing zeros
// of fractional seconds dropped (PostgreSQL and DuckDB print no more
// digits than the value needs).
func norm(c *change.Column, s string) string {
	switch sourceType(c) {
	case "float":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return s
		}
		return strconv.FormatFloat(float64(float32(f)), 'g', -1, 32)
	case "double":
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return s
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	case "json":
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return s
		}
		b, _ := json.Marshal(v)
		return string(b)
	case "time", "datetime", "timestamp":
		if i := strings.LastIndexByte(s, '.'); i >= 0 {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
	}
	return s
}

func TestRoundTripPostgres(t *testing.T) {
	p := testutil.NewPostgres(t)
	read := func(c *change.Column, q string) string {
		switch typ := must(postgres{}.columnType(c)); {
		case typ == "bytea":
			return "encode(" + q + ", 'hex')"
		case strings.HasPrefix(typ, "timestamptz"):
			return "(" + q + " AT TIME ZONE 'UTC')::text"
		case typ == "inet":
			return "host(" + q + ")" // the address as the column prints it; ::text adds /32
		}
		return q + "::text"
	}
	roundTrip(t, postgres{}, p.DB, "every_type", read)
	roundTripWith(t, postgres{}, p.DB, "every_type_batched", read, true)
}

func TestRoundTripMariaDB(t *testing.T) {
	m := testutil.NewMariaDB(t)
	m.Exec("CREATE DATABASE rt")
	read := func(c *change.Column, q string) string {
		switch typ := sourceType(c); {
		case typ == "binary" || typ == "varbinary" || strings.HasSuffix(typ, "blob") || typ == "vector":
			return "LOWER(HEX(" + q + "))"
		case typ == "bit" || typ == "year":
			return "CAST(" + q + "+0 AS CHAR)"
		case typ == "float":
			return "CAST(" + q + " AS DOUBLE)" // CAST AS CHAR prints 6 digits only
		}
		return "CAST(" + q + " AS CHAR)"
	}
	strict := url.QueryEscape("'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'")
	for _, tc := range []struct {
		name string
		d    mysql
		dsn  string // parameters of the connection
	}{
		{"mariadb-10.11-prepared-strict", mariaDB1011, "interpolateParams=false&sql_mode=" + strict + "&time_zone=%27%2B05%3A00%27"},
		{"mariadb-10.11-interpolated", mariaDB1011, "interpolateParams=true"},
		{"mysql-8.0-types-prepared", mysql80, "interpolateParams=false&sql_mode=" + strict},
		{"mysql-8.0-types-interpolated", mysql80, "interpolateParams=true&time_zone=%27-07%3A00%27"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/rt?%s", m.Port, tc.dsn))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			roundTrip(t, tc.d, db, strings.NewReplacer("-", "_", ".", "_").Replace(tc.name), read)
		})
	}
}

func TestRoundTripDuckDB(t *testing.T) {
	db, err := sql.Open("duckdb", filepath.Join(t.TempDir(), "types.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	roundTrip(t, duck{}, db, "every_type", func(c *change.Column, q string) string {
		switch must(duck{}.columnType(c)) {
		case "BLOB":
			return "lower(hex(" + q + "))"
		case "TIMESTAMPTZ":
			return "CAST(timezone('UTC', " + q + ") AS VARCHAR)"
		}
		return "CAST(" + q + " AS VARCHAR)"
	})
}

// TestPGMicros checks the binary DATETIME against Go's proleptic Gregorian
// calendar, and that dates PostgreSQL does not have are refused.
func TestPGMicros(t *testing.T) {
	epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"2000-01-01 00:00:00", "1999-12-31 23:59:59.999999", "0001-01-01 00:00:00", "1000-01-01 00:00:00",
		"9999-12-31 23:59:59.999999", "2024-02-29 12:34:56.5", "1900-03-01 00:00:00.01", "2100-02-28 23:00:00.123"} {
		want, err := time.Parse("2006-01-02 15:04:05.999999", s)
		if err != nil {
			t.Fatal(err)
		}
		us := (want.Unix()-epoch.Unix())*1e6 + int64(want.Nanosecond()/1000)
		if got, err := pgMicros([]byte(s)); err != nil || got != us {
			t.Errorf("pgMicros(%q) = %d, %v; want %d", s, got, err, us)
		}
	}
	for _, s := range []string{"2023-02-29 00:00:00", "2023-04-31 00:00:00", "2023-01-01 24:00:00", "2023-01-01 00:60:00",
		"2023-01-01 00:00:00.", "2023-01-01 00:00:00.1234567", "2023-1-01 00:00:00", "2023-01-01T00:00:00"} {
		if us, err := pgMicros([]byte(s)); err == nil {
			t.Errorf("pgMicros(%q) = %d, want an error", s, us)
		}
	}
}

// TestPGNumeric sends decimal texts as binary numerics to a real PostgreSQL
// and reads them back as text: the same digits and scale.
func TestPGNumeric(t *testing.T) {
	p := testutil.NewPostgres(t)
	conn, err := p.DB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn().PgConn()
		for _, s := range []string{"0", "0.000", "-0.000", "1", "-1", "9999", "10000", "99990000", "12345.6789", "0.0001", "0.00010",
			"-100000000.00000001", "123456789012345678901234567890.123456789012345678901234567890", "18446744073709551615",
			"9223372036854775808", "0.5", "-0.000000000000000000000000000001", "1000000000000", "20.00", "7.50", "+3.25"} {
			field, err := appendPGNumeric(nil, []byte(s))
			if err != nil {
				t.Errorf("%s: %v", s, err)
				continue
			}
			res := pc.ExecParams(context.Background(), "SELECT $1::numeric::text", [][]byte{field[4:]}, []uint32{1700}, []int16{1}, nil).Read()
			want := strings.TrimPrefix(s, "+")
			if want == "-0.000" {
				want = "0.000"
			}
			if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != want {
				t.Errorf("%s: got %q, %v", s, res.Rows, res.Err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "-", "1.2.3", "1e5", "abc", " 1"} {
		if _, err := appendPGNumeric(nil, []byte(s)); err == nil {
			t.Errorf("appendPGNumeric(%q): no error", s)
		}
	}
}

// TestPGFieldKinds checks that a value of a kind a binary column has no
// layout for is refused, never sent as bytes the server would misread.
func TestPGFieldKinds(t *testing.T) {
	d := &Destination{d: postgres{}, name: "pg"}
	for _, tc := range []struct {
		col change.Column
		v   change.Value
	}{
		{change.Column{Name: "i", Type: "int"}, change.Value{Kind: change.KindString, Text: []byte("12345678")}},
		{change.Column{Name: "dt", Type: "datetime"}, change.Value{Kind: change.KindString, Text: []byte("2024-01-01 00:00:00")}},
		{change.Column{Name: "ts", Type: "timestamp"}, change.Value{Kind: change.KindDateTime, Text: []byte("2024-01-01 00:00:00")}},
		{change.Column{Name: "d", Type: "decimal", Precision: 5, Scale: 2}, change.Value{Kind: change.KindDecimal, Text: []byte("1.2.3")}},
		{change.Column{Name: "si", Type: "smallint"}, change.Value{Kind: change.KindInt, Int: 1 << 20}},
	} {
		if b, err := d.pgField(nil, &tc.col, pgColumnOf(postgres{}, &tc.col).enc, &tc.v); err == nil {
			t.Errorf("%s %v: %x, want an error", tc.col.Type, tc.v, b)
		}
	}
}
