package files

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
)

var ctx = context.Background()

func table() *change.Table {
	return &change.Table{Schema: "shop", Name: "orders", Version: 1, PrimaryKey: []int{0},
		Columns: []change.Column{{Name: "id", Type: "int"}, {Name: "note", Type: "varchar", Nullable: true},
			{Name: "price", Type: "decimal", Precision: 10, Scale: 2, Nullable: true}, {Name: "at", Type: "timestamp", Scale: 3, Nullable: true}}}
}

// tx is one transaction of the test stream: its changes and the
// checkpoint after it.
type tx struct {
	events []change.Event
	cp     position.Checkpoint
}

// stream builds transactions at the given commit times (seconds after
// 2026-11-28 10:00:00 UTC), each inserting or updating rows of t.
func stream(t *change.Table, at ...int) []tx {
	return streamAt(t, time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), at...)
}

func streamAt(t *change.Table, start time.Time, at ...int) []tx {
	base := start.Unix()
	var out []tx
	pos := uint32(256)
	for i, s := range at {
		x := &change.Tx{File: "bin.000001", Pos: pos, Timestamp: uint32(base + int64(s)), GTID: "0-1-" + itoa(i+1)}
		row := []change.Value{{Kind: change.KindInt, Int: int64(i % 3)}, {Kind: change.KindString, Text: []byte("n," + itoa(i) + "\"q\"")},
			{Kind: change.KindDecimal, Text: []byte("-12.50")}, {Kind: change.KindTimestamp, Int: base + int64(s), Uint: uint64(base+int64(s))*1e6 + 125000,
				Text: []byte(time.Unix(base+int64(s), 125e6).UTC().Format("2006-01-02 15:04:05.000"))}}
		ev := change.Event{Op: change.OpInsert, Table: t, After: row, Tx: x, EventNumber: 1}
		if i >= 3 {
			before := append([]change.Value(nil), row...)
			before[1] = change.Value{Kind: change.KindNull}
			ev = change.Event{Op: change.OpUpdate, Table: t, Before: before, After: row, Tx: x, EventNumber: 1}
		}
		pos += 500
		out = append(out, tx{events: []change.Event{ev}, cp: position.Checkpoint{Flavor: "mariadb", File: "bin.000001", Pos: pos}})
	}
	return out
}

func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

