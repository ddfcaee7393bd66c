package format

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/testutil"
)

// benchTextValues are the text values of n rows of the bench's wide table,
// as the load generator makes them (fixed seed): the name, the note and the
// JSON attrs (text on MariaDB) of each row, in row order; every 50th row has
// no note and no attrs, as there.
func benchTextValues(n int) (names, notes, attrs [][]byte) {
	rng := rand.New(rand.NewPCG(42, 4243))
	for i := 0; i < n; i++ {
		names = append(names, testutil.AppendBenchWords(nil, rng, 1+rng.IntN(4), 64))
		if i%50 == 0 {
			continue
		}
		notes = append(notes, testutil.AppendBenchWords(nil, rng, 14+rng.IntN(6), 200))
		attrs = append(attrs, testutil.AppendBenchAttrs(nil, rng, i+1))
	}
	return names, notes, attrs
}

// benchEscape escapes every value of vals into one buffer per round; ns/op
// is per value.
func benchEscape(b *testing.B, vals [][]byte) {
	var bytes int64
	for _, v := range vals {
		bytes += int64(len(v))
	}
	dst := make([]byte, 0, 64<<10)
	b.SetBytes(bytes / int64(len(vals)))
	b.ResetTimer()
	k := 0
	for i := 0; i < b.N; i++ {
		if k == len(vals) {
			k, dst = 0, dst[:0]
		}
		dst = appendString(dst, vals[k])
		k++
	}
}

// BenchmarkEscapeBench: the bench table's text values (3,000 rows, as the
// load generator makes them); ns/op is per value.
func BenchmarkEscapeBench(b *testing.B) {
	names, notes, attrs := benchTextValues(3000)
	b.Run("name", func(b *testing.B) { benchEscape(b, names) })
	b.Run("note", func(b *testing.B) { benchEscape(b, notes) })
	b.Run("attrs", func(b *testing.B) { benchEscape(b, attrs) })
	b.Run("row", func(b *testing.B) {
		// The three columns of each row, in row order, as the encoder meets them.
		var all [][]byte
		n := 0
		for i, name := range names {
			all = append(all, name)
			if i%50 != 0 {
				all = append(all, notes[n], attrs[n])
				n++
			}
		}
		benchEscape(b, all)
	})
}

// BenchmarkMaxScaleBenchRows: MaxScale.Append of 3,000 rows of the bench's
// wide table (text values as the load generator makes them) into one
// buffer, as a batch is encoded; ns/op is per row.
func BenchmarkMaxScaleBenchRows(b *testing.B) {
	tbl := &change.Table{Schema: "bench", Name: "items", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{
		{Name: "id", Type: "bigint"}, {Name: "qty", Type: "int"}, {Name: "name", Type: "varchar"},
		{Name: "price", Type: "decimal", Precision: 12, Scale: 2}, {Name: "created", Type: "datetime", Scale: 6},
		{Name: "score", Type: "double"}, {Name: "note", Type: "text", Nullable: true}, {Name: "attrs", Type: "json", Nullable: true}}}
	names, notes, attrs := benchTextValues(3000)
	rng := rand.New(rand.NewPCG(5, 6))
	tx := &change.Tx{GTID: "0-1-3", ServerID: 1, Sequence: 3, Timestamp: 1795870751}
	events := make([]change.Event, len(names))
	k := 0
	for i := range events {
		row := []change.Value{{Kind: change.KindInt, Int: int64(i + 1)}, {Kind: change.KindInt, Int: int64(rng.IntN(2_000_000) - 1_000_000)},
			{Kind: change.KindString, Text: names[i]},
			{Kind: change.KindDecimal, Text: strconv.AppendFloat(nil, float64(rng.IntN(100_000_000))/100, 'f', 2, 64)},
			{Kind: change.KindDateTime, Text: []byte("2024-01-01 00:00:00.780893")},
			{Kind: change.KindDouble, Float: rng.NormFloat64() * 1000},
			{Kind: change.KindNull}, {Kind: change.KindNull}}
		if i%50 != 0 {
			row[6] = change.Value{Kind: change.KindString, Text: notes[k]}
			row[7] = change.Value{Kind: change.KindJSON, Text: attrs[k]}
			k++
		}
		events[i] = change.Event{Op: change.OpInsert, Table: tbl, Tx: tx, EventNumber: uint64(i + 1), After: row}
	}
	m := NewMaxScale("hex", false)
	var buf []byte
	b.ResetTimer()
	for i := 0; i < b.N; {
		buf = buf[:0]
		for j := range events {
			buf = m.Append(buf, &events[j])
		}
		i += len(events)
	}
}

// TestAppendStringLong: values longer than scanChunk, with quotes, accented
// letters, CJK and invalid bytes around the chunk ends, against the
// reference; and the room appendString asks for is not twice a long value.
func TestAppendStringLong(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, size := range []int{scanChunk - 1, scanChunk, scanChunk + 1, 2*scanChunk + 5, 3*scanChunk + 17} {
		for _, ins := range []string{"", "\"", "é", "日本", "\xc3", "\x01", "😀", `"\"`} {
			for _, at := range []int{scanChunk - 9, scanChunk - 3, scanChunk - 2, scanChunk - 1, scanChunk, scanChunk + 1, size - 3} {
				s := make([]byte, size)
				for j := range s {
					s[j] = 'a' + byte(rng.IntN(26))
				}
				if at >= 0 && at+len(ins) <= size {
					copy(s[at:], ins)
				}
				if got, want := string(appendString([]byte("x"), s)), "x"+referenceString(s); got != want {
					t.Fatalf("size %d, %q at %d: differs from the reference", size, ins, at)
				}
			}
		}
	}
	big := []byte(strings.Repeat("plain text ", 100000)) // 1.1 MB
	if out := appendString(nil, big); len(out) != len(big)+2 || cap(out) > len(big)*3/2 {
		t.Errorf("1.1 MB of plain text: len %d cap %d", len(out), cap(out))
	}
}
