package index

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
	"github.com/bintap/bintap/internal/position"
)

var testTable = &change.Table{Schema: "s", Name: "t", Version: 1, PrimaryKey: []int{0},
	Columns: []change.Column{{Name: "id", Type: "bigint"}, {Name: "v", Type: "varchar", Length: 10}}}

func row(id int64, v string) []change.Value {
	return []change.Value{{Kind: change.KindInt, Int: id}, {Kind: change.KindString, Text: []byte(v)}}
}

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// writeTx adds one transaction of n inserts (ids from first) committed at ts.
func writeTx(t *testing.T, w *Writer, seq uint64, ts uint32, first int64, n int) position.Checkpoint {
	t.Helper()
	tx := &change.Tx{GTID: "0-1-" + strconv.FormatUint(seq, 10), Sequence: seq, ServerID: 1, File: "bin.000001", Pos: uint32(100 * seq), Timestamp: ts}
	for i := 0; i < n; i++ {
		ev := change.Event{Op: change.OpInsert, Table: testTable, Tx: tx, EventNumber: uint64(i + 1), After: row(first+int64(i), "x")}
		if err := w.Add(&ev); err != nil {
			t.Fatal(err)
		}
	}
	return position.Checkpoint{Flavor: "mariadb", File: tx.File, Pos: tx.Pos + 50, GTIDState: tx.GTID}
}