func open(t *testing.T, dir, format string) *Destination {
	t.Helper()
	d, err := New(dir, Options{Window: time.Minute, Format: format, Binary: "hex"}, time.UTC, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func write(t *testing.T, d *Destination, txs []tx) {
	t.Helper()
	for _, x := range txs {
		if err := d.Write(ctx, x.events, x.cp); err != nil {
			t.Fatal(err)
		}
	}
}

// crash drops a destination as kill -9 would: buffered bytes are lost, the
// lock goes.
func crash(d *Destination) {
	for _, f := range d.files {
		f.f.Close()
	}
	d.lock.Close()
}

// records reads every closed file back as "op order event note" lines.
func records(t *testing.T, dir string) []string {
	t.Helper()
	es, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if err := Read(dir, e, func(r *Record) error {
			out = append(out, string(r.Op)+" "+strconv.FormatInt(r.Order-1<<32, 10)+" "+string(r.Row[1].Text)+" "+string(r.Row[2].Text)+" "+string(r.Row[3].Text))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestWindowsCloseInOrderAndReadBack(t *testing.T) {
	for _, format := range []string{"jsonl", "csv", "parquet"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			d := open(t, dir, format)
			txs := stream(table(), 5, 30, 59, 61, 62, 130)
			write(t, d, txs)
			if err := d.Close(ctx); err != nil { // Parquet files are written meanwhile: wait for them
				t.Fatal(err)
			}
			es, err := ReadManifest(dir)
			if err != nil {
				t.Fatal(err)
			}
			// 10:00 and 10:01 closed; 10:02 is open.
			if len(es) != 2 || es[0].Rows != 3 || es[1].Rows != 2 || !es[0].WindowStart.Equal(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)) {
				t.Fatalf("manifest: %+v", es)
			}
			want := "shop/orders/2026-11-28/100000_bin.000001_256_1." + format
			if es[0].File != want {
				t.Fatalf("file name %s, want %s", es[0].File, want)
			}
			if _, err := os.Stat(filepath.Join(dir, "shop/orders/2026-11-28/100200_bin.000001_2756_1."+format)); !os.IsNotExist(err) {
				t.Fatalf("the open window's file is visible: %v", err)
			}
			got := records(t, dir)
			if len(got) != 5 || got[0] != `c 256 n,00"q" -12.50 2026-11-28 10:00:05.125` || got[3][0] != 'u' {
				t.Fatalf("records: %q", got)
			}
		})
	}
}

func TestCrashRewritesTheOpenWindowWhole(t *testing.T) {
	for _, format := range []string{"jsonl", "csv", "parquet"} {
		t.Run(format, func(t *testing.T) {
			txs := stream(table(), 5, 61, 62, 63, 64, 65, 130)
			clean := t.TempDir()
			d := open(t, clean, format)
			write(t, d, txs)
			d.Close(ctx)

			dir := t.TempDir()
			d = open(t, dir, format)
			write(t, d, txs[:3]) // 10:00 closes at 10:01:01
			if err := d.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			write(t, d, txs[3:5]) // written, not flushed
			crash(d)

			// A new table definition, as a restarted stream has.
			tb := table()
			d = open(t, dir, format)
			// The position is the flush's, or a later one that a commit in
			// between recorded with everything before it (a Parquet window
			// close committed when its file was written).
			cp, _ := d.Position(ctx)
			k := -1
			for i := range txs {
				if cp != nil && *cp == txs[i].cp {
					k = i
				}
			}
			if k < 2 {
				t.Fatalf("position %v, want %v or later", cp, txs[2].cp)
			}
			again := stream(tb, 5, 61, 62, 63, 64, 65, 130)
			write(t, d, again[k+1:]) // the stream resumes after the position
			d.Close(ctx)

			a, b := records(t, clean), records(t, dir)
			if len(a) != 6 || !reflect.DeepEqual(a, b) {
				t.Fatalf("after the crash %q, without %q", b, a)
			}
			ma, _ := os.ReadFile(filepath.Join(clean, ManifestName))
			mb, _ := os.ReadFile(filepath.Join(dir, ManifestName))
			if !bytes.Equal(ma, mb) {
				t.Fatalf("manifests differ:\n%s\n%s", ma, mb)
			}
		})
	}
}

func TestCrashWhileClosingIsFinishedOnStart(t *testing.T) {
	dir := t.TempDir()
	d := open(t, dir, "jsonl")
	txs := stream(table(), 5, 30, 61)
	write(t, d, txs[:2])
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The close of 10:00 is recorded, its rename and manifest line are not.
	d.cur = windowOf(txs[2].events[0].Tx.Timestamp, time.Minute)
	from, e, err := d.finish(d.files[0])
	if err != nil {
		t.Fatal(err)
	}
	st := state{Window: d.cur, Checkpoint: &txs[1].cp, Open: []fileState{}, Closing: []closing{{From: from, Entry: e}}}
	d.files = nil
	if err := d.writeState(st); err != nil {
		t.Fatal(err)
	}
	crash(d)
	d = open(t, dir, "jsonl")
	defer d.Close(ctx)
	if got := records(t, dir); len(got) != 2 {
		t.Fatalf("records after the restart: %q", got)
	}
	// Finishing twice lists the file once.
	if err := d.finishClosing(st.Closing); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, ManifestName))
	if n := strings.Count(string(raw), "\n"); n != 1 {
		t.Fatalf("manifest has %d lines:\n%s", n, raw)
	}
}

