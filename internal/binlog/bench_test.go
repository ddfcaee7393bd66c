package binlog

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/bintap/bintap/internal/change"
)

const benchRows = 50

func eventBytes(tp replication.EventType, body []byte) []byte {
	ev := make([]byte, replication.EventHeaderSize, replication.EventHeaderSize+len(body)+4)
	binary.LittleEndian.PutUint32(ev[0:], 1700000000)
	ev[4] = byte(tp)
	binary.LittleEndian.PutUint32(ev[5:], 1)
	binary.LittleEndian.PutUint32(ev[9:], uint32(replication.EventHeaderSize+len(body)+4))
	ev = append(ev, body...)
	return append(ev, 0, 0, 0, 0) // checksum (not verified)
}

// benchEvents returns a MySQL 8 FORMAT_DESCRIPTION event (from the test
// data), a TABLE_MAP for (BIGINT, INT, VARCHAR(255) utf8mb4, DECIMAL(12,2),
// DATETIME(6), DOUBLE, TEXT, JSON) and a WRITE_ROWS_EVENTv2 of benchRows rows.
func benchEvents(b testing.TB) (fde, tmap, rows []byte) {
	data, err := os.ReadFile(filepath.Join(testdataDir(b), "mysql_type_bit.000001"))
	if err != nil {
		b.Fatal(err)
	}
	size := binary.LittleEndian.Uint32(data[4+9:])
	fde = data[4 : 4+size]

	tableID := []byte{42, 0, 0, 0, 0, 0}
	tm := append([]byte{}, tableID...)
	tm = append(tm, 0, 0, 4, 's', 'h', 'o', 'p', 0, 6, 'o', 'r', 'd', 'e', 'r', 's', 0, 8)
	tm = append(tm, mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_NEWDECIMAL,
		mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_DOUBLE, mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_JSON)
	meta := []byte{0xfc, 0x03, 12, 2, 6, 8, 2, 4} // varchar 1020 bytes LE; decimal prec, scale; fsp; 8; packlen 2; 4
	tm = append(tm, byte(len(meta)))
	tm = append(tm, meta...)
	tm = append(tm, 0xfe) // null bitmap

	body := append([]byte{}, tableID...)
	body = append(body, 0, 0, 2, 0, 8, 0xff) // flags, extra len, 8 columns, bitmap
	for i := 0; i < benchRows; i++ {
		body = append(body, 0) // null bitmap
		body = binary.LittleEndian.AppendUint64(body, uint64(1000000+i))
		body = binary.LittleEndian.AppendUint32(body, uint32(i*7))
		name := "customer name with some length é"
		body = binary.LittleEndian.AppendUint16(body, uint16(len(name)))
		body = append(body, name...)
		body = append(body, 0x80) // DECIMAL(12,2) 1234567.89
		body = binary.BigEndian.AppendUint32(body, 1234567)
		body = append(body, 89)
		ym := uint64(2024*13 + 5)
		ip := (ym<<5|17)<<17 | (12<<12 | 34<<6 | 56)
		v := ip + 0x8000000000
		body = append(body, byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v), 0x01, 0xe2, 0x40)
		body = binary.LittleEndian.AppendUint64(body, math.Float64bits(3.14159))
		text := "a longer free text comment that is stored in a TEXT column"
		body = binary.LittleEndian.AppendUint16(body, uint16(len(text)))
		body = append(body, text...)
		js := []byte{0x00, 2, 0, 26, 0, 18, 0, 1, 0, 19, 0, 1, 0, 0x05, 1, 0, 0x0c, 20, 0, 'a', 'b', 5, 'h', 'e', 'l', 'l', 'o'}
		body = binary.LittleEndian.AppendUint32(body, uint32(len(js)))
		body = append(body, js...)
	}
	return fde, eventBytes(replication.TABLE_MAP_EVENT, tm), eventBytes(replication.WRITE_ROWS_EVENTv2, body)
}

func benchTable() *change.Table {
	return &change.Table{Schema: "shop", Name: "orders", Columns: []change.Column{
		{Name: "id", Type: "bigint"}, {Name: "qty", Type: "int"}, {Name: "name", Type: "varchar", Charset: "utf8mb4"},
		{Name: "amount", Type: "decimal"}, {Name: "at", Type: "datetime"}, {Name: "score", Type: "double"},
		{Name: "note", Type: "text", Charset: "utf8mb4"}, {Name: "doc", Type: "json"}}}
}

func newBenchParser(b testing.TB, fde, tmap []byte, decode func(*replication.RowsEvent, []byte) error) *replication.BinlogParser {
	p := replication.NewBinlogParser()
	p.SetFlavor("mysql")
	if decode != nil {
		p.SetRowsEventDecodeFunc(decode)
	}
	for _, e := range [][]byte{fde, tmap} {
		if _, err := p.Parse(e); err != nil {
			b.Fatal(err)
		}
	}
	return p
}

func TestBenchEventDecodes(t *testing.T) {
	fde, tmap, rows := benchEvents(t)
	p := newBenchParser(t, fde, tmap, HeaderOnly)
	ev, err := p.Parse(rows)
	if err != nil {
		t.Fatal(err)
	}
	re := ev.Event.(*replication.RowsEvent)
	dec, err := NewTableDecoder(re.Table, benchTable(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = dec.DecodeRows(ev.Header.EventType, re, func(_, after []change.Value) error {
		n++
		got := renderRow(after)
		want := []string{"1000049", "343", "customer name with some length é", "1234567.89", "2024-05-17 12:34:56.123456",
			"3.14159", "a longer free text comment that is stored in a TEXT column", `{"a": 1, "b": "hello"}`}
		if n == benchRows && joined(got) != joined(want) {
			t.Errorf("row %q, want %q", got, want)
		}
		return nil
	})
	if err != nil || n != benchRows {
		t.Fatalf("%d rows, %v", n, err)
	}
}

func BenchmarkDecodeRows(b *testing.B) {
	fde, tmap, rows := benchEvents(b)
	b.Run("bintap", func(b *testing.B) {
		p := newBenchParser(b, fde, tmap, HeaderOnly)
		ev, err := p.Parse(rows)
		if err != nil {
			b.Fatal(err)
		}
		dec, err := NewTableDecoder(ev.Event.(*replication.RowsEvent).Table, benchTable(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		sink := 0
		fn := func(_, after []change.Value) error { sink += len(after[2].Text); return nil }
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ev, err := p.Parse(rows)
			if err != nil {
				b.Fatal(err)
			}
			if err := dec.DecodeRows(ev.Header.EventType, ev.Event.(*replication.RowsEvent), fn); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
	})
	b.Run("bintap-rows-only", func(b *testing.B) {
		p := newBenchParser(b, fde, tmap, HeaderOnly)
		ev, err := p.Parse(rows)
		if err != nil {
			b.Fatal(err)
		}
		re := ev.Event.(*replication.RowsEvent)
		dec, err := NewTableDecoder(re.Table, benchTable(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		fn := func(_, _ []change.Value) error { return nil }
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := dec.DecodeRows(ev.Header.EventType, re, fn); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
	})
	b.Run("go-mysql", func(b *testing.B) {
		p := newBenchParser(b, fde, tmap, nil)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := p.Parse(rows); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
	})
}