func TestCheckpointStoredWithChanges(t *testing.T) {
	s, path := openTemp(t)
	if cp, err := s.Position(); err != nil || cp != nil {
		t.Fatalf("empty index: position %v, %v", cp, err)
	}
	w, err := s.NewWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cp := writeTx(t, w, 1, 1000, 1, 3)
	if err := w.Commit(cp); err != nil {
		t.Fatal(err)
	}
	// Added but not committed: lost with the writer, like a crash.
	writeTx(t, w, 2, 1001, 10, 2)
	w.Close()

	got, err := s.Position()
	if err != nil || got == nil || got.File != cp.File || got.Pos != cp.Pos || got.GTIDState != cp.GTIDState {
		t.Fatalf("position %+v, %v; want %+v", got, err, cp)
	}
	if n, _ := s.Count(context.Background()); n != 3 {
		t.Fatalf("%d changes after an uncommitted batch, want the 3 committed", n)
	}
	// A new writer continues the ids; the same transaction seen again (a
	// restart inside it) keeps its id.
	w, err = s.NewWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tx := &change.Tx{GTID: "0-1-1", File: "bin.000001", Pos: 100, Timestamp: 1000}
	ev := change.Event{Op: change.OpUpdate, Table: testTable, Tx: tx, EventNumber: 4, Before: row(1, "x"), After: row(1, "y")}
	if err := w.Add(&ev); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(position.Checkpoint{File: "bin.000001", Pos: 100, Skip: 5}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var txs, maxID int
	s.DB().QueryRow(`SELECT count(*) FROM transactions`).Scan(&txs)
	s.DB().QueryRow(`SELECT max(last_change) FROM change_blocks`).Scan(&maxID)
	if txs != 1 || maxID != 4 {
		t.Errorf("%d transactions, last change id %d; want 1 and 4", txs, maxID)
	}
	s.Close()
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	cs, err := ro.Query(context.Background(), Filter{Schema: "s", Table: "t", PK: []string{"1"}})
	if err != nil || len(cs) != 2 || cs[0].Type != "update" || cs[0].Changed != `["v"]` || cs[0].Before != `{"id":1,"v":"x"}` || cs[0].After != `{"id":1,"v":"y"}` {
		t.Errorf("history of key 1: %+v, %v", cs, err)
	}
}

func TestRetentionDeletesOldChanges(t *testing.T) {
	s, _ := openTemp(t)
	w, err := s.NewWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	base := uint32(1_700_000_000)
	var cp position.Checkpoint
	for i := uint64(1); i <= 10; i++ {
		cp = writeTx(t, w, i, base+uint32(i)*3600, int64(i)*100, 7) // one transaction an hour
	}
	if err := w.Commit(cp); err != nil {
		t.Fatal(err)
	}
	cutoff := time.Unix(int64(base)+5*3600, 0) // transactions 1..4 are older
	n, err := s.DeleteBefore(context.Background(), cutoff, 3)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4*7 {
		t.Errorf("deleted %d changes, want %d", n, 4*7)
	}
	var txs, minTx int
	left, _ := s.Count(context.Background())
	s.DB().QueryRow(`SELECT count(*), min(tx_id) FROM transactions`).Scan(&txs, &minTx)
	if left != 6*7 || txs != 6 || minTx != 5 {
		t.Errorf("after retention: %d changes, %d transactions from %d; want 42, 6 from 5", left, txs, minTx)
	}
	st, err := s.Stats(context.Background())
	if err != nil || st.OldestChange.Unix() != int64(base)+5*3600 || st.Bytes == 0 {
		t.Errorf("stats %+v, %v", st, err)
	}
	if since, _ := s.CoveredSince(context.Background()); !since.Equal(cutoff) {
		t.Errorf("covered since %v, want %v", since, cutoff)
	}
	// Writing goes on after retention.
	if err := w.Commit(writeTx(t, w, 11, base+11*3600, 5000, 1)); err != nil {
		t.Fatal(err)
	}
	w.Close()
}

func TestKeyText(t *testing.T) {
	tbl := &change.Table{Schema: "d", Name: "t", PrimaryKey: []int{0, 1, 2, 3}, Columns: []change.Column{
		{Name: "a", Type: "int"}, {Name: "b", Type: "decimal", Precision: 10, Scale: 2}, {Name: "c", Type: "varchar"}, {Name: "d", Type: "varbinary"}}}
	got, err := KeyText(tbl, []string{"+7", "1.5", `x"y`, "0xABff"})
	if want := `[7,1.50,"x\"y","abff"]`; err != nil || got != want {
		t.Errorf("KeyText = %s, %v; want %s", got, err, want)
	}
	for _, parts := range [][]string{{"1"}, {"x", "1", "a", "00"}, {"1", "1", "a", "0g"}} {
		if _, err := KeyText(tbl, parts); err == nil {
			t.Errorf("KeyText(%q) accepted", parts)
		}
	}
	if _, err := KeyText(&change.Table{Name: "n"}, []string{"1"}); err == nil {
		t.Error("KeyText on a table without a key accepted")
	}
}

func TestLiteral(t *testing.T) {
	for _, c := range []struct {
		col  change.Column
		json string
		want string
	}{
		{change.Column{Type: "int"}, `null`, `NULL`},
		{change.Column{Type: "decimal"}, `-0.000001`, `-0.000001`},
		{change.Column{Type: "bigint", Unsigned: true}, `18446744073709551615`, `18446744073709551615`},
		{change.Column{Type: "bit"}, `5`, `b'101'`},
		{change.Column{Type: "float"}, `1e-10`, `1e-10`},
		{change.Column{Type: "varbinary"}, `"00ff"`, `X'00ff'`},
		{change.Column{Type: "char", Charset: "binary"}, `"41"`, `X'41'`},
		{change.Column{Type: "point"}, `"POINT(1 2)"`, `ST_GeomFromText('POINT(1 2)')`},
		{change.Column{Type: "varchar"}, `"it's a \\ \"x\"\n\u0000"`, `'it\'s a \\ "x"\n\0'`},
		{change.Column{Type: "date"}, `"0000-00-00"`, `'0000-00-00'`},
		{change.Column{Type: "json"}, `"{\"a\": 1}"`, `'{"a": 1}'`},
	} {
		got, err := literal(&c.col, json.RawMessage(c.json))
		if err != nil || got != c.want {
			t.Errorf("literal(%s %s) = %s, %v; want %s", c.col.Type, c.json, got, err, c.want)
		}
	}
	if _, err := literal(&change.Column{Name: "x", Type: "int"}, json.RawMessage(`1; DROP TABLE t`)); err == nil {
		t.Error("a non-number accepted as a number")
	}
}

func TestCommentCannotBreakOut(t *testing.T) {
	got := comment("filters: --where-column x=1\nDROP TABLE t;\r\nx")
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if !strings.HasPrefix(line, "-- ") {
			t.Errorf("comment line %q is not a comment", line)
		}
	}
}

