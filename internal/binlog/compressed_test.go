package binlog

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"slices"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/bintap/bintap/internal/change"
)

// mariadbStored builds a COMPRESSED column's stored bytes the way MariaDB's
// compress_zlib does: header 0x80 + length bytes (+8 for a raw stream), the
// original length big-endian in as few bytes as it needs, then the stream.
func mariadbStored(t testing.TB, value []byte, wrap bool) []byte {
	t.Helper()
	n := len(value)
	nl := 1
	for n>>(8*nl) != 0 {
		nl++
	}
	h := byte(0x80 + nl)
	if !wrap {
		h += 8
	}
	out := []byte{h}
	for i := nl - 1; i >= 0; i-- {
		out = append(out, byte(n>>(8*i)))
	}
	var buf bytes.Buffer
	if wrap {
		w := zlib.NewWriter(&buf)
		w.Write(value)
		w.Close()
	} else {
		w, err := flate.NewWriter(&buf, 6)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(value)
		w.Close()
	}
	return append(out, buf.Bytes()...)
}

func TestInflaterValue(t *testing.T) {
	long := []byte(strings.Repeat("compressed ü € value ", 4000)) // 3-byte length
	mid := bytes.Repeat([]byte{0, 1, 2, 0xff}, 100)               // 2-byte length
	truncated := mariadbStored(t, long, false)
	truncated = truncated[:len(truncated)-20]
	longer := mariadbStored(t, mid, false)
	longer[2]-- // the header says one byte less than the stream holds
	shorter := mariadbStored(t, mid, true)
	shorter[2]++ // one byte more: the server keeps what the stream holds
	cases := []struct {
		name   string
		stored []byte
		maxLen uint64
		want   []byte
		err    string
	}{
		{name: "empty", stored: []byte{}, maxLen: 10, want: []byte{}},
		{name: "stored as it is", stored: []byte{0x00, 'a', 'b', 0xff}, maxLen: 10, want: []byte{'a', 'b', 0xff}},
		{name: "header only", stored: []byte{0x00}, maxLen: 10, want: []byte{}},
		{name: "raw deflate", stored: mariadbStored(t, long, false), maxLen: 1 << 24, want: long},
		{name: "zlib wrapped", stored: mariadbStored(t, long, true), maxLen: 1 << 24, want: long},
		{name: "raw deflate, 2-byte length", stored: mariadbStored(t, mid, false), maxLen: 65535, want: mid},
		{name: "one byte", stored: mariadbStored(t, []byte{'z'}, false), maxLen: 1, want: []byte{'z'}},
		{name: "stream shorter than its header", stored: shorter, maxLen: 65535, want: mid},
		{name: "longer than the column", stored: mariadbStored(t, mid, false), maxLen: 399, err: "more than the column's 399"},
		{name: "stream longer than its header", stored: longer, maxLen: 65535, err: "more than the 399 bytes"},
		{name: "truncated stream", stored: truncated, maxLen: 1 << 24, err: "inflate"},
		{name: "unknown method", stored: []byte{0x41, 1, 'x'}, maxLen: 10, err: "unknown compression method 4"},
		{name: "no length bytes", stored: []byte{0x88, 1, 2}, maxLen: 10, err: "bad header"},
		{name: "length bytes missing", stored: []byte{0x8b, 1}, maxLen: 10, err: "bad header"},
		{name: "not deflate", stored: []byte{0x89, 3, 0xff, 0xff, 0xff}, maxLen: 10, err: "inflate"},
		{name: "not zlib", stored: []byte{0x81, 3, 0xff, 0xff, 0xff}, maxLen: 10, err: "inflate"},
	}
	var z inflater
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := []byte("kept")
			got, grown, err := z.value(dst, c.stored, c.maxLen)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.want) {
				t.Fatalf("value of %d bytes, want %d bytes", len(got), len(c.want))
			}
			if !bytes.HasPrefix(grown, []byte("kept")) {
				t.Fatalf("the buffer lost its earlier bytes: %q", grown[:min(len(grown), 8)])
			}
		})
	}
}

