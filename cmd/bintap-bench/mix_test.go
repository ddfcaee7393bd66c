package main

import (
	"strings"
	"testing"
)

// drain runs a generator to the end and returns its transactions' partitions
// and every change, copied.
func drain(g *mixGen) ([]int, []mixChange) {
	var parts []int
	var all []mixChange
	for {
		tx, part := g.next()
		if tx == nil {
			return parts, all
		}
		parts = append(parts, part)
		all = append(all, tx...)
	}
}

func TestMixGenIsDeterministic(t *testing.T) {
	_, a := drain(newMixGen(20_000, mixKeys(20_000)))
	_, b := drain(newMixGen(20_000, mixKeys(20_000)))
	if len(a) != 20_000 || len(b) != 20_000 {
		t.Fatalf("generated %d and %d changes, want 20000", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("change %d differs between two runs: %+v and %+v", i, a[i], b[i])
		}
	}
}

// TestMixGenModel replays the changes on a map: every insert is of a key
// without a row, every update and delete of a key with one, versions count
// up from 1, each transaction's keys lie in its partition, and the counts
// and live rows the generator reports match.
func TestMixGenModel(t *testing.T) {
	const changes = 50_000
	keys := mixKeys(changes)
	g := newMixGen(changes, keys)
	rows := map[int64]int32{}
	var counts [3]int
	txs := 0
	for {
		tx, part := g.next()
		if tx == nil {
			break
		}
		txs++
		if len(tx) < 1 || len(tx) > mixMaxTx {
			t.Fatalf("transaction %d has %d changes, want 1 to %d", txs, len(tx), mixMaxTx)
		}
		if part != (txs-1)%mixWriters {
			t.Fatalf("transaction %d is in partition %d, want %d", txs, part, (txs-1)%mixWriters)
		}
		for _, c := range tx {
			counts[c.op]++
			if c.id < 1 || c.id > int64(keys) || int(c.id-1)%mixWriters != part {
				t.Fatalf("id %d outside partition %d of %d keys", c.id, part, keys)
			}
			ver, ok := rows[c.id]
			switch c.op {
			case mixInsert:
				if ok || c.ver != 1 {
					t.Fatalf("insert of id %d (has a row: %v) with ver %d", c.id, ok, c.ver)
				}
				rows[c.id] = 1
			case mixUpdate:
				if !ok || c.ver != ver+1 {
					t.Fatalf("update of id %d (has a row: %v, ver %d) to ver %d", c.id, ok, ver, c.ver)
				}
				rows[c.id] = c.ver
			case mixDelete:
				if !ok {
					t.Fatalf("delete of id %d, which has no row", c.id)
				}
				delete(rows, c.id)
			}
		}
	}
	if counts != g.counts || txs != g.txs || len(rows) != g.liveRows() {
		t.Errorf("replayed %v changes in %d transactions, %d rows; generator says %v, %d, %d",
			counts, txs, len(rows), g.counts, g.txs, g.liveRows())
	}
	for op, n := range counts {
		if n < changes/20 {
			t.Errorf("only %d of %d changes are %ss", n, changes, mixOpNames[op])
		}
	}
}

func TestAppendMixSQL(t *testing.T) {
	_, all := drain(newMixGen(2_000, mixKeys(2_000)))
	seen := map[mixOp]bool{}
	for i := range all {
		c := &all[i]
		s := string(appendMixSQL(nil, c))
		var prefix string
		switch c.op {
		case mixInsert:
			prefix = "INSERT INTO bench.m (id,ver,qty,name,price,updated,note) VALUES ("
			if c.noNote != strings.HasSuffix(s, ",NULL)") {
				t.Errorf("%s: note NULL is %v", s, c.noNote)
			}
		case mixUpdate:
			prefix = "UPDATE bench.m SET ver="
		case mixDelete:
			prefix = "DELETE FROM bench.m WHERE id="
		}
		if !strings.HasPrefix(s, prefix) || strings.Count(s, "'")%2 != 0 {
			t.Errorf("%s: want it to start %q, with quotes paired", s, prefix)
		}
		seen[c.op] = true
	}
	if len(seen) != 3 {
		t.Errorf("2000 changes hold only ops %v", seen)
	}
	for _, tc := range []struct {
		cents int64
		want  string
	}{{0, "0.00"}, {5, "0.05"}, {-5, "-0.05"}, {123456, "1234.56"}, {-100, "-1.00"}} {
		if got := string(appendCents(nil, tc.cents)); got != tc.want {
			t.Errorf("appendCents(%d) = %s, want %s", tc.cents, got, tc.want)
		}
	}
}
