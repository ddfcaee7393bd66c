package index

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
)

// The compatibility fixture: testdata/v2.db is an index written by bintap
// before format version 3 (2026-11-28, the code of commit 6c77980) from
// compatWorkload, and testdata/v2-queries.json.gz the answers that code gave
// to compatQueries. Every later version must open that file, answer the
// same, upgrade it when it opens it for writing, and give the same answers
// for an index it writes itself from the same workload.
//
// go test ./internal/index -run TestCompat -update-compat rewrites both
// files with the code at hand: only ever with the old code.
var updateCompat = flag.Bool("update-compat", false, "rewrite testdata/v2.db and testdata/v2-queries.json.gz (with the code of format version 2 only)")

var (
	compatWide = &change.Table{Schema: "shop", Name: "items", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{
		{Name: "id", Type: "bigint"}, {Name: "qty", Type: "int"}, {Name: "name", Type: "varchar", Length: 64},
		{Name: "price", Type: "decimal", Scale: 2}, {Name: "note", Type: "text"}, {Name: "attrs", Type: "json"}, {Name: "raw", Type: "varbinary"}}}
	// compatWide2 is items after a column was added.
	compatWide2 = &change.Table{Schema: "shop", Name: "items", Version: 2, PrimaryKey: []int{0}, Columns: append(append([]change.Column{}, compatWide.Columns...),
		change.Column{Name: "extra", Type: "int"})}
	compatStr   = &change.Table{Schema: "shop", Name: "users", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{{Name: "email", Type: "varchar"}, {Name: "n", Type: "int"}}}
	compatComp  = &change.Table{Schema: "shop", Name: "pairs", Version: 1, PrimaryKey: []int{1, 0}, Columns: []change.Column{{Name: "a", Type: "int"}, {Name: "b", Type: "varchar"}, {Name: "v", Type: "double"}}}
	compatNoKey = &change.Table{Schema: "shop", Name: "log", Version: 1, Columns: []change.Column{{Name: "msg", Type: "text"}, {Name: "n", Type: "int"}}}
	compatDec   = &change.Table{Schema: "shop", Name: "dec", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{{Name: "d", Type: "decimal", Scale: 0}, {Name: "v", Type: "int"}}}
)

func compatItem(t *change.Table, id, v int64, rng *rand.Rand) []change.Value {
	r := []change.Value{{Kind: change.KindInt, Int: id}, {Kind: change.KindInt, Int: v},
		{Kind: change.KindString, Text: []byte("item \"" + strconv.FormatInt(id%7, 10) + "\" café\n")},
		{Kind: change.KindDecimal, Text: []byte(strconv.FormatInt(rng.Int64N(100000), 10) + ".25")},
		{Kind: change.KindString, Text: []byte("note " + strconv.FormatInt(v, 10))},
		{Kind: change.KindJSON, Text: []byte(`{"k": [1, 2], "v": ` + strconv.FormatInt(v, 10) + `}`)},
		{Kind: change.KindBytes, Text: []byte{0, 1, byte(id), 0xff}}}
	if id%5 == 0 {
		r[4] = change.Value{Kind: change.KindNull}
	}
	if id%11 == 0 {
		r[6] = change.Value{Kind: change.KindMissing} // minimal row image
	}
	if t == compatWide2 {
		r = append(r, change.Value{Kind: change.KindInt, Int: -v})
	}
	return r
}

