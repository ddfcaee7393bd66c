package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/testutil"
)

// compressedTypes are MariaDB COMPRESSED columns of every type that takes
// the attribute, with plain columns after them.
var compressedTypes = []colSpec{
	{"a", "VARCHAR(1000) COMPRESSED CHARACTER SET latin1", "string"},
	{"u", "VARCHAR(300) COMPRESSED CHARACTER SET utf8mb4", "string"},
	{"l255", "VARCHAR(255) COMPRESSED CHARACTER SET latin1", "string"},
	{"vb", "VARBINARY(500) COMPRESSED", "bytes"},
	{"tt", "TINYTEXT COMPRESSED", "string"},
	{"tx", "TEXT COMPRESSED CHARACTER SET latin1", "string"},
	{"e", "ENUM('small','large')", "string"},
	{"mt", "MEDIUMTEXT COMPRESSED", "string"},
	{"lt", "LONGTEXT COMPRESSED CHARACTER SET utf8mb4", "string"},
	{"tb", "TINYBLOB COMPRESSED", "bytes"},
	{"bl", "BLOB COMPRESSED", "bytes"},
	{"d1", "DECIMAL(10,2)", "number"},
	{"mb", "MEDIUMBLOB COMPRESSED", "bytes"},
	{"lb", "LONGBLOB COMPRESSED", "bytes"},
	{"j", "JSON COMPRESSED", "string"},
	{"v", "VARCHAR(20)", "string"},
}

var (
	compressedShort = `('é short', 'ü 😀', 'x', X'0001', 'tiny', 'latin é', 'small', 'medium', 'long 😀', X'FF', X'00', 1.50, X'0102', X'', '{"a": 1}', 'short')`
	compressedLong  = `(REPEAT('é abc ', 160), REPEAT('😀ü', 150), REPEAT('y', 255), REPEAT(X'00FF', 250), REPEAT('t', 255),
		REPEAT('lätin ', 5000), 'large', REPEAT(MD5('x'), 1000), REPEAT('long 😀 ', 50000), REPEAT(X'AB', 255), REPEAT(X'0011', 1000),
		-2.25, REPEAT(X'CAFE', 100000), REPEAT(X'DEADBEEF', 300000), CONCAT('[', REPEAT('"é", ', 500), '1]'), 'long')`
	compressedEmpty = `('', '', '', '', '', '', 'small', '', '', '', '', 0, '', '', '[]', '')`
)

// createCompressed makes types.t with compressed columns, inserts short
// (stored as they are), long (compressed: one row with a zlib-wrapped
// stream), empty and NULL values, updates between short and long and
// deletes. It returns the server's rendering of each row after the inserts
// and after the updates, by id, in the maxscale and the debezium formats.
func createCompressed(t *testing.T, s *testutil.Server) (ins, upd map[string]map[string]string, dbzIns, dbzUpd map[string]map[string]any) {
	t.Helper()
	var defs []string
	for _, c := range compressedTypes {
		defs = append(defs, "`"+c.name+"` "+c.def)
	}
	withID := func(id, row string) string { return "(" + id + ", " + row[1:] }
	s.Exec("CREATE DATABASE types",
		"CREATE TABLE types.t (id INT PRIMARY KEY, "+strings.Join(defs, ", ")+") DEFAULT CHARSET=utf8mb4",
		"INSERT INTO types.t VALUES "+withID("1", compressedShort)+", "+withID("2", compressedLong)+", "+withID("3", compressedEmpty)+
			", (4"+strings.Repeat(", NULL", len(compressedTypes))+")",
		"SET SESSION column_compression_zlib_wrap=ON; INSERT INTO types.t VALUES "+withID("5", compressedLong)+"; SET SESSION column_compression_zlib_wrap=OFF")
	capture := func() (map[string]map[string]string, map[string]map[string]any) {
		m, d := map[string]map[string]string{}, map[string]map[string]any{}
		for id := 1; id <= 5; id++ {
			where := fmt.Sprintf("id=%d", id)
			var n int
			if err := s.DB.QueryRow("SELECT COUNT(*) FROM types.t WHERE " + where).Scan(&n); err != nil || n == 0 {
				continue
			}
			k := fmt.Sprint(id)
			m[k], d[k] = map[string]string{}, map[string]any{}
			for _, c := range compressedTypes {
				m[k][c.name] = expectedJSON(t, s.DB, "types.t", c.name, c.kind, where)
				d[k][c.name] = debeziumExpected(t, s.DB, c, where)
			}
		}
		return m, d
	}
	ins, dbzIns = capture()
	s.Exec("UPDATE types.t SET a = REPEAT('now long ', 100), lt = REPEAT('ü', 5000), bl = NULL, v = 'u1' WHERE id = 1",
		"UPDATE types.t SET a = 'now short', lb = X'00', mt = '', v = 'u2' WHERE id = 2")
	upd, dbzUpd = capture()
	s.Exec("DELETE FROM types.t WHERE id IN (2, 5)")
	var name string
	var compressions int
	if err := s.DB.QueryRow("SHOW GLOBAL STATUS LIKE 'Column_compressions'").Scan(&name, &compressions); err != nil {
		t.Fatal(err)
	}
	if compressions < 20 {
		t.Fatalf("the server compressed %d values; the test needs compressed ones", compressions)
	}
	return ins, upd, dbzIns, dbzUpd
}