func TestImageMatchesRowObject(t *testing.T) {
	w := NewEncoder()
	r := []change.Value{{Kind: change.KindInt, Int: 5}, {Kind: change.KindMissing}}
	for _, row := range [][]change.Value{row(1, "a\"b"), r} {
		got := string(w.appendImage(nil, testTable, row))
		want := string(format.AppendRowObject(nil, testTable.Columns, row, format.BinaryHex))
		if got != want {
			t.Errorf("image %s, AppendRowObject %s", got, want)
		}
	}
}

func TestNewIndexPageSize(t *testing.T) {
	s, _ := openTemp(t)
	var ps int
	var mode string
	if err := s.DB().QueryRow("PRAGMA page_size").Scan(&ps); err != nil || ps != pageSize {
		t.Errorf("page size %d, %v; want %d", ps, err, pageSize)
	}
	if err := s.DB().QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal mode %q, %v; want wal", mode, err)
	}
}

// TestBlocksAcrossBoundaries: changes spread over several blocks (sealed by
// size and at commits), a key changed by an update, retention cutting a
// block in the middle, and a new writer continuing the ids.
func TestBlocksAcrossBoundaries(t *testing.T) {
	s, _ := openTemp(t)
	checkBlocks(t, s)
}

func checkBlocks(t *testing.T, s *Store) {
	ctx := context.Background()
	w, err := s.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*blockMaxChanges + 100
	base := uint32(1_700_000_000)
	tx1 := &change.Tx{GTID: "0-1-1", File: "bin.000001", Pos: 100, Timestamp: base}
	for i := 0; i < n; i++ { // key i%500 changes several times
		id := int64(i % 500)
		ev := change.Event{Op: change.OpUpdate, Table: testTable, Tx: tx1, EventNumber: uint64(i + 1), Before: row(id, strconv.Itoa(i)), After: row(id, strconv.Itoa(i+1))}
		if i < 500 {
			ev = change.Event{Op: change.OpInsert, Table: testTable, Tx: tx1, EventNumber: uint64(i + 1), After: row(id, "1")}
		}
		if err := w.Add(&ev); err != nil {
			t.Fatal(err)
		}
	}
	// A second transaction an hour later, in the same commit (so in the
	// same block as the first one's last changes): key 7 becomes key 9000.
	tx2 := &change.Tx{GTID: "0-1-2", File: "bin.000001", Pos: 300, Timestamp: base + 3600}
	ev := change.Event{Op: change.OpUpdate, Table: testTable, Tx: tx2, EventNumber: 1, Before: row(7, "x"), After: row(9000, "x")}
	if err := w.Add(&ev); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(position.Checkpoint{File: "bin.000001", Pos: 400}); err != nil {
		t.Fatal(err)
	}
	var blocks int
	s.db.QueryRowContext(ctx, `SELECT count(*) FROM change_blocks`).Scan(&blocks)
	if blocks < 3 {
		t.Errorf("%d blocks for %d changes, want at least 3", blocks, n+1)
	}
	hist, err := s.Query(ctx, Filter{Schema: "s", Table: "t", PK: []string{"7"}, Oldest: true})
	if err != nil {
		t.Fatal(err)
	}
	wantVersions := (n-7+499)/500 + 1 // every 500th change of the first transaction, then the key change
	if len(hist) != wantVersions || hist[0].Type != "insert" || hist[len(hist)-1].OldPK != "[7]" || hist[len(hist)-1].PK != "[9000]" {
		t.Fatalf("history of key 7: %d changes (want %d), first %+v, last %+v", len(hist), wantVersions, hist[0], hist[len(hist)-1])
	}
	for i := 1; i < len(hist)-1; i++ {
		if want := `["v"]`; hist[i].Type != "update" || hist[i].Changed != want || hist[i].ID <= hist[i-1].ID {
			t.Errorf("version %d: %+v", i, hist[i])
		}
	}
	if got, err := s.Query(ctx, Filter{Schema: "s", Table: "t", PK: []string{"9000"}}); err != nil || len(got) != 1 || got[0].GTID != "0-1-2" {
		t.Errorf("history of key 9000: %+v, %v", got, err)
	}
	v := strconv.Itoa(n - 50) // set by change n-51, changed again by change n-50
	if got, err := s.Query(ctx, Filter{Schema: "s", Table: "t", WhereColumn: "v", WhereValue: v, Oldest: true}); err != nil || len(got) != 2 {
		t.Errorf("changes with v = %s: %+v, %v; want the update to it and the one from it", v, got, err)
	}
	// Retention of the first transaction: every block of it goes, the one
	// shared with the second transaction is cut.
	if _, err := s.DeleteBefore(ctx, time.Unix(int64(base)+1800, 0), 1000); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Count(ctx); c != 1 {
		t.Errorf("%d changes after retention, want 1", c)
	}
	if got, err := s.Query(ctx, Filter{Schema: "s", Table: "t", PK: []string{"7"}}); err != nil || len(got) != 1 || got[0].PK != "[9000]" {
		t.Errorf("history of key 7 after retention: %+v, %v", got, err)
	}
	w.Close()
	// A new writer goes on after the stored ids.
	w, err = s.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Commit(writeTx(t, w, 3, base+7200, 1, 2)); err != nil {
		t.Fatal(err)
	}
	all, err := s.Query(ctx, Filter{Schema: "s", Table: "t", Oldest: true})
	if err != nil || len(all) != 3 || all[0].ID != n+1 || all[1].ID != n+2 || all[2].ID != n+3 {
		t.Errorf("changes after restart: %+v, %v", all, err)
	}
}