// compatWorkload writes the fixture's changes: runs of keys inserted in
// order, random updates, key changes, deletes, negative and huge keys,
// string, composite, decimal and missing keys, and a table change, in
// several commits.
func compatWorkload(t *testing.T, w *Writer) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	seq := uint64(0)
	ts := uint32(1_780_000_000)
	versions := map[int64]int64{}
	var tx *change.Tx
	n := uint64(0)
	newTx := func() {
		seq++
		ts += uint32(rng.IntN(3))
		tx = &change.Tx{GTID: "0-1-" + strconv.FormatUint(seq, 10), Sequence: seq, ServerID: 1, File: "bin.000001", Pos: uint32(1000 * seq), Timestamp: ts}
		n = 0
	}
	add := func(ev change.Event) {
		t.Helper()
		n++
		ev.Tx, ev.EventNumber = tx, n
		if err := w.Add(&ev); err != nil {
			t.Fatal(err)
		}
	}
	commit := func() {
		t.Helper()
		if err := w.Commit(position.Checkpoint{Flavor: "mariadb", File: tx.File, Pos: tx.Pos + 500, GTIDState: tx.GTID}); err != nil {
			t.Fatal(err)
		}
	}
	items := compatWide
	upsert := func(id int64) {
		v := versions[id]
		versions[id] = v + 1
		if v == 0 {
			add(change.Event{Op: change.OpInsert, Table: items, After: compatItem(items, id, 1, rng)})
			return
		}
		add(change.Event{Op: change.OpUpdate, Table: items, Before: compatItem(items, id, v, rng), After: compatItem(items, id, v+1, rng)})
	}
	// Bulk inserts in key order, over several blocks and commits.
	for b := 0; b < 3; b++ {
		newTx()
		for i := 0; i < 700; i++ {
			upsert(int64(b*700 + i + 1))
		}
		commit()
	}
	// Random updates, with other tables interleaved.
	for b := 0; b < 6; b++ {
		newTx()
		for i := 0; i < 150; i++ {
			upsert(int64(1 + rng.IntN(2100)))
			switch rng.IntN(5) {
			case 0:
				add(change.Event{Op: change.OpInsert, Table: compatNoKey, After: []change.Value{{Kind: change.KindString, Text: []byte("log " + strconv.Itoa(i))}, {Kind: change.KindInt, Int: int64(i)}}})
			case 1:
				k := "u" + strconv.Itoa(rng.IntN(40)) + "@x"
				add(change.Event{Op: change.OpInsert, Table: compatStr, After: []change.Value{{Kind: change.KindString, Text: []byte(k)}, {Kind: change.KindInt, Int: int64(i)}}})
			case 2:
				a := int64(rng.IntN(10))
				add(change.Event{Op: change.OpUpdate, Table: compatComp,
					Before: []change.Value{{Kind: change.KindInt, Int: a}, {Kind: change.KindString, Text: []byte("b" + strconv.Itoa(i%3))}, {Kind: change.KindDouble, Float: 0.5}},
					After:  []change.Value{{Kind: change.KindInt, Int: a}, {Kind: change.KindString, Text: []byte("b" + strconv.Itoa(i%3))}, {Kind: change.KindDouble, Float: float64(i) / 8}}})
			case 3:
				add(change.Event{Op: change.OpInsert, Table: compatDec, After: []change.Value{{Kind: change.KindDecimal, Text: []byte(strconv.Itoa(i % 20))}, {Kind: change.KindInt, Int: int64(i)}}})
			}
		}
		commit()
	}
	// Key changes, deletes, negative and huge keys, in key order too.
	newTx()
	for i := int64(1); i <= 40; i++ {
		before := compatItem(items, i, versions[i], rng)
		after := compatItem(items, i+100000, versions[i]+1, rng)
		add(change.Event{Op: change.OpUpdate, Table: items, Before: before, After: after})
	}
	for i := int64(41); i <= 300; i++ {
		add(change.Event{Op: change.OpDelete, Table: items, Before: compatItem(items, i, versions[i], rng)})
	}
	for i := int64(-20); i < 20; i++ {
		add(change.Event{Op: change.OpInsert, Table: items, After: compatItem(items, i*1000003-5, 1, rng)})
	}
	for _, id := range []int64{1<<62 - 2, 1<<62 - 1, 1 << 62, 1<<62 + 1, 1<<63 - 2, 1<<63 - 1, -1 << 63, -1<<63 + 1} {
		add(change.Event{Op: change.OpInsert, Table: items, After: compatItem(items, id, 1, rng)})
	}
	commit()
	// The table changes; inserts go on in key order across the change.
	newTx()
	for i := int64(3000); i < 3100; i++ {
		add(change.Event{Op: change.OpInsert, Table: items, After: compatItem(items, i, 1, rng)})
	}
	items = compatWide2
	for i := int64(3100); i < 3400; i++ {
		add(change.Event{Op: change.OpInsert, Table: items, After: compatItem(items, i, 1, rng)})
	}
	for i := int64(3000); i < 3050; i++ {
		add(change.Event{Op: change.OpUpdate, Table: items, Before: compatItem(items, i, 1, rng), After: compatItem(items, i, 2, rng)})
	}
	commit()
}