// tableMapBody is a TABLE_MAP event body without its table id (the parser's
// table id size is 0 for an event decoded by hand).
func tableMapBody(types []byte, metaBlock []byte, optional []byte) []byte {
	b := []byte{1, 0}                   // flags
	b = append(b, 2, 'd', 'b', 0)       // schema
	b = append(b, 1, 't', 0)            // table
	b = append(b, byte(len(types)))     // column count
	b = append(b, types...)             // column types
	b = append(b, byte(len(metaBlock))) // metadata block
	b = append(b, metaBlock...)
	b = append(b, make([]byte, (len(types)+7)/8)...) // null bitmap
	return append(b, optional...)
}

func TestCompressedTableMap(t *testing.T) {
	// id INT, a VARCHAR(1000) COMPRESSED latin1, b BLOB COMPRESSED,
	// d VARCHAR(10) utf8mb4, f ENUM (packlen 1), n DECIMAL(10,2),
	// l LONGTEXT COMPRESSED, s SET latin1 (1 byte)
	types := []byte{mysql.MYSQL_TYPE_LONG, typeVarcharCompressed, typeBlobCompressed, mysql.MYSQL_TYPE_VARCHAR,
		mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_NEWDECIMAL, typeBlobCompressed, mysql.MYSQL_TYPE_STRING}
	block := []byte{0xe9, 0x03, 2, 40, 0, mysql.MYSQL_TYPE_ENUM, 1, 10, 2, 4, mysql.MYSQL_TYPE_SET, 1}
	names := []byte{4, 16} // COLUMN_NAME, 16 bytes
	for _, n := range "iabdfnls" {
		names = append(names, 1, byte(n))
	}
	optional := append([]byte{
		2, 5, 45, 0, 8, 1, 63, // DEFAULT_CHARSET 45; character column 0 (a) latin1, 1 (b) binary
		6, 5, 2, 1, 'x', 1, 'y', // ENUM_STR_VALUE
		5, 3, 1, 1, 'p', // SET_STR_VALUE
		10, 1, 8, // ENUM_AND_SET_DEFAULT_CHARSET latin1
	}, names...)
	tm := &replication.TableMapEvent{}
	if err := tm.Decode(tableMapBody(types, block, optional)); err != nil {
		t.Fatal(err)
	}
	if tm.ColumnMeta[3] == 40 {
		t.Fatal("go-mysql reads the metadata right now: this test and compressedView may no longer be needed")
	}
	view, compressed, err := compressedView(tm)
	if err != nil {
		t.Fatal(err)
	}
	wantMeta := []uint16{0, 1001, 2, 40, uint16(mysql.MYSQL_TYPE_ENUM)<<8 | 1, 10<<8 | 2, 4, uint16(mysql.MYSQL_TYPE_SET)<<8 | 1}
	for i, m := range wantMeta {
		if view.ColumnMeta[i] != m {
			t.Errorf("column %d: meta %d, want %d", i+1, view.ColumnMeta[i], m)
		}
	}
	if !compressed[1] || !compressed[2] || !compressed[6] || compressed[3] {
		t.Errorf("compressed columns %v", compressed)
	}
	if tm.ColumnType[1] != typeVarcharCompressed || view.ColumnType[1] != mysql.MYSQL_TYPE_VARCHAR || view.ColumnType[6] != mysql.MYSQL_TYPE_BLOB {
		t.Errorf("types: event % x, view % x", tm.ColumnType, view.ColumnType)
	}
	def := TableFromMetadata(tm)
	if def == nil {
		t.Fatal("no definition from the metadata")
	}
	got := []string{}
	for _, c := range def.Columns {
		got = append(got, c.Name+" "+c.SQLType+" "+c.Charset+" "+strings.Join(c.Members, ","))
	}
	want := []string{"i int  ", "a varchar(1000) latin1 ", "b blob binary ", "d varchar(10) utf8mb4 ",
		"f enum('x','y') latin1 x,y", "n decimal(10,2)  ", "l longtext utf8mb4 ", "s set('p') latin1 p"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("definition from metadata:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	dec, err := NewTableDecoder(tm, def, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p := dec.plans[1]; p.op != opZipped || p.lenSize != 2 || p.maxLen != 1001 {
		t.Errorf("plan of a: %+v", p)
	}
	if p := dec.plans[6]; p.op != opZipped || p.lenSize != 4 || p.maxLen != 1<<32-1 {
		t.Errorf("plan of l: %+v", p)
	}

	// A go-mysql that reads the compressed types right is accepted too.
	fixed := *tm
	fixed.ColumnMeta = view.ColumnMeta
	if v2, _, err := compressedView(&fixed); err != nil || !slices.Equal(v2.ColumnMeta, view.ColumnMeta) {
		t.Errorf("table map with the right ColumnMeta: %v", err)
	}
	// Metadata that matches neither reading is refused.
	odd := *tm
	odd.ColumnMeta = slices.Clone(tm.ColumnMeta)
	odd.ColumnMeta[0] = 7
	if _, _, err := compressedView(&odd); err == nil {
		t.Error("table map with foreign ColumnMeta accepted")
	}

	// A TABLE_MAP whose event bytes are not at hand (a copy) is refused
	// with a message, never read with guessed metadata.
	cp := *tm
	cp.ColumnType = bytes.Clone(tm.ColumnType)
	if _, err := NewTableDecoder(&cp, def, Options{}); err == nil || !strings.Contains(err.Error(), "COMPRESSED") {
		t.Errorf("copied table map: %v, want an error about COMPRESSED columns", err)
	}
	// A definition whose column cannot be compressed is a mismatch.
	bad := *def
	bad.Columns = append(bad.Columns[:0:0], def.Columns...)
	bad.Columns[1].Type = "char"
	if err := CheckTable(tm, &bad); err == nil || !strings.Contains(err.Error(), "VARCHAR_COMPRESSED cannot hold a char") {
		t.Errorf("CHAR definition for a compressed VARCHAR: %v", err)
	}
}

func FuzzCompressedValue(f *testing.F) {
	f.Add([]byte{0x00, 'a'}, uint64(10))
	f.Add(mariadbStored(f, []byte(strings.Repeat("abc", 100)), false), uint64(300))
	f.Add(mariadbStored(f, []byte(strings.Repeat("abc", 100)), true), uint64(300))
	f.Fuzz(func(t *testing.T, stored []byte, maxLen uint64) {
		var z inflater
		got, _, err := z.value(nil, stored, maxLen%(1<<20))
		if err == nil && uint64(len(got)) > maxLen%(1<<20) && len(stored) > 0 && stored[0]>>4 != 0 {
			t.Fatalf("inflated %d bytes, more than %d", len(got), maxLen%(1<<20))
		}
	})
}

// BenchmarkDecodeCompressed decodes rows of (INT, TEXT COMPRESSED utf8mb4
// holding 2,000 bytes compressed, VARCHAR(100) COMPRESSED latin1 holding a
// short value stored as it is): the cost of inflating per row.
func BenchmarkDecodeCompressed(b *testing.B) {
	types := []byte{mysql.MYSQL_TYPE_LONG, typeBlobCompressed, typeVarcharCompressed}
	tm := &replication.TableMapEvent{}
	if err := tm.Decode(tableMapBody(types, []byte{2, 101, 0}, nil)); err != nil {
		b.Fatal(err)
	}
	table := &change.Table{Schema: "db", Name: "t", Columns: []change.Column{{Name: "id", Type: "int"},
		{Name: "note", Type: "text", Charset: "utf8mb4"}, {Name: "tag", Type: "varchar", Charset: "latin1"}}}
	dec, err := NewTableDecoder(tm, table, Options{})
	if err != nil {
		b.Fatal(err)
	}
	text := mariadbStored(b, []byte(strings.Repeat("a text of some length, ü € ", 74)[:2000]), false)
	var body []byte
	for i := 0; i < benchRows; i++ {
		body = append(body, 0, byte(i), 0, 0, 0)
		body = append(body, byte(len(text)), byte(len(text)>>8))
		body = append(body, text...)
		body = append(body, 6, 0, 's', 'h', 'o', 'r', 't')
	}
	re := &replication.RowsEvent{ColumnCount: 3, ColumnBitmap1: []byte{7}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := dec.DecodeBody(replication.WRITE_ROWS_EVENTv1, re, body, func(_, after []change.Value) error {
			n += len(after[1].Text)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if n != 2000*benchRows {
			b.Fatalf("decoded %d bytes of text", n)
		}
	}
}