// TestKeysOfMixedTables: the changes of several tables, one without a
// primary key, interleaved in the same blocks; each key finds exactly the
// changes of its own table.
func TestKeysOfMixedTables(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	w, err := s.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := &change.Table{Schema: "s", Name: "u", Version: 1, PrimaryKey: []int{1, 0}, Columns: testTable.Columns}
	keyless := &change.Table{Schema: "s", Name: "log", Version: 1, Columns: testTable.Columns}
	tx := &change.Tx{GTID: "0-1-1", File: "bin.000001", Pos: 100, Timestamp: 1_700_000_000}
	tables := []*change.Table{testTable, keyless, other, testTable, other}
	const n = 3*blockMaxChanges + 17
	want := map[string][]int64{} // table and key → change ids
	for i := 0; i < n; i++ {
		tbl := tables[i%len(tables)]
		id := int64(i % 40)
		ev := change.Event{Op: change.OpInsert, Table: tbl, Tx: tx, EventNumber: uint64(i + 1), After: row(id, "v\"\\é"+strconv.Itoa(i%3))}
		if err := w.Add(&ev); err != nil {
			t.Fatal(err)
		}
		if tbl != keyless {
			k := tbl.Name + " " + strconv.FormatInt(id, 10)
			if tbl == other {
				k += " " + strconv.Itoa(i%3)
			}
			want[k] = append(want[k], int64(i+1))
		}
	}
	if err := w.Commit(position.Checkpoint{File: "bin.000001", Pos: 200}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var keys int
	s.db.QueryRowContext(ctx, `SELECT count(*) FROM change_keys`).Scan(&keys)
	if wantKeys := n - (n+3)/5; keys != wantKeys {
		t.Errorf("%d key rows, want %d (one per change of a table with a key)", keys, wantKeys)
	}
	for k, ids := range want {
		f := strings.Fields(k)
		pk := []string{f[1]}
		if len(f) == 3 {
			pk = []string{"v\"\\é" + f[2], f[1]}
		}
		got, err := s.Query(ctx, Filter{Schema: "s", Table: f[0], PK: pk, Oldest: true})
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []int64
		for _, c := range got {
			gotIDs = append(gotIDs, c.ID)
		}
		if !slices.Equal(gotIDs, ids) {
			t.Errorf("key %q: changes %v, want %v", k, gotIDs, ids)
		}
	}
}

// TestIndexFilesArePrivate: the index holds every change and its
// positions: its file and SQLite's -wal and -shm files are created 0600,
// whatever the umask lets through.
func TestIndexFilesArePrivate(t *testing.T) {
	s, path := openTemp(t)
	w, err := s.NewWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(writeTx(t, w, 1, 1000, 1, 3)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s is %04o, want 0600", p, st.Mode().Perm())
		}
	}
}
