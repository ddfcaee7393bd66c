package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/index"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/testutil"
)

// The key-history measurement: an index of many changes built directly
// through the store API with synthetic changes (a binlog of millions of
// changes would take far longer to produce than to index), then primary-key
// history queries timed as `bintap query --pk` runs them.

var historyTable = &change.Table{Schema: "bench", Name: "items", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{
	{Name: "id", Type: "bigint"}, {Name: "qty", Type: "int"}, {Name: "name", Type: "varchar"}, {Name: "price", Type: "decimal", Scale: 2},
	{Name: "created", Type: "datetime", Scale: 6}, {Name: "note", Type: "text"}}}

func historyRow(id, version int64) []change.Value {
	return []change.Value{
		{Kind: change.KindInt, Int: id}, {Kind: change.KindInt, Int: version},
		{Kind: change.KindString, Text: []byte(testutil.BenchWords[id%int64(len(testutil.BenchWords))])},
		{Kind: change.KindDecimal, Text: []byte(strconv.FormatInt(id%100000, 10) + ".25")},
		{Kind: change.KindDateTime, Text: []byte("2026-11-21 10:00:00.000000")},
		{Kind: change.KindString, Text: []byte("order customer shipped pending invoice warehouse")},
	}
}

// historyResult is the outcome of the key-history measurement.
type historyResult struct {
	changes, keys  int
	build          time.Duration
	queries        int
	median, p99    time.Duration
	versionsPerKey float64
}

// buildHistoryIndex writes n changes over n/10 keys: each key is inserted,
// then updated, in transactions of 100 changes touching random keys.
func buildHistoryIndex(ctx context.Context, path string, n int) (int, time.Duration, error) {
	s, err := index.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	w, err := s.NewWriter(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer w.Close()
	keys := max(n/10, 1)
	versions := make([]int64, keys)
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	const txRows = 100
	for done, seq := 0, uint64(1); done < n; seq++ {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		tx := &change.Tx{GTID: "0-1-" + strconv.FormatUint(seq, 10), ServerID: 1, Sequence: seq, File: "bench-bin.000001",
			Pos: uint32(seq), Timestamp: uint32(1_790_000_000 + seq/100)}
		for i := 1; i <= txRows && done < n; i, done = i+1, done+1 {
			id := int64(rng.IntN(keys))
			if done < keys {
				id = int64(done) // every key is inserted first
			}
			ev := change.Event{Tx: tx, Table: historyTable, EventNumber: uint64(i), After: historyRow(id, versions[id]+1)}
			if versions[id] == 0 {
				ev.Op = change.OpInsert
			} else {
				ev.Op, ev.Before = change.OpUpdate, historyRow(id, versions[id])
			}
			versions[id]++
			if err := w.Add(&ev); err != nil {
				return 0, 0, err
			}
		}
		if seq%50 == 0 || done >= n {
			if err := w.Commit(position.Checkpoint{File: tx.File, Pos: tx.Pos + 1}); err != nil {
				return 0, 0, err
			}
		}
	}
	return keys, time.Since(start), nil
}

// keyHistory builds the index and times primary-key history queries.
func keyHistory(ctx context.Context, dir string, n, queries int) (historyResult, error) {
	path := filepath.Join(dir, "history-index.db")
	keys, build, err := buildHistoryIndex(ctx, path, n)
	if err != nil {
		return historyResult{}, fmt.Errorf("build index: %w", err)
	}
	s, err := index.OpenReadOnly(path)
	if err != nil {
		return historyResult{}, err
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	times := make([]time.Duration, 0, queries)
	versions := 0
	for i := 0; i < queries; i++ {
		key := strconv.Itoa(rng.IntN(keys))
		t0 := time.Now()
		cs, err := s.Query(ctx, index.Filter{Schema: "bench", Table: "items", PK: []string{key}})
		times = append(times, time.Since(t0))
		if err != nil {
			return historyResult{}, err
		}
		if len(cs) == 0 {
			return historyResult{}, fmt.Errorf("key %s has no history in the index", key)
		}
		versions += len(cs)
	}
	slices.Sort(times)
	return historyResult{changes: n, keys: keys, build: build, queries: queries, median: times[len(times)/2],
		p99: times[len(times)*99/100], versionsPerKey: float64(versions) / float64(queries)}, nil
}

func printHistory(out io.Writer, h historyResult) {
	fmt.Fprintf(out, "\nchange index, primary-key history (index of %d synthetic changes over %d keys, built through the store API in %.1fs = %.0f changes/s):\n",
		h.changes, h.keys, h.build.Seconds(), float64(h.changes)/h.build.Seconds())
	verdict := "NOT MET"
	if h.p99 < 10*time.Millisecond {
		verdict = "MET"
	}
	fmt.Fprintf(out, "  %d queries (`bintap query --pk`, %.1f versions per key): median %.3f ms, p99 %.3f ms; target < 10 ms: %s\n",
		h.queries, h.versionsPerKey, float64(h.median.Microseconds())/1000, float64(h.p99.Microseconds())/1000, verdict)
}
