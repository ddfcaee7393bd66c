package binlog

import (
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/testutil"
)

// compressedCols are MariaDB COMPRESSED columns of every kind, mixed with
// plain columns whose TABLE_MAP metadata comes after theirs (go-mysql reads
// those from the wrong bytes).
var compressedCols = []colSpec{
	c("id", "INT NOT NULL PRIMARY KEY", "int"),
	c("a", "VARCHAR(1000) COMPRESSED CHARACTER SET latin1", "varchar", cs("latin1")),
	withExpr(c("b", "BLOB COMPRESSED", "blob", cs("binary")), "HEX(b)"),
	c("tx", "TEXT COMPRESSED CHARACTER SET utf8mb4", "text", cs("utf8mb4")),
	c("e", "ENUM('x','y','ç') CHARACTER SET utf8mb4", "enum", members("x", "y", "ç"), cs("utf8mb4")),
	c("d", "VARCHAR(10) CHARACTER SET utf8mb4", "varchar", cs("utf8mb4")),
	withExpr(c("vb", "VARBINARY(300) COMPRESSED", "varbinary", cs("binary")), "HEX(vb)"),
	c("u", "VARCHAR(100) COMPRESSED CHARACTER SET utf8mb4", "varchar", cs("utf8mb4")),
	c("dec1", "DECIMAL(10,2)", "decimal"),
	c("l254", "VARCHAR(254) COMPRESSED CHARACTER SET latin1", "varchar", cs("latin1")),
	c("l255", "VARCHAR(255) COMPRESSED CHARACTER SET latin1", "varchar", cs("latin1")),
	withExpr(c("bt", "BIT(12)", "bit"), "CAST(bt+0 AS CHAR)"),
	c("tt", "TINYTEXT COMPRESSED CHARACTER SET latin1", "tinytext", cs("latin1")),
	withExpr(c("tb", "TINYBLOB COMPRESSED", "tinyblob", cs("binary")), "HEX(tb)"),
	c("t3", "TIME(3)", "time"),
	c("mt", "MEDIUMTEXT COMPRESSED CHARACTER SET utf8mb4", "mediumtext", cs("utf8mb4")),
	withExpr(c("lb", "LONGBLOB COMPRESSED", "longblob", cs("binary")), "HEX(lb)"),
	c("gb", "TEXT COMPRESSED CHARACTER SET gbk", "text", cs("gbk")),
	c("w", "VARCHAR(400) COMPRESSED CHARACTER SET cp1251", "varchar", cs("cp1251")),
	c("j", "JSON COMPRESSED", "json", cs("utf8mb4")),
	c("st", "SET('p','q','é') CHARACTER SET latin1", "set", members("p", "q", "é"), cs("latin1")),
	c("tail", "VARCHAR(20) CHARACTER SET latin1", "varchar", cs("latin1")),
}

// compressedRow is one INSERT's values for compressedCols: short values are
// stored as they are, long ones (column_compression_threshold, 100 bytes by
// default) compressed.
func compressedRow(id, short string, long bool) string {
	if !long {
		return "(" + id + ", 'lat1 é', X'00FF01', 'utf8 😀 é', 'ç', 'plain', X'0001', 'é€', 1.50, 'x', 'y', b'101', 'tiny é', X'FF', '01:02:03.456', 'medium ü', X'00', '中文', 'Привет', '{\"a\": [1, \"é\"]}', 'p,é', '" + short + "')"
	}
	return "(" + id + ", REPEAT('ÿé ab', 199), REPEAT(X'00FF', 300), REPEAT('😀 utf8mb4 ü ', 200), 'x', 'p', REPEAT(X'01020304', 75), REPEAT('é', 100), -2.25," +
		" REPEAT('x', 254), REPEAT('y', 255), b'111111111111', REPEAT('t', 255), REPEAT(X'AB', 255), '-838:59:59.999'," +
		" REPEAT(CONCAT(MD5(" + id + "), 'ü€'), 5000), REPEAT(X'DEADBEEF', 300000), REPEAT('中文测试', 400), REPEAT('Привет мир ', 36)," +
		" CONCAT('[', REPEAT('{\"k\": \"é\"}, ', 300), '1]'), 'q', '" + short + "')"
}

