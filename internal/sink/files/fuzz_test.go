package files

import (
	"bytes"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
)

// Fuzz targets of the readers of the files output (a loader reads what a
// crash, a full disk or a person left in DIR): spool records, JSON lines,
// CSV and the manifest. No input may panic; `go test` runs the seeds.

func fuzzTable() *change.Table {
	return &change.Table{Schema: "db", Name: "t", Columns: []change.Column{
		{Name: "id", Type: "bigint", Unsigned: true}, {Name: "i", Type: "int"}, {Name: "d", Type: "decimal", Precision: 10, Scale: 2},
		{Name: "f", Type: "float"}, {Name: "g", Type: "double"}, {Name: "b", Type: "bit", Length: 8}, {Name: "y", Type: "year"},
		{Name: "dt", Type: "date"}, {Name: "tm", Type: "time"}, {Name: "ts", Type: "timestamp"}, {Name: "dtm", Type: "datetime"},
		{Name: "s", Type: "varchar", Charset: "utf8mb4"}, {Name: "bin", Type: "varbinary", Charset: "binary"},
		{Name: "e", Type: "enum", Members: []string{"a", "b"}}, {Name: "st", Type: "set", Members: []string{"x", "y"}},
		{Name: "j", Type: "json"}, {Name: "u", Type: "uuid"}, {Name: "ip", Type: "inet6"}, {Name: "geo", Type: "geometry"},
	}}
}

func fuzzRecords() []*Record {
	row := []change.Value{
		{Kind: change.KindUint, Uint: 18446744073709551615}, {Kind: change.KindInt, Int: -7}, {Kind: change.KindDecimal, Text: []byte("-12.50")},
		{Kind: change.KindFloat, Float: 0.1}, {Kind: change.KindDouble, Float: 1e300}, {Kind: change.KindBit, Uint: 5}, {Kind: change.KindYear, Int: 2024},
		{Kind: change.KindDate, Text: []byte("0000-00-00")}, {Kind: change.KindTime, Text: []byte("-838:59:59")},
		{Kind: change.KindTimestamp, Text: []byte("2024-01-02 03:04:05"), Int: 1704164645}, {Kind: change.KindDateTime, Text: []byte("2024-01-02 03:04:05.123")},
		{Kind: change.KindString, Text: []byte("a \"quoted\", line\nbreak é")}, {Kind: change.KindBytes, Text: []byte{0, 1, 0xff}},
		{Kind: change.KindEnum, Text: []byte("b"), Int: 2}, {Kind: change.KindSet, Text: []byte("x,y"), Uint: 3},
		{Kind: change.KindJSON, Text: []byte(`{"a": [1, null]}`)}, {Kind: change.KindUUID, Text: []byte("123e4567-e89b-12d3-a456-426614174000")},
		{Kind: change.KindInet, Text: []byte("::1")}, {Kind: change.KindGeometry, Text: []byte("POINT(1 2)")},
	}
	nulls := make([]change.Value, len(row))
	return []*Record{
		{Meta: change.Meta{Op: 'c', TsMs: 1700000000000, TxID: "0-1-5", Order: 1 << 32, Event: 1}, Row: row},
		{Meta: change.Meta{Op: 'd', Deleted: true, TsMs: 1, TxID: "mysql-bin.000001:4", Order: 2, Event: 2}, Row: nulls},
		{Meta: change.Meta{Op: 't', TsMs: 2, TxID: "x", Order: 3, Event: 1}},
	}
}

func FuzzSpoolReader(f *testing.F) {
	var all []byte
	for _, r := range fuzzRecords() {
		one := appendSpoolRecord(nil, r)
		f.Add(one)
		all = append(all, one...)
	}
	f.Add(all)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= 4 && int(uint32(data[0])|uint32(data[1])<<8|uint32(data[2])<<16|uint32(data[3])<<24) > 1<<20 {
			return // a length beyond the input allocates it first (up to 4 GiB): reported, not fuzzed
		}
		s := newSpoolReader(bytes.NewReader(data), int64(len(data)))
		for i := 0; i < 1000; i++ {
			r, err := s.next()
			if r == nil || err != nil {
				return
			}
		}
	})
}

func FuzzTextReaders(f *testing.F) {
	tb := fuzzTable()
	for _, bin := range []format.BinaryEncoding{format.BinaryHex, format.BinaryBase64} {
		var js, cs []byte
		cs = appendCSVHeader(cs, tb)
		for _, r := range fuzzRecords() {
			js = appendJSONRecord(js, tb, r, bin)
			cs = appendCSVRecord(cs, tb, r, bin)
		}
		f.Add(js, false, bin == format.BinaryBase64)
		f.Add(cs, true, bin == format.BinaryBase64)
	}
	f.Fuzz(func(t *testing.T, raw []byte, csv, base64 bool) {
		vr := valueReader{t: tb, zone: time.UTC, base64: base64}
		fn := func(r *Record) error {
			if r.Row != nil && len(r.Row) != len(tb.Columns) {
				t.Fatalf("a record of %d values for %d columns", len(r.Row), len(tb.Columns))
			}
			return nil
		}
		if csv {
			vr.csv(raw, fn)
		} else {
			vr.jsonLines(raw, fn)
		}
	})
}

func FuzzManifest(f *testing.F) {
	f.Add([]byte(`{"file":"db/t/2024/a.jsonl","database":"db","table":"t","version":1,"format":"jsonl","window_start":"2024-01-01T00:00:00Z","window_end":"2024-01-01T00:15:00Z","rows":3,"bytes":10,"first_position":"mysql-bin.000001:4#1","last_position":"mysql-bin.000001:4#3","min_order":1,"max_order":2,"sha256":"00","definition":{"schema":"db","name":"t","columns":[{"name":"id","type":"int","length":-1}]},"time_zone":"UTC","binary_format":"hex"}` + "\n"))
	f.Add([]byte("{}\n{\"file\":\"x\"}\nnot json\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		scanManifest(bytes.NewReader(raw), func(e Entry) error { return nil })
	})
}
