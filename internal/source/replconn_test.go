package source_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/schema"
	"github.com/bintap/bintap/internal/source"
	"github.com/bintap/bintap/internal/testutil"
)

// blob is the content of row id's blob of n bytes: it differs at every
// offset from one row to the next, so a value read from a reused buffer
// shows.
func blob(id, n int) string {
	sum := md5.Sum([]byte(fmt.Sprint(id)))
	h := hex.EncodeToString(sum[:])
	return strings.Repeat(h, n/len(h)+1)[:n]
}

// TestStreamReusedSlabs streams rows events of every size through the
// replication reader, which reads them into reused slabs, while the
// consumer keeps all but one batch for a while (as slow outputs do) and
// checks each batch only when it hands it back: every value must still be
// what was written. The sizes cover many rows per event, a value larger
// than a slab, one larger than a protocol packet (16 MiB, sent in several
// packets), and captured rows far apart between the writes of a table
// that is not captured (a batch may then hold many slabs). Rows are
// decoded straight into the batches: an update's two images of three
// columns do not always fit in what is left of a batch.
func TestStreamReusedSlabs(t *testing.T) {
	s := testutil.NewMariaDB(t, "--max-allowed-packet=64M")
	s.Exec("CREATE DATABASE d",
		"CREATE TABLE d.t (id INT PRIMARY KEY, b LONGBLOB, c INT)", // 3 columns: an update's 6 values do not divide a batch's 4,096
		"CREATE TABLE d.skip (id INT PRIMARY KEY, b LONGBLOB)")

	sizes := map[int]int{} // id: blob size, as it is at the end
	insert := func(ids []int, size func(id int) int) {
		var vals []string
		for _, id := range ids {
			sizes[id] = size(id)
			vals = append(vals, fmt.Sprintf("(%d, '%s', %d)", id, blob(id, sizes[id]), -id))
		}
		s.Exec("INSERT INTO d.t VALUES " + strings.Join(vals, ","))
	}
	id := 0
	ids := func(n int) []int {
		var out []int
		for range n {
			id++
			out = append(out, id)
		}
		return out
	}
	for range 60 { // many small rows per event and per transaction: slabs fill and are reused
		insert(ids(200), func(id int) int { return 10 + id*37%3000 })
	}
	insert(ids(1), func(int) int { return 300 << 10 }) // larger than a slab
	insert(ids(3), func(int) int { return 100 << 10 }) // several per slab
	insert(ids(1), func(int) int { return 17 << 20 })  // several packets
	for range 40 {                                     // captured rows far apart
		s.Exec(fmt.Sprintf("INSERT INTO d.skip VALUES (%d, REPEAT('x', 200000))", id+1))
		insert(ids(1), func(id int) int { return 50 + id%100 })
	}
	s.Exec("UPDATE d.t SET b = REVERSE(b) WHERE id % 7 = 0 AND id <= 12000")
	want := 0
	for range sizes {
		want++
	}
	updates := 12000 / 7

	out, free, done := streamTable(t, s, "d.t")

	inserts, updated := 0, 0
	check := func(b *pipeline.Batch) {
		for _, ev := range b.Events {
			if ev.Table == nil || ev.Table.Name != "t" {
				t.Fatalf("event of %v: only d.t is captured", ev.Table)
			}
			row := ev.After
			id := int(row[0].Int)
			if _, ok := sizes[id]; !ok {
				t.Fatalf("%v of row %d, which was never written", ev.Op, id)
			}
			switch ev.Op {
			case change.OpInsert:
				inserts++
				if got, want := string(row[1].Text), blob(id, sizes[id]); got != want {
					t.Fatalf("insert of row %d: blob of %d bytes differs from the %d bytes written (first 40: %.40q)", id, len(got), len(want), got)
				}
				if row[2].Int != int64(-id) {
					t.Fatalf("insert of row %d: c = %d", id, row[2].Int)
				}
			case change.OpUpdate:
				updated++
				before, after := string(ev.Before[1].Text), string(row[1].Text)
				if before != blob(id, sizes[id]) || after != reverse(blob(id, sizes[id])) || ev.Before[0].Int != int64(id) ||
					ev.Before[2].Int != int64(-id) || row[2].Int != int64(-id) {
					t.Fatalf("update of row %d: images differ from what was written", id)
				}
			default:
				t.Fatalf("unexpected %v", ev.Op)
			}
		}
	}
	var kept []*pipeline.Batch
	for b := range out {
		kept = append(kept, b)
		if len(kept) == 7 { // the stream has one batch left to fill
			check(kept[0])
			free <- kept[0]
			kept = kept[1:]
		}
	}
	for _, b := range kept {
		check(b)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if inserts != want || updated != updates {
		t.Errorf("%d inserts and %d updates, want %d and %d", inserts, updated, want, updates)
	}
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// TestStreamWithoutChecksums: a server that writes its binlog without
// checksums (binlog_checksum=NONE) is read all the same: the replica says
// it understands checksums, and the events come without them.
func TestStreamWithoutChecksums(t *testing.T) {
	s := testutil.NewMariaDB(t, "--binlog-checksum=NONE")
	var alg string
	if err := s.DB.QueryRow("SELECT @@binlog_checksum").Scan(&alg); err != nil || alg != "NONE" {
		t.Fatalf("binlog_checksum %q, %v; want NONE", alg, err)
	}
	s.Exec("CREATE DATABASE d", "CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(20))")
	for i := 1; i <= 500; i++ {
		s.Exec(fmt.Sprintf("INSERT INTO d.t VALUES (%d, 'v%d')", i, i))
	}
	s.Exec("UPDATE d.t SET v = CONCAT(v, '!') WHERE id <= 10", "DELETE FROM d.t WHERE id > 490")
	out, free, done := streamTable(t, s, "d.t")
	ops := map[change.Op]int{}
	for b := range out {
		for _, ev := range b.Events {
			ops[ev.Op]++
			if ev.Op == change.OpInsert {
				if id := ev.After[0].Int; string(ev.After[1].Text) != fmt.Sprintf("v%d", id) {
					t.Fatalf("insert of row %d: v = %q", id, ev.After[1].Text)
				}
			}
		}
		free <- b
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ops[change.OpInsert] != 500 || ops[change.OpUpdate] != 10 || ops[change.OpDelete] != 10 {
		t.Errorf("changes by operation %v, want 500 inserts, 10 updates, 10 deletes", ops)
	}
}

// streamTable runs a stream of table from the oldest binlog to the end of
// the binlog as of its start, through the replication reader. The caller
// takes the batches from out and hands each back on free; done says how Run
// ended once out is closed.
func streamTable(t *testing.T, s *testutil.Server, table string) (out chan *pipeline.Batch, free chan *pipeline.Batch, done chan error) {
	t.Helper()
	conn, err := config.ParseSource(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	hist, err := schema.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	src, err := source.Open(ctx, source.Options{Conn: conn, ServerID: 4343, Flavor: "mariadb", Filter: (&config.Config{Tables: []string{table}}).Filter(), StopAtEnd: true},
		hist, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	start, err := src.Resolve(ctx, config.StartPoint{Kind: config.StartOldest})
	if err != nil {
		t.Fatal(err)
	}
	free, out = pipeline.NewBatches(8), make(chan *pipeline.Batch, 8)
	done = make(chan error, 1)
	go func() { done <- src.Run(ctx, start, out, free) }() // Run closes out
	return out, free, done
}

// TestRowsDecodedIntoBatches: rows are decoded straight into the batches
// (their text partly in the batch's arena, partly in the slab the event was
// read into). A batch's values must stay as they were while later rows are
// decoded into other batches and slabs are read into again, also when a
// row larger than a batch's arena grows it, and for updates (two images).
func TestRowsDecodedIntoBatches(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE d", `CREATE TABLE d.t (id INT PRIMARY KEY, l MEDIUMTEXT CHARACTER SET latin1, u VARCHAR(40) CHARACTER SET utf8mb4,
		p DECIMAL(12,2), at DATETIME(6), n INT NOT NULL)`)
	const rows, perStatement = 3000, 250
	big := func(id int) bool { return id%700 == 0 } // a 300 KB text: more than a batch's arena
	want := func(id, n int) []string {
		l := fmt.Sprintf("caf\u00e9 %d", id)
		if big(id) {
			l = strings.Repeat("\u00e9", 300<<10) + l
		}
		return []string{strconv.Itoa(id), l, fmt.Sprintf("ü%d", id), fmt.Sprintf("%d.%02d", id*3, id%100),
			fmt.Sprintf("2024-01-02 03:04:05.%06d", id), strconv.Itoa(n)}
	}
	for first := 1; first <= rows; first += perStatement {
		var vals []string
		for id := first; id < first+perStatement; id++ {
			w := want(id, 0)
			vals = append(vals, fmt.Sprintf("(%s, '%s', '%s', %s, '%s', 0)", w[0], w[1], w[2], w[3], w[4]))
		}
		s.Exec("INSERT INTO d.t VALUES " + strings.Join(vals, ","))
	}
	s.Exec("UPDATE d.t SET n = n + 1")
	render := func(row []change.Value) []string {
		return []string{strconv.FormatInt(row[0].Int, 10), string(row[1].Text), string(row[2].Text), string(row[3].Text), string(row[4].Text), strconv.FormatInt(row[5].Int, 10)}
	}
	check := func(b *pipeline.Batch, when string) {
		t.Helper()
		for _, ev := range b.Events {
			var rows [][]change.Value
			var ns []int
			switch ev.Op {
			case change.OpInsert:
				rows, ns = [][]change.Value{ev.After}, []int{0}
			case change.OpUpdate:
				rows, ns = [][]change.Value{ev.Before, ev.After}, []int{0, 1}
			default:
				t.Fatalf("%s: unexpected %s", when, ev.Op)
			}
			for i, row := range rows {
				got := render(row)
				id, _ := strconv.Atoi(got[0])
				if w := want(id, ns[i]); strings.Join(got, "|") != strings.Join(w, "|") {
					t.Fatalf("%s: %s of row %d is %.80q, want %.80q", when, ev.Op, id, got, w)
				}
			}
		}
	}
	out, free, done := streamTable(t, s, "d.t")
	var held []*pipeline.Batch // handed back 5 batches later: decoding goes on meanwhile
	events := 0
	for b := range out {
		check(b, "on arrival")
		events += len(b.Events)
		held = append(held, b)
		if len(held) > 5 {
			check(held[0], "five batches later")
			free <- held[0]
			held = held[1:]
		}
	}
	for _, b := range held {
		check(b, "at the end")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if events != 2*rows {
		t.Errorf("%d events, want %d inserts and %d updates", events, rows, rows)
	}
}
