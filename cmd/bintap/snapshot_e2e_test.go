package main

import (
	"testing"

	"github.com/bintap/bintap/internal/testutil"
)

// positionFields are the record fields that say where a row comes from, not
// what it holds.
var positionFields = map[string]bool{"domain": true, "server_id": true, "sequence": true, "event_number": true,
	"timestamp": true, "snapshot": true, "gtid": true}

// TestSnapshotEveryTypeMatchesBinlog: the snapshot record of each row equals
// the binlog insert record of the same row, apart from the position fields.
func TestSnapshotEveryTypeMatchesBinlog(t *testing.T) {
	s := testutil.NewMariaDB(t)
	createAllTypes(t, s)
	fromBinlog := map[uint64]record{}
	for _, r := range rows(streamOnce(t, s, t.TempDir(), "--start", "oldest")) {
		if r.str("table_name") == "t" {
			fromBinlog[r.num("id")] = r
		}
	}
	snap := streamOnce(t, s, t.TempDir()) // no checkpoint: --snapshot initial by default
	checkValuesAgainstServer(t, s, snap)
	seen := 0
	for _, r := range rows(snap) {
		if r.str("table_name") != "t" {
			continue
		}
		seen++
		if string(r["snapshot"]) != "true" || r.str("event_type") != "insert" {
			t.Errorf("snapshot record without snapshot:true / event_type insert: %s %s", r["snapshot"], r["event_type"])
		}
		b := fromBinlog[r.num("id")]
		if b == nil {
			t.Fatalf("row id %d not in the binlog output", r.num("id"))
		}
		for k, v := range b {
			if positionFields[k] {
				continue
			}
			if string(r[k]) != string(v) {
				t.Errorf("id %d field %s: snapshot %.200s, binlog %.200s", r.num("id"), k, r[k], v)
			}
		}
		for k := range r {
			if _, ok := b[k]; !ok && !positionFields[k] {
				t.Errorf("id %d: snapshot has field %s the binlog record lacks", r.num("id"), k)
			}
		}
	}
	if seen != len(typeRows) {
		t.Fatalf("snapshot emitted %d rows of types.t, want %d", seen, len(typeRows))
	}
}
