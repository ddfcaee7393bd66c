package index

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	idx "github.com/bintap/bintap/internal/index"
	"github.com/bintap/bintap/internal/position"
)

var benchTable = &change.Table{Schema: "bench", Name: "items", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{
	{Name: "id", Type: "bigint"}, {Name: "qty", Type: "int"}, {Name: "name", Type: "varchar"}, {Name: "price", Type: "decimal", Scale: 2},
	{Name: "created", Type: "datetime", Scale: 6}, {Name: "score", Type: "double"}, {Name: "note", Type: "text"}, {Name: "attrs", Type: "json"}}}

// BenchmarkDestination writes batches of 4096 inserts as the stream does.
func BenchmarkDestination(b *testing.B) { benchDestination(b, false) }

// BenchmarkDestinationRandomKeys writes changes of keys spread over a range
// of 2^24, as updates of random rows of a large table do: every change
// lands on another page of the key index.
func BenchmarkDestinationRandomKeys(b *testing.B) { benchDestination(b, true) }

func benchDestination(b *testing.B, random bool) {
	s, err := idx.Open(filepath.Join(b.TempDir(), idx.FileName))
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(s, Options{BatchSize: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close(context.Background())
	evs := make([]change.Event, 4096)
	vals := make([]change.Value, 8*len(evs))
	start := time.Now()
	rows := 0
	for n := 0; rows < b.N; n++ {
		tx := &change.Tx{GTID: "0-1-" + strconv.Itoa(n+1), File: "bin.000001", Pos: uint32(4 + n), Timestamp: 1_790_000_000}
		for i := range evs {
			id := int64(rows + i)
			if random {
				id = int64(uint64(id) * 0x9E3779B97F4A7C15 >> 40) // a permutation of 0..2^24-1 over the first 2^24 ids
			}
			row := vals[8*i : 8*i+8 : 8*i+8]
			row[0] = change.Value{Kind: change.KindInt, Int: id}
			row[1] = change.Value{Kind: change.KindInt, Int: id % 1000}
			row[2] = change.Value{Kind: change.KindString, Text: []byte("warehouse blue café 42")}
			row[3] = change.Value{Kind: change.KindDecimal, Text: []byte("1234.56")}
			row[4] = change.Value{Kind: change.KindDateTime, Text: []byte("2026-11-21 10:00:00.123456")}
			row[5] = change.Value{Kind: change.KindDouble, Float: 0.125}
			row[6] = change.Value{Kind: change.KindString, Text: []byte("order customer shipped pending invoice warehouse blue green large")}
			row[7] = change.Value{Kind: change.KindJSON, Text: []byte(`{"tags": ["new", "sale"], "n": 7}`)}
			evs[i] = change.Event{Op: change.OpInsert, Table: benchTable, Tx: tx, EventNumber: uint64(i + 1), After: row}
		}
		if err := d.Write(context.Background(), evs, position.Checkpoint{File: tx.File, Pos: tx.Pos + 1}); err != nil {
			b.Fatal(err)
		}
		rows += len(evs)
	}
	if err := d.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
}
