package index

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The statements behind --pk, windows and change lookups must use the
// indexes, never a scan of every change or transaction (a regression here
// makes queries on a large index slow).
func TestQueryPlansUseIndexes(t *testing.T) {
	s, _ := openTemp(t)
	w, err := s.NewWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(writeTx(t, w, 1, 1000, 1, 5)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	window := func(f Filter) (string, []any) { return sqliteDB.windowSQL(f) }
	for _, c := range []struct {
		sql  func() (string, []any)
		want string // plan step that must appear
	}{
		{func() (string, []any) { return sqlKeyChanges, []any{1, "[1]", "[1]"} }, "USING COVERING INDEX change_keys_by_key (table_id=? AND <expr>=? AND pk=?)"},
		{func() (string, []any) { return sqlOldKeyChanges, []any{1, "[1]", "[1]"} }, "USING COVERING INDEX change_old_keys_by_key (table_id=? AND <expr>=? AND old_pk=?)"},
		{func() (string, []any) { return sqlKeyRuns, []any{9, 1, 9 - 1023, 9, 9} }, "USING INDEX change_key_runs_by_key (table_id=? AND first_key>? AND first_key<?)"},
		{func() (string, []any) { return sqlTx, []any{1} }, "USING INTEGER PRIMARY KEY (rowid=?)"},
		{func() (string, []any) { return sqlBlockOf, []any{3} }, "USING INTEGER PRIMARY KEY (rowid<?)"},
		{func() (string, []any) { return window(Filter{GTID: "0-1-1"}) }, "USING INDEX transactions_by_gtid (gtid=?)"},
		{func() (string, []any) { return window(Filter{Since: testTime(900), Until: testTime(2000), UntilTx: 3}) }, "USING INDEX transactions_by_time (commit_time>? AND commit_time<?)"},
	} {
		q, args := c.sql()
		rows, err := s.db.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		if strings.Contains(p, "SCAN ") || !strings.Contains(p, c.want) {
			t.Errorf("%s: plan %q; want %q and no SCAN", q, p, c.want)
		}
	}
}

func testTime(sec int64) time.Time { return time.Unix(sec, 0) }

// An index written before the key indexes were ordered by length keeps
// its changes: opening it for writing replaces the old key indexes, and
// key lookups find the same changes.
func TestOldKeyIndexesReplaced(t *testing.T) {
	s, path := openTemp(t)
	w, err := s.NewWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(writeTx(t, w, 1, 1000, 1, 300)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// Make it look like a file of an older bintap.
	for _, q := range []string{`DROP INDEX change_keys_by_key`, `DROP INDEX change_old_keys_by_key`,
		`CREATE INDEX change_keys_by_pk ON change_keys (table_id, pk)`, `CREATE INDEX change_old_keys_by_pk ON change_old_keys (table_id, old_pk)`} {
		if _, err := s.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var names []string
	rows, err := s.db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('change_keys', 'change_old_keys') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	if got := strings.Join(names, ","); got != "change_keys_by_key,change_old_keys_by_key" {
		t.Errorf("key indexes %s; want change_keys_by_key,change_old_keys_by_key", got)
	}
	for _, id := range []string{"1", "150", "300"} {
		got, err := s.Query(context.Background(), Filter{Schema: testTable.Schema, Table: testTable.Name, PK: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Errorf("key %s: %d changes; want 1", id, len(got))
		}
	}
}
