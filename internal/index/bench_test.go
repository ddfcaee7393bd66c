package index

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
)

// benchTable has the columns of cmd/bintap-bench's table.
var benchTable = &change.Table{Schema: "bench", Name: "items", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{
	{Name: "id", Type: "bigint"}, {Name: "qty", Type: "int"}, {Name: "name", Type: "varchar"}, {Name: "price", Type: "decimal", Scale: 2},
	{Name: "created", Type: "datetime", Scale: 6}, {Name: "score", Type: "double"}, {Name: "note", Type: "text"}, {Name: "attrs", Type: "json"}}}

// SyntheticInserts fills evs with n inserts into bench.items of one
// transaction, ids from first.
func syntheticInserts(evs []change.Event, tx *change.Tx, first int64) {
	for i := range evs {
		id := first + int64(i)
		evs[i] = change.Event{Op: change.OpInsert, Table: benchTable, Tx: tx, EventNumber: uint64(i + 1), After: []change.Value{
			{Kind: change.KindInt, Int: id}, {Kind: change.KindInt, Int: id % 1000},
			{Kind: change.KindString, Text: []byte("warehouse blue café 42")}, {Kind: change.KindDecimal, Text: []byte("1234.56")},
			{Kind: change.KindDateTime, Text: []byte("2026-11-21 10:00:00.123456")}, {Kind: change.KindDouble, Float: 0.125},
			{Kind: change.KindString, Text: []byte("order customer shipped pending invoice warehouse blue green large small priority returned")},
			{Kind: change.KindJSON, Text: []byte(`{"tags": ["new", "sale"], "n": 7}`)},
		}}
	}
}

func BenchmarkWriterInserts(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w, err := s.NewWriter(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	const txRows = 1000
	evs := make([]change.Event, txRows)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	rows := 0
	for i := 0; rows < b.N; i++ {
		tx := &change.Tx{GTID: fmt.Sprintf("0-1-%d", i+1), File: "bin.000001", Pos: uint32(4 + i), Timestamp: uint32(1_700_000_000 + i/10)}
		syntheticInserts(evs, tx, int64(rows))
		for j := range evs {
			if err := w.Add(&evs[j]); err != nil {
				b.Fatal(err)
			}
		}
		rows += txRows
		if err := w.Commit(position.Checkpoint{File: "bin.000001", Pos: uint32(5 + i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
	// CPU time per row: steadier than rows/s on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(rows), "cpu-µs/row")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAssemble encodes and assembles narrow inserts (the stream's
// goroutine's share of the index work), without compressing or storing.
func BenchmarkAssemble(b *testing.B) {
	narrow := &change.Table{Schema: "bench", Name: "items", Version: 1, PrimaryKey: []int{0}, Columns: benchTable.Columns[:5]}
	a := &Assembler{tables: map[string]int64{}, defs: map[defKey]int64{}, versions: map[*change.Table]ids{}, enc: NewEncoder(),
		free: make(chan []byte, freeBuffers), zfree: make(chan []byte, freeBuffers), nextID: 1, nextTx: 1, jsonKeys: true}
	e := NewEncoder()
	tx := &change.Tx{GTID: "0-1-1", File: "bin.000001", Pos: 4, Timestamp: 1_790_000_000}
	vals := make([]change.Value, 5*1024)
	evs := make([]change.Event, 1024)
	b.ResetTimer()
	for n := 0; n < b.N; n += len(evs) {
		for i := range evs {
			id := int64(n + i)
			row := vals[5*i : 5*i+5 : 5*i+5]
			row[0] = change.Value{Kind: change.KindInt, Int: id}
			row[1] = change.Value{Kind: change.KindInt, Int: id % 1000}
			row[2] = change.Value{Kind: change.KindString, Text: []byte("warehouse blue café 42")}
			row[3] = change.Value{Kind: change.KindDecimal, Text: []byte("1234.56")}
			row[4] = change.Value{Kind: change.KindDateTime, Text: []byte("2026-11-21 10:00:00.123456")}
			evs[i] = change.Event{Op: change.OpInsert, Table: narrow, Tx: tx, EventNumber: uint64(n + i + 1), After: row}
		}
		e.Reset()
		for i := range evs {
			r, _, err := e.Encode(&evs[i])
			if err != nil {
				b.Fatal(err)
			}
			if err := a.Add(&r); err != nil {
				b.Fatal(err)
			}
		}
		out := a.Take(false)
		for _, k := range out.blocks {
			select {
			case a.free <- k.text[:0]:
			default:
			}
		}
	}
}