// compatQueries are the queries whose answers the fixture records.
func compatQueries() map[string]Filter {
	q := map[string]Filter{}
	keys := []string{"1", "2", "40", "41", "100001", "100040", "699", "700", "701", "1500", "2100", "2101", "0",
		"-5", "-20000065", "19000052", "4611686018427387902", "4611686018427387903", "4611686018427387904",
		"9223372036854775807", "-9223372036854775808", "3000", "3099", "3100", "3399", "3049", "3400", "77777"}
	for _, k := range keys {
		q["items pk "+k] = Filter{Schema: "shop", Table: "items", PK: []string{k}}
		q["items pk "+k+" oldest 2"] = Filter{Schema: "shop", Table: "items", PK: []string{k}, Oldest: true, Limit: 2}
	}
	for i := 0; i < 40; i += 3 {
		q["users pk "+strconv.Itoa(i)] = Filter{Schema: "shop", Table: "users", PK: []string{"u" + strconv.Itoa(i) + "@x"}}
	}
	for a := 0; a < 10; a += 2 {
		q["pairs pk "+strconv.Itoa(a)] = Filter{Schema: "shop", Table: "pairs", PK: []string{"b1", strconv.Itoa(a)}}
	}
	for d := 0; d < 20; d += 4 {
		q["dec pk "+strconv.Itoa(d)] = Filter{Schema: "shop", Table: "dec", PK: []string{strconv.Itoa(d)}}
	}
	q["items all"] = Filter{Schema: "shop", Table: "items"}
	q["items all oldest"] = Filter{Schema: "shop", Table: "items", Oldest: true}
	q["log all"] = Filter{Schema: "shop", Table: "log", Oldest: true}
	q["users all"] = Filter{Schema: "shop", Table: "users"}
	q["items deletes"] = Filter{Schema: "shop", Table: "items", Types: []string{"delete"}, Limit: 50}
	q["items changed qty"] = Filter{Schema: "shop", Table: "items", ChangedColumn: "qty", Limit: 100}
	q["items changed extra"] = Filter{Schema: "shop", Table: "items", ChangedColumn: "extra"}
	q["items where name"] = Filter{Schema: "shop", Table: "items", WhereColumn: "name", WhereValue: "item \"3\" café\n", Limit: 100}
	q["items where qty"] = Filter{Schema: "shop", Table: "items", WhereColumn: "qty", WhereValue: "3"}
	q["items where raw"] = Filter{Schema: "shop", Table: "items", WhereColumn: "raw", WhereValue: "0001ff"}
	q["items gtid 5"] = Filter{Schema: "shop", Table: "items", GTID: "0-1-5"}
	t0 := time.Unix(1_780_000_000, 0)
	q["items window"] = Filter{Schema: "shop", Table: "items", Since: t0.Add(4 * time.Second), Until: t0.Add(9 * time.Second), Oldest: true}
	q["items pk 5 until tx 4"] = Filter{Schema: "shop", Table: "items", PK: []string{"5"}, UntilTx: 4}
	return q
}

type compatAnswer struct {
	Changes []Change `json:",omitempty"`
	Err     string   `json:",omitempty"`
}

func compatAnswers(t *testing.T, s *Store) map[string]compatAnswer {
	t.Helper()
	out := map[string]compatAnswer{}
	for name, f := range compatQueries() {
		cs, err := s.Query(context.Background(), f)
		a := compatAnswer{Changes: cs}
		if err != nil {
			a.Err = err.Error()
		}
		out[name] = a
	}
	for _, k := range []string{"1", "5", "41", "700", "3000", "3399"} {
		for _, at := range []int64{1_780_000_000, 1_780_000_005, 1_780_000_030} {
			st, err := s.Reconstruct(context.Background(), "shop", "items", []string{k}, Point{Time: time.Unix(at, 0)})
			a := compatAnswer{}
			if err != nil {
				a.Err = err.Error()
			} else {
				b, _ := json.Marshal(st)
				a.Err = "state " + string(b)
			}
			out["reconstruct "+k+" at "+strconv.FormatInt(at, 10)] = a
		}
	}
	return out
}