func checkCompressedRecord(t *testing.T, what string, r record, want map[string]string) {
	t.Helper()
	if want == nil {
		t.Errorf("%s: id %d not expected", what, r.num("id"))
		return
	}
	for _, c := range compressedTypes {
		if got := string(r[c.name]); got != want[c.name] {
			w := want[c.name]
			if len(got) > 100 {
				got = got[:100] + "..."
			}
			if len(w) > 100 {
				w = w[:100] + "..."
			}
			t.Errorf("%s id %d column %s (%s): bintap %s, server %s", what, r.num("id"), c.name, c.def, got, w)
		}
	}
}

func checkCompressedDebezium(t *testing.T, what string, img map[string]any, want map[string]any) {
	t.Helper()
	if want == nil {
		t.Errorf("%s: id %v not expected", what, img["id"])
		return
	}
	for _, c := range compressedTypes {
		if !sameDebezium(img[c.name], want[c.name], 64) {
			got, w := fmt.Sprint(img[c.name]), fmt.Sprint(want[c.name])
			if len(got) > 100 {
				got = got[:100] + "..."
			}
			if len(w) > 100 {
				w = w[:100] + "..."
			}
			t.Errorf("%s id %v column %s (%s): bintap %s, server %s", what, img["id"], c.name, c.def, got, w)
		}
	}
}

// TestCompressedColumnsMatchServer streams MariaDB COMPRESSED columns with
// every binlog_row_metadata setting, in the maxscale and debezium formats,
// and takes a snapshot of them, checking every value of every row image
// against what the server prints.
func TestCompressedColumnsMatchServer(t *testing.T) {
	for _, meta := range []string{"NO_LOG", "MINIMAL", "FULL"} {
		t.Run("binlog_row_metadata="+meta, func(t *testing.T) {
			s := testutil.NewMariaDB(t, "--binlog-row-metadata="+meta)
			ins, upd, dbzIns, dbzUpd := createCompressed(t, s)

			var got []string
			for _, r := range rows(streamOnce(t, s, t.TempDir(), "--start", "oldest")) {
				if r.str("table_schema") != "types" {
					continue
				}
				id, ev := fmt.Sprint(r.num("id")), r.str("event_type")
				got = append(got, ev+" "+id)
				switch ev {
				case "insert", "update_before":
					checkCompressedRecord(t, ev, r, ins[id])
				case "update_after", "delete":
					checkCompressedRecord(t, ev, r, upd[id])
				}
			}
			want := "insert 1,insert 2,insert 3,insert 4,insert 5,update_before 1,update_after 1,update_before 2,update_after 2,delete 2,delete 5"
			if strings.Join(got, ",") != want {
				t.Errorf("maxscale records: %s, want %s", strings.Join(got, ","), want)
			}

			out, _ := runBinary(t, "stream", "--source", s.URL(), "--start", "oldest", "--stop-at-end", "--state-dir", t.TempDir(),
				"--format", "debezium", "--output", "-")
			got = got[:0]
			for _, r := range dbzLines(t, out) {
				before, after := obj(r["before"]), obj(r["after"])
				op, _ := r["op"].(string)
				img := after
				if img == nil {
					img = before
				}
				got = append(got, op+" "+fmt.Sprint(img["id"]))
				id := fmt.Sprint(img["id"])
				switch op {
				case "c":
					checkCompressedDebezium(t, "debezium c after", after, dbzIns[id])
				case "u":
					checkCompressedDebezium(t, "debezium u before", before, dbzIns[id])
					checkCompressedDebezium(t, "debezium u after", after, dbzUpd[id])
				case "d":
					checkCompressedDebezium(t, "debezium d before", before, dbzUpd[id])
				}
			}
			if want := "c 1,c 2,c 3,c 4,c 5,u 1,u 2,d 2,d 5"; strings.Join(got, ",") != want {
				t.Errorf("debezium records: %s, want %s", strings.Join(got, ","), want)
			}
			if meta != "NO_LOG" {
				return
			}

			// The snapshot reads the rows with SELECT, which gives the
			// values decompressed: the same values as the binlog.
			got = got[:0]
			for _, r := range rows(streamOnce(t, s, t.TempDir())) {
				if r.str("table_schema") == "types" {
					got = append(got, r.str("event_type")+" "+fmt.Sprint(r.num("id")))
					checkCompressedRecord(t, "snapshot", r, upd[fmt.Sprint(r.num("id"))])
				}
			}
			if want := "insert 1,insert 3,insert 4"; strings.Join(got, ",") != want {
				t.Errorf("snapshot records: %s, want %s", strings.Join(got, ","), want)
			}
			out, _ = runBinary(t, "stream", "--source", s.URL(), "--stop-at-end", "--state-dir", t.TempDir(),
				"--format", "debezium", "--output", "-")
			got = got[:0]
			for _, r := range dbzLines(t, out) {
				after := obj(r["after"])
				got = append(got, fmt.Sprint(r["op"], " ", after["id"]))
				checkCompressedDebezium(t, "debezium snapshot", after, dbzUpd[fmt.Sprint(after["id"])])
			}
			if want := "r 1,r 3,r 4"; strings.Join(got, ",") != want {
				t.Errorf("debezium snapshot records: %s, want %s", strings.Join(got, ","), want)
			}
		})
	}
}