func TestCSVValues(t *testing.T) {
	tb := &change.Table{Schema: "s", Name: "t", Version: 1, Columns: []change.Column{{Name: "a", Type: "varchar"}, {Name: "b", Type: "blob"}, {Name: "c", Type: "double"}}}
	cases := [][]change.Value{
		{{Kind: change.KindString, Text: []byte{}}, {Kind: change.KindBytes, Text: []byte{0, 1, 0xff}}, {Kind: change.KindDouble, Float: 0.1}},
		{{Kind: change.KindString, Text: []byte(`\N`)}, {Kind: change.KindNull}, {Kind: change.KindMissing}},
		{{Kind: change.KindString, Text: []byte(" a,\"b\"\r\nc ")}, {Kind: change.KindBytes, Text: []byte{}}, {Kind: change.KindDouble, Float: -1e300}},
	}
	var buf []byte
	for i, row := range cases {
		buf = appendCSVRecord(buf, tb, &Record{Meta: change.Meta{Op: 'c', Order: int64(i), TxID: "x,y"}, Row: row}, 0)
	}
	vr := valueReader{t: tb, zone: time.UTC}
	raw := append(appendCSVHeader(nil, tb), buf...)
	i := 0
	err := vr.csv(raw, func(r *Record) error {
		if r.TxID != "x,y" || r.Order != int64(i) {
			t.Errorf("row %d meta %+v", i, r.Meta)
		}
		for c := range r.Row {
			w := cases[i][c]
			if w.Kind != r.Row[c].Kind || w.Float != r.Row[c].Float || !bytes.Equal(w.Text, r.Row[c].Text) {
				t.Errorf("row %d column %d: %+v, want %+v", i, c, r.Row[c], w)
			}
		}
		i++
		return nil
	})
	if err != nil || i != len(cases) {
		t.Fatalf("%v after %d rows:\n%s", err, i, raw)
	}
}

func TestSpoolRoundTrip(t *testing.T) {
	in := []Record{
		{Meta: change.Meta{Op: 'd', Deleted: true, TsMs: 1, TxID: "0-1-2", Order: 1 << 40, Event: 3}, Row: []change.Value{
			{Kind: change.KindInt, Int: -5}, {Kind: change.KindUint, Uint: 1<<64 - 1}, {Kind: change.KindDouble, Float: 2.5},
			{Kind: change.KindTimestamp, Int: 7, Uint: 7000001, Text: []byte("x")}, {Kind: change.KindNull}, {Kind: change.KindString, Text: []byte{}}}},
		{Meta: change.Meta{Op: 't', Deleted: true}},
	}
	var buf []byte
	for i := range in {
		buf = appendSpoolRecord(buf, &in[i])
	}
	sr := newSpoolReader(bytes.NewReader(buf), int64(len(buf)))
	for i := range in {
		r, err := sr.next()
		if err != nil || r == nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !reflect.DeepEqual(*r, in[i]) {
			t.Fatalf("record %d: %+v, want %+v", i, *r, in[i])
		}
	}
	if r, err := sr.next(); r != nil || err != nil {
		t.Fatalf("after the end: %v %v", r, err)
	}
}