func TestCompatFixture(t *testing.T) {
	fixture := filepath.Join("testdata", "v2.db")
	answers := filepath.Join("testdata", "v2-queries.json.gz")
	if *updateCompat {
		os.MkdirAll("testdata", 0o755)
		s, _ := openTemp(t)
		w, err := s.NewWriter(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		compatWorkload(t, w)
		w.Close()
		if _, err := s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		b, err := json.MarshalIndent(compatAnswers(t, s), "", " ")
		if err != nil {
			t.Fatal(err)
		}
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(b)
		zw.Close()
		if err := os.WriteFile(answers, z.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Exec(`VACUUM INTO ?`, fixture); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := compatWant(t)
	check := func(what string, s *Store) {
		t.Helper()
		checkCompat(t, what, s, want)
	}
	copyFixture := func() string {
		t.Helper()
		path := filepath.Join(t.TempDir(), FileName)
		src, err := os.Open(fixture)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// The old file as it is, read only.
	path := copyFixture()
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	check("old file, read only", ro)
	ro.Close()

	// Opened for writing (upgraded), then written on: the old changes
	// answer as before.
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	check("old file, opened for writing", s)
	w, err := s.NewWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tx := &change.Tx{GTID: "0-1-999", Sequence: 999, ServerID: 1, File: "bin.000002", Pos: 4, Timestamp: 1_790_000_000}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := int64(0); i < 600; i++ {
		ev := change.Event{Op: change.OpInsert, Table: compatWide2, Tx: tx, EventNumber: uint64(i + 1), After: compatItem(compatWide2, 500000+i, 1, rng)}
		if err := w.Add(&ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(position.Checkpoint{Flavor: "mariadb", File: "bin.000002", Pos: 100}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for _, k := range []string{"500000", "500255", "500256", "500599"} {
		cs, err := s.Query(context.Background(), Filter{Schema: "shop", Table: "items", PK: []string{k}})
		if err != nil || len(cs) != 1 || cs[0].PK != "["+k+"]" || cs[0].Type != "insert" {
			t.Errorf("upgraded file, new change of key %s: %+v, %v", k, cs, err)
		}
	}
	for name, f := range compatQueries() {
		if f.PK == nil {
			continue // the new changes are in the whole-table answers
		}
		cs, err := s.Query(context.Background(), f)
		gb, _ := json.Marshal(compatAnswer{Changes: cs, Err: errString(err)})
		wb, _ := json.Marshal(want[name])
		if string(gb) != string(wb) {
			t.Errorf("upgraded file after new changes: %s:\n got %s\nwant %s", name, gb, wb)
		}
	}
	if bin, js := elementLayouts(t, s); bin != 600 || js == 0 {
		t.Errorf("upgraded file: %d binary and %d JSON elements, want the 600 new ones binary", bin, js)
	}
	s.Close()
	ro, err = OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()

	// A new file written by this code from the same workload.
	s, _ = openTemp(t)
	w, err = s.NewWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	compatWorkload(t, w)
	w.Close()
	check("new file", s)
	if bin, js := elementLayouts(t, s); bin == 0 || js != 0 {
		t.Errorf("new file: %d binary and %d JSON elements, want only binary", bin, js)
	}
}

// compatWant reads the answers of the fixture.
func compatWant(t *testing.T) map[string]compatAnswer {
	t.Helper()
	zf, err := os.Open(filepath.Join("testdata", "v2-queries.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer zf.Close()
	zr, err := gzip.NewReader(zf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]compatAnswer
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	return want
}

// checkCompat compares the answers of s with want.
func checkCompat(t *testing.T, what string, s *Store, want map[string]compatAnswer) {
	t.Helper()
	got := compatAnswers(t, s)
	if len(got) != len(want) {
		t.Errorf("%s: %d answers, want %d", what, len(got), len(want))
	}
	for name, w := range want {
		gb, _ := json.Marshal(got[name])
		wb, _ := json.Marshal(w)
		if string(gb) != string(wb) {
			t.Errorf("%s: %s:\n got %s\nwant %s", what, name, gb, wb)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