func compressedTable() *change.Table {
	t := &change.Table{Schema: "cz", Name: "t", Version: 1, PrimaryKey: []int{0}}
	for _, s := range compressedCols {
		t.Columns = append(t.Columns, s.col)
	}
	return t
}

func compressedOracle() []string {
	var out []string
	for _, c := range compressedCols {
		if c.expr != "" {
			out = append(out, c.expr)
		} else {
			out = append(out, "CAST("+c.name+" AS CHAR)")
		}
	}
	return out
}

// compressedChanges makes inserts (short, long, empty, NULL; one with a
// zlib-wrapped stream), updates between short and long values and a
// delete, and returns the expected row images in binlog order, each as
// "before -> after" of server-rendered values joined by "|".
func compressedChanges(t *testing.T, s *testutil.Server) []string {
	t.Helper()
	var defs []string
	for _, c := range compressedCols {
		defs = append(defs, c.name+" "+c.ddl)
	}
	s.Exec("CREATE DATABASE cz", "CREATE TABLE cz.t ("+strings.Join(defs, ", ")+") CHARACTER SET utf8mb4")
	var before0 int64
	var name string
	if err := s.DB.QueryRow("SHOW GLOBAL STATUS LIKE 'Column_compressions'").Scan(&name, &before0); err != nil {
		t.Fatal(err)
	}
	empty := "(3, '', '', '', 'x', '', '', '', 0, '', '', b'0', '', '', '00:00:00', '', '', '', '', '[]', '', '')"
	null := "(4" + strings.Repeat(", NULL", len(compressedCols)-1) + ")"
	s.Exec("INSERT INTO cz.t VALUES "+compressedRow("1", "short", false)+", "+compressedRow("2", "long", true)+", "+empty+", "+null,
		"SET SESSION column_compression_zlib_wrap=ON; INSERT INTO cz.t VALUES "+compressedRow("5", "wrapped", true))
	oracle := compressedOracle()
	byID := func() map[string]string {
		m := map[string]string{}
		for _, r := range expected(t, s, "cz.t", oracle) {
			m[r[0]] = strings.Join(r, "|")
		}
		return m
	}
	s1 := byID()
	s.Exec("UPDATE cz.t SET a = REPEAT('long now ', 50), b = X'01', u = REPEAT('ü', 100), lb = NULL, tail = 'u1' WHERE id = 1",
		"UPDATE cz.t SET a = 'short now', tx = '', mt = REPEAT('z', 100), tail = 'u2' WHERE id = 2")
	s2 := byID()
	s.Exec("DELETE FROM cz.t WHERE id IN (2, 5)")
	var after0 int64
	if err := s.DB.QueryRow("SHOW GLOBAL STATUS LIKE 'Column_compressions'").Scan(&name, &after0); err != nil {
		t.Fatal(err)
	}
	if after0-before0 < 20 {
		t.Fatalf("the server compressed %d values; the test needs compressed ones", after0-before0)
	}
	return []string{
		" -> " + s1["1"], " -> " + s1["2"], " -> " + s1["3"], " -> " + s1["4"], " -> " + s1["5"],
		s1["1"] + " -> " + s2["1"], s1["2"] + " -> " + s2["2"],
		s2["2"] + " -> ", s2["5"] + " -> ",
	}
}

