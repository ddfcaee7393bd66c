package index

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
)

func TestIntKey(t *testing.T) {
	for _, c := range []struct {
		pk   string
		want int64
		ok   bool
	}{
		{"[0]", 0, true}, {"[42]", 42, true}, {"[-7]", -7, true}, {"[4611686018427387904]", 1 << 62, true},
		{"[-4611686018427387904]", -1 << 62, true}, {"[4611686018427387905]", 0, false}, {"[9223372036854775807]", 0, false},
		{"[-9223372036854775808]", 0, false}, {"[99999999999999999999]", 0, false},
		{"[042]", 0, false}, {"[-0]", 0, false}, {"[1.5]", 0, false}, {"[1e3]", 0, false}, {`["1"]`, 0, false},
		{"[1,2]", 0, false}, {"[]", 0, false}, {"[-]", 0, false}, {"[+1]", 0, false}, {"42", 0, false}, {"[ 1]", 0, false},
	} {
		got, ok := intKey([]byte(c.pk))
		if got != c.want || ok != c.ok {
			t.Errorf("intKey(%s) = %d, %v; want %d, %v", c.pk, got, ok, c.want, c.ok)
		}
	}
}

// TestKeyRuns: keys inserted in order are stored as runs (one row per
// block), short runs and keys out of order as key rows; every key finds
// its changes, also after retention cut a run in two.
func TestKeyRuns(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	w, err := s.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64][]int64{}
	id := int64(0)
	add := func(tx *change.Tx, n int, keys ...int64) {
		for _, k := range keys {
			id++
			ev := change.Event{Op: change.OpInsert, Table: testTable, Tx: tx, EventNumber: uint64(n), After: row(k, "x")}
			if err := w.Add(&ev); err != nil {
				t.Fatal(err)
			}
			want[k] = append(want[k], id)
		}
	}
	var keys []int64
	for k := int64(1); k <= 600; k++ { // runs across blocks and the commit below
		keys = append(keys, k)
	}
	keys = append(keys, 3, 4, 5, 900, 901, 902, 903, 904, 905, 906, 907, 1, 2) // short and long runs of keys seen before
	for k := int64(-30); k < 10; k++ {
		keys = append(keys, k) // through 0
	}
	for i, k := range keys {
		tx := &change.Tx{GTID: "0-1-" + strconv.Itoa(i/100+1), Sequence: uint64(i/100 + 1), File: "bin.000001", Pos: uint32(100 * (i/100 + 1)), Timestamp: uint32(1_700_000_000 + 3600*(i/100))}
		add(tx, i%100+1, k)
		if i == 250 {
			if err := w.Commit(position.Checkpoint{File: "bin.000001", Pos: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Commit(position.Checkpoint{File: "bin.000001", Pos: 2}); err != nil {
		t.Fatal(err)
	}
	var runs, keyRows int
	s.db.QueryRow(`SELECT count(*) FROM change_key_runs`).Scan(&runs)
	s.db.QueryRow(`SELECT count(*) FROM change_keys`).Scan(&keyRows)
	if runs == 0 || keyRows != 3+2 {
		t.Errorf("%d runs and %d key rows; want runs and 5 key rows (3, 4, 5, 1, 2)", runs, keyRows)
	}
	check := func(when string) {
		t.Helper()
		for k, ids := range want {
			got, err := s.Query(ctx, Filter{Schema: "s", Table: "t", PK: []string{strconv.FormatInt(k, 10)}, Oldest: true})
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []int64
			for _, c := range got {
				gotIDs = append(gotIDs, c.ID)
				if c.PK != "["+strconv.FormatInt(k, 10)+"]" {
					t.Errorf("%s: key %d: change %d has key %s", when, k, c.ID, c.PK)
				}
			}
			if !slices.Equal(gotIDs, ids) {
				t.Errorf("%s: key %d: changes %v, want %v", when, k, gotIDs, ids)
			}
		}
	}
	check("written")
	// Transactions 1 and 2 (changes 1..200) go: the run of the block from
	// change 129 is cut at 200.
	n, err := s.DeleteBefore(ctx, time.Unix(1_700_000_000+2*3600, 0), 7)
	if err != nil || n != 200 {
		t.Fatalf("retention removed %d changes, %v; want 200", n, err)
	}
	for k, ids := range want {
		want[k] = slices.DeleteFunc(ids, func(id int64) bool { return id <= 200 })
	}
	var minRun int64
	s.db.QueryRow(`SELECT min(first_change) FROM change_key_runs`).Scan(&minRun)
	if minRun != 201 {
		t.Errorf("first run starts at change %d after retention, want 201", minRun)
	}
	check("after retention")
	w.Close()
}
