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
	// Transactions 1 and 2 (changes 1..200) go: the run of the first block
	// (changes 1..251, up to the first commit) is cut at 200.
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

// elementLayouts counts the elements of each layout in the index: binary
// and JSON.
func elementLayouts(t *testing.T, s *Store) (bin, js int) {
	t.Helper()
	rows, err := s.db.Query(`SELECT first_change, last_change FROM change_blocks`)
	if err != nil {
		t.Fatal(err)
	}
	var spans [][2]int64
	for rows.Next() {
		var a, b int64
		rows.Scan(&a, &b)
		spans = append(spans, [2]int64{a, b})
	}
	rows.Close()
	r := blockReader{q: s.db}
	for _, sp := range spans {
		for id := sp[0]; id <= sp[1]; id++ {
			b, err := r.block(context.Background(), id)
			if err != nil || b == nil {
				t.Fatalf("block of %d: %v", id, err)
			}
			switch e := b.element(id); {
			case len(e) > 0 && e[0] == elemBinary:
				bin++
			case len(e) > 0 && e[0] == '{':
				js++
			default:
				t.Fatalf("change %d: element %q", id, e)
			}
		}
	}
	return bin, js
}

// TestElementLayouts: changes are stored in the binary layout, except
// those of a table whose definition does not read back with the same
// column names (not UTF-8): JSON, as before; both answer as the JSON
// layout did.
func TestElementLayouts(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	w, err := s.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	odd := &change.Table{Schema: "s", Name: "odd", Version: 1, PrimaryKey: []int{0},
		Columns: []change.Column{{Name: "id", Type: "bigint"}, {Name: "v\xff", Type: "varchar"}}}
	tx := &change.Tx{GTID: "0-1-1", File: "bin.000001", Pos: 100, Timestamp: 1_700_000_000}
	evs := []change.Event{
		{Op: change.OpInsert, Table: testTable, After: row(1, "a\"b")},
		{Op: change.OpUpdate, Table: testTable, Before: row(1, "a\"b"), After: row(1, "c")},
		{Op: change.OpUpdate, Table: testTable, Before: row(1, "c"), After: row(2, "c")},
		{Op: change.OpDelete, Table: testTable, Before: []change.Value{{Kind: change.KindInt, Int: 2}, {Kind: change.KindMissing}}},
		{Op: change.OpDelete, Table: testTable, Before: []change.Value{{Kind: change.KindMissing}, {Kind: change.KindString, Text: []byte("c")}}},
		{Op: change.OpInsert, Table: odd, After: row(1, "x")},
		{Op: change.OpUpdate, Table: odd, Before: row(1, "x"), After: row(1, "y")},
	}
	enc := NewEncoder()
	var want []Change
	for i := range evs {
		ev := &evs[i]
		ev.Tx, ev.EventNumber = tx, uint64(i+1)
		if err := w.Add(ev); err != nil {
			t.Fatal(err)
		}
		// What the JSON layout holds.
		c := Change{Type: ev.Op.String()}
		if ev.Before != nil {
			c.Before = string(enc.appendImage(nil, ev.Table, ev.Before))
		}
		if ev.After != nil {
			c.After = string(enc.appendImage(nil, ev.Table, ev.After))
		}
		if ev.Op == change.OpUpdate {
			c.Changed = string(appendChanged(nil, ev.Table.Columns, ev.Before, ev.After))
		}
		key := ev.After
		if ev.Op == change.OpDelete {
			key = ev.Before
		}
		c.PK = string(AppendKey(nil, ev.Table, key))
		if ev.Op == change.OpUpdate {
			if old := string(AppendKey(nil, ev.Table, ev.Before)); old != c.PK {
				c.OldPK = old
			}
		}
		want = append(want, c)
	}
	if err := w.Commit(position.Checkpoint{File: "bin.000001", Pos: 200}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if bin, js := elementLayouts(t, s); bin != 5 || js != 2 {
		t.Errorf("%d binary and %d JSON elements, want 5 and 2", bin, js)
	}
	var got []Change
	for _, tbl := range []string{"t", "odd"} {
		cs, err := s.Query(ctx, Filter{Schema: "s", Table: tbl, Oldest: true})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, cs...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d changes, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Type != w.Type || g.Before != w.Before || g.After != w.After || g.Changed != w.Changed || g.PK != w.PK || g.OldPK != w.OldPK {
			t.Errorf("change %d:\n got %+v\nwant %+v", i+1, g, w)
		}
	}
}

// TestUnsignedKeys: keys of an unsigned column, in runs, as key rows and
// beyond the runs' range, are found by their text.
func TestUnsignedKeys(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	w, err := s.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := &change.Table{Schema: "s", Name: "u", Version: 1, PrimaryKey: []int{0},
		Columns: []change.Column{{Name: "id", Type: "bigint", Unsigned: true}, {Name: "v", Type: "varchar"}}}
	keys := []uint64{5, 3, 1 << 63, 1<<62 + 1, 1 << 62}
	for k := uint64(100); k < 120; k++ {
		keys = append(keys, k)
	}
	tx := &change.Tx{GTID: "0-1-1", File: "bin.000001", Pos: 100, Timestamp: 1_700_000_000}
	for i, k := range keys {
		ev := change.Event{Op: change.OpInsert, Table: u, Tx: tx, EventNumber: uint64(i + 1),
			After: []change.Value{{Kind: change.KindUint, Uint: k}, {Kind: change.KindString, Text: []byte("x")}}}
		if err := w.Add(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(position.Checkpoint{File: "bin.000001", Pos: 200}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for i, k := range keys {
		ks := strconv.FormatUint(k, 10)
		got, err := s.Query(ctx, Filter{Schema: "s", Table: "u", PK: []string{ks}})
		if err != nil || len(got) != 1 || got[0].ID != int64(i+1) || got[0].PK != "["+ks+"]" {
			t.Errorf("key %s: %+v, %v", ks, got, err)
		}
	}
}