func checkCompressed(t *testing.T, want []string, got []rowsChange) {
	t.Helper()
	var lines []string
	for _, r := range got {
		if r.table == "cz.t" {
			lines = append(lines, strings.Join(r.before, "|")+" -> "+strings.Join(r.after, "|"))
		}
	}
	if len(lines) != len(want) {
		t.Fatalf("decoded %d row images of cz.t, want %d", len(lines), len(want))
	}
	for i := range want {
		if lines[i] == want[i] {
			continue
		}
		g := strings.Split(strings.ReplaceAll(lines[i], " -> ", "|->|"), "|")
		w := strings.Split(strings.ReplaceAll(want[i], " -> ", "|->|"), "|")
		if len(g) != len(w) {
			t.Errorf("image %d: %d values, want %d", i+1, len(g), len(w))
			continue
		}
		for j := range w {
			if g[j] != w[j] {
				gv, wv := g[j], w[j]
				if len(gv) > 80 {
					gv = gv[:80] + "..."
				}
				if len(wv) > 80 {
					wv = wv[:80] + "..."
				}
				t.Errorf("image %d value %d: decoded %q, server %q", i+1, j+1, gv, wv)
			}
		}
	}
}

// TestLiveCompressedColumns decodes MariaDB COMPRESSED columns with every
// binlog_row_metadata setting: with a definition as the schema history gives
// it, and with FULL from the binlog's own metadata; once more inside MariaDB
// compressed rows events (log_bin_compress).
func TestLiveCompressedColumns(t *testing.T) {
	for _, meta := range []string{"NO_LOG", "MINIMAL", "FULL", "FULL+log_bin_compress"} {
		t.Run(meta, func(t *testing.T) {
			args := []string{"--binlog-row-metadata=" + strings.TrimSuffix(meta, "+log_bin_compress")}
			if strings.HasSuffix(meta, "+log_bin_compress") {
				// compressed rows events holding compressed columns
				args = append(args, "--log-bin-compress=ON", "--log-bin-compress-min-len=10")
			}
			s := testutil.NewMariaDB(t, args...)
			want := compressedChanges(t, s)
			got := readBinlog(t, s, map[string]*change.Table{"cz.t": compressedTable()})
			checkCompressed(t, want, got)
			if strings.HasSuffix(meta, "+log_bin_compress") {
				n := 0
				for _, r := range got {
					if r.table == "cz.t" && IsCompressed(r.eventType) {
						n++
					}
				}
				if n == 0 {
					t.Fatal("no compressed rows event of cz.t in the binlog")
				}
			}
			if !strings.HasPrefix(meta, "FULL") {
				return
			}
			var checked bool
			got = readBinlogWith(t, s, func(tm *replication.TableMapEvent) *change.Table {
				def := TableFromMetadata(tm)
				if def == nil {
					t.Fatalf("no metadata definition for %s", tm.Table)
				}
				if string(tm.Table) == "t" {
					checkCompressedMetadata(t, def)
					checked = true
				}
				return def
			})
			if !checked {
				t.Fatal("no TABLE_MAP for cz.t")
			}
			checkCompressed(t, want, got)
		})
	}
}

func checkCompressedMetadata(t *testing.T, def *change.Table) {
	t.Helper()
	if len(def.Columns) != len(compressedCols) {
		t.Fatalf("metadata has %d columns, want %d", len(def.Columns), len(compressedCols))
	}
	lengths := map[string]int{"a": 1000, "d": 10, "vb": 300, "u": 100, "l254": 254, "l255": 255, "w": 400, "tail": 20}
	for i, c := range compressedCols {
		m := def.Columns[i]
		wantType := c.col.Type
		if wantType == "json" {
			wantType = "longtext" // MariaDB JSON is LONGTEXT in the binlog
		}
		if m.Name != c.name || m.Type != wantType || (c.col.Charset != "" && m.Charset != c.col.Charset) ||
			strings.Join(m.Members, ",") != strings.Join(c.col.Members, ",") {
			t.Errorf("column %d: metadata gives %s %s charset %q members %q, want %s %s charset %q members %q",
				i+1, m.Name, m.Type, m.Charset, m.Members, c.name, wantType, c.col.Charset, c.col.Members)
		}
		if l, ok := lengths[c.name]; ok && m.Length != l {
			t.Errorf("column %s: length %d, want %d", c.name, m.Length, l)
		}
	}
}