func TestParseWindow(t *testing.T) {
	for _, ok := range []string{"1s", "1m", "15m", "1h", "24h", "90s"} {
		if _, err := ParseWindow(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "7m", "0", "-1m", "25h", "1.5s", "10ms", "x"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestRetainDeletesOldClosedFiles(t *testing.T) {
	dir := t.TempDir()
	d, err := New(dir, Options{Window: time.Minute, Format: "jsonl", Retain: time.Hour}, time.UTC, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	old := time.Now().Add(-3 * time.Hour).Truncate(time.Hour)
	write(t, d, streamAt(table(), old, 5, 70, 130)) // windows :00 and :01 close
	es, err := ReadManifest(dir)
	if err != nil || len(es) != 2 {
		t.Fatalf("manifest %v %v", es, err)
	}
	for _, e := range es {
		if _, err := os.Stat(filepath.Join(dir, e.File)); !os.IsNotExist(err) {
			t.Errorf("%s, closed 3 hours ago, is still there with --file-retain 1h (%v)", e.File, err)
		}
	}
	// A recent window stays.
	write(t, d, streamAt(table(), time.Now().Add(-10*time.Minute).Truncate(time.Minute), 5, 70, 130)[1:])
	es, _ = ReadManifest(dir)
	if _, err := os.Stat(filepath.Join(dir, es[len(es)-1].File)); err != nil {
		t.Errorf("the recent file is gone: %v", err)
	}
}

// benchRows are 100,000 inserts of a row like the benchmark's (make bench):
// an id, an integer, a name, a decimal, a datetime, a double and a text.
func benchEvents() ([]change.Event, *change.Table) {
	tb := &change.Table{Schema: "bench", Name: "items", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{
		{Name: "id", Type: "bigint", Unsigned: true}, {Name: "qty", Type: "int"}, {Name: "name", Type: "varchar"},
		{Name: "price", Type: "decimal", Precision: 10, Scale: 2}, {Name: "created", Type: "datetime", Scale: 6},
		{Name: "score", Type: "double"}, {Name: "note", Type: "text"}}}
	base := uint32(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC).Unix())
	evs := make([]change.Event, 100000)
	for i := range evs {
		x := &change.Tx{File: "bin.000001", Pos: uint32(256 + i*600), Timestamp: base + uint32(i/20000), GTID: "0-1-" + strconv.Itoa(i)}
		evs[i] = change.Event{Op: change.OpInsert, Table: tb, Tx: x, EventNumber: 1, After: []change.Value{
			{Kind: change.KindUint, Uint: uint64(i)}, {Kind: change.KindInt, Int: int64(i % 1000)},
			{Kind: change.KindString, Text: []byte("item name number " + strconv.Itoa(i))}, {Kind: change.KindDecimal, Text: []byte("1234.56")},
			{Kind: change.KindDateTime, Text: []byte("2026-11-28 10:00:00.123456")}, {Kind: change.KindDouble, Float: float64(i) / 7},
			{Kind: change.KindString, Text: []byte("a note of some length that looks like the benchmark's text column, more or less")}}}
	}
	return evs, tb
}

func benchmarkFormat(b *testing.B, format string) {
	evs, _ := benchEvents()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		d, err := New(b.TempDir(), Options{Window: time.Second, Format: format, Binary: "hex"}, time.UTC, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(evs); i += 1000 {
			x := evs[i+999].Tx
			if err := d.Write(ctx, evs[i:i+1000], position.Checkpoint{File: x.File, Pos: x.Pos + 600}); err != nil {
				b.Fatal(err)
			}
		}
		if err := d.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(evs)*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkOutputJSONL(b *testing.B)   { benchmarkFormat(b, "jsonl") }
func BenchmarkOutputCSV(b *testing.B)     { benchmarkFormat(b, "csv") }
func BenchmarkOutputParquet(b *testing.B) { benchmarkFormat(b, "parquet") }

func TestTruncateIsARecord(t *testing.T) {
	for _, format := range []string{"jsonl", "csv", "parquet"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			d := open(t, dir, format)
			txs := stream(table(), 5, 6, 70)
			tr := *txs[1].events[0].Tx
			txs[1].events = []change.Event{{Op: change.OpTruncate, Table: txs[1].events[0].Table, Tx: &tr, EventNumber: 1}}
			write(t, d, txs)
			if err := d.Close(ctx); err != nil {
				t.Fatal(err)
			}
			es, err := ReadManifest(dir)
			if err != nil || len(es) != 1 || es[0].Rows != 2 {
				t.Fatalf("manifest %+v %v", es, err)
			}
			var ops []byte
			if err := Read(dir, es[0], func(r *Record) error {
				if r.Op == 't' && (r.Row != nil || !r.Deleted) {
					t.Errorf("truncate record %+v", r)
				}
				ops = append(ops, r.Op)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if string(ops) != "ct" {
				t.Fatalf("ops %q, want ct", ops)
			}
		})
	}
}
