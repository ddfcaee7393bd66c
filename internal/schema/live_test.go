package schema

import (
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/testutil"
)

// binlogReader replays the QUERY events a private server wrote, as the
// replication source would see them, using SHOW BINLOG EVENTS.
type binlogReader struct {
	db   *sql.DB
	file string
	pos  uint64
}

var useRE = regexp.MustCompile("(?s)^use `((?:[^`]|``)*)`; (.*)$")

type queryEvent struct {
	db, sql, gtid string
	at            Mark
}

// next returns the QUERY events written since the last call.
func (r *binlogReader) next(t *testing.T) []queryEvent {
	t.Helper()
	rows, err := r.db.Query("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for rows.Next() {
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		var name string
		vals[0] = &name
		for i := 1; i < len(vals); i++ {
			vals[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	rows.Close()
	var out []queryEvent
	gtid := ""
	for _, f := range files {
		if r.file != "" && (Mark{File: f}).Compare(Mark{File: r.file}) < 0 {
			continue
		}
		from := uint64(4)
		if f == r.file {
			from = r.pos
		}
		rows, err := r.db.Query(fmt.Sprintf("SHOW BINLOG EVENTS IN '%s' FROM %d", f, from))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var logName, evType, info string
			var pos, serverID, endPos uint64
			if err := rows.Scan(&logName, &pos, &evType, &serverID, &endPos, &info); err != nil {
				t.Fatal(err)
			}
			r.file, r.pos = f, endPos
			switch evType {
			case "Gtid":
				fields := strings.Fields(info)
				gtid = fields[len(fields)-1]
			case "Query":
				ev := queryEvent{sql: info, gtid: gtid, at: Mark{File: f, Pos: uint32(pos)}}
				if m := useRE.FindStringSubmatch(info); m != nil {
					ev.db, ev.sql = strings.ReplaceAll(m[1], "``", "`"), m[2]
				}
				out = append(out, ev)
			}
		}
		rows.Close()
	}
	return out
}

// definitionDiff reports the differences between two definitions in what
// the decoder and the formats rely on.
func definitionDiff(a, b *change.Table) []string {
	var d []string
	if a.Schema != b.Schema || a.Name != b.Name {
		d = append(d, fmt.Sprintf("name %s vs %s", a.FullName(), b.FullName()))
	}
	if !slices.Equal(a.PrimaryKey, b.PrimaryKey) {
		d = append(d, fmt.Sprintf("primary key %v vs %v", a.PrimaryKey, b.PrimaryKey))
	}
	if len(a.Columns) != len(b.Columns) {
		return append(d, fmt.Sprintf("%d vs %d columns", len(a.Columns), len(b.Columns)))
	}
	for i := range a.Columns {
		x, y := a.Columns[i], b.Columns[i]
		x.SQLType, y.SQLType = normSQLType(x), normSQLType(y)
		if sx, sy := colString(x), colString(y); sx != sy {
			d = append(d, fmt.Sprintf("column %d: %s vs %s", i, sx, sy))
		}
	}
	return d
}

func TestLiveDDLMatchesServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private MariaDB")
	}
	s := testutil.NewMariaDB(t, "--character-set-server=latin1", "--collation-server=latin1_swedish_ci")
	s.Exec("CREATE DATABASE live", "CREATE DATABASE other CHARACTER SET utf8mb3")
	db, err := s.Open("live")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	h, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var serverCS string
	if err := db.QueryRow("SELECT @@character_set_server").Scan(&serverCS); err != nil {
		t.Fatal(err)
	}
	h.SetServerCharset(serverCS)
	reader := &binlogReader{db: db}

	watch := []string{"live.t1", "live.t2", "other.t3", "other.t4", "live.tg", "live.k", "live.m"}
	steps := []string{
		"CREATE TABLE t1 (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20), price DECIMAL(10,2), " +
			"e ENUM('a','b''c','d\\\\e',''), st SET('x','y'), ts TIMESTAMP(3) NULL, u UUID, ip INET6, ip4 INET4, j JSON, g POINT, " +
			"bits BIT(5), y YEAR, b BLOB, tt TINYTEXT CHARACTER SET utf8mb4, f FLOAT, d DOUBLE, bi BIGINT UNSIGNED, " +
			"c CHAR(3) COLLATE latin1_bin, vb VARBINARY(8), dt DATETIME(6), tm TIME(2), n NCHAR(2), mt MEDIUMTEXT) DEFAULT CHARSET=utf8mb4",
		"ALTER TABLE t1 ADD COLUMN a1 INT AFTER id, ADD COLUMN a0 VARCHAR(5) FIRST",
		"ALTER TABLE t1 DROP COLUMN a0, MODIFY price DECIMAL(12,4) UNSIGNED NOT NULL",
		"ALTER TABLE t1 CHANGE name full_name VARCHAR(40) CHARACTER SET latin1 NOT NULL AFTER price",
		"ALTER ONLINE TABLE t1 RENAME COLUMN a1 TO a2",
		"ALTER TABLE t1 ADD COLUMN IF NOT EXISTS a2 INT, ADD COLUMN IF NOT EXISTS a3 INT, DROP COLUMN IF EXISTS nope, MODIFY COLUMN IF EXISTS nope2 INT",
		"ALTER TABLE t1 DROP PRIMARY KEY, ADD PRIMARY KEY (id, a3)",
		"ALTER TABLE t1 DEFAULT CHARSET=latin1, ADD COLUMN nc VARCHAR(3), ADD INDEX (nc)",
		"ALTER TABLE t1 MODIFY tt TINYTEXT",
		"ALTER TABLE t1 ADD COLUMN v INT AS (a2 + 1) PERSISTENT, ADD COLUMN z BLOB COMPRESSED, ADD COLUMN inv INT INVISIBLE, ADD COLUMN vv INT AS (a2) VIRTUAL",
		"ALTER TABLE t1 MODIFY u UUID NOT NULL FIRST, CHANGE COLUMN ip `uuid` INET6",
		"RENAME TABLE t1 TO t2",
		"ALTER TABLE t2 RENAME TO other.t3",
		"CREATE TABLE other.t4 LIKE other.t3",
		"ALTER TABLE other.t4 ADD COLUMN o VARCHAR(2)",
		"DROP TABLE other.t3, other.t4",
		"CREATE TABLE t1 (id INT PRIMARY KEY, s VARCHAR(3))",
		"CREATE TABLE IF NOT EXISTS t1 (x INT)",
		"CREATE OR REPLACE TABLE t1 (x VARCHAR(3) NOT NULL, y INT, CONSTRAINT PRIMARY KEY (y, x))",
		"TRUNCATE TABLE t1",
		"CREATE TABLE tg (a TEXT, b TINYTEXT, c VARCHAR(10), e ENUM('a','b'), m MEDIUMTEXT, bl BLOB) CHARSET latin1",
		"ALTER TABLE tg CONVERT TO CHARACTER SET utf8mb4",
		"ALTER TABLE tg CONVERT TO CHARACTER SET latin1",
		"CREATE TABLE other.t3 (a INT, KEY (a))",
		"CREATE TABLE k (`uuid` UUID, `inet4` INET4, `key` INT, `wait` INT, PRIMARY KEY (`key`))",
		"ALTER TABLE k CHANGE `uuid` `uuid` UUID NOT NULL, ADD `point` POINT NOT NULL, ADD SPATIAL INDEX (`point`)",
		"CREATE TABLE m (a INT) SELECT 1 AS b, 'x' AS c",
		"DROP DATABASE other",
		"CREATE TABLE t2 (id SERIAL, j JSON NOT NULL, e ENUM('x') CHARACTER SET utf8mb3 NOT NULL DEFAULT 'x')",
	}
	for i, stmt := range steps {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("step %d %q: %v", i, stmt, err)
		}
		for _, ev := range reader.next(t) {
			t.Logf("step %d: %s %s db=%s %s", i, ev.at, ev.gtid, ev.db, ev.sql)
			if _, err := h.ApplyDDL(ev.db, ev.sql, ev.gtid, ev.at); err != nil {
				t.Errorf("step %d: apply %q: %v", i, ev.sql, err)
			}
		}
		for _, name := range watch {
			schema, table, _ := strings.Cut(name, ".")
			var tn, create string
			err := db.QueryRow(fmt.Sprintf("SHOW CREATE TABLE `%s`.`%s`", schema, table)).Scan(&tn, &create)
			got := h.Get(schema, table)
			if err != nil {
				if got != nil {
					t.Errorf("step %d %q: %s does not exist, history has v%d", i, stmt, name, got.Version)
				}
				continue
			}
			want, perr := ParseCreateTable(schema, create)
			if perr != nil {
				t.Errorf("step %d: parse SHOW CREATE TABLE %s: %v\n%s", i, name, perr, create)
				continue
			}
			if got == nil {
				t.Errorf("step %d %q: %s exists but history has no definition (unknown=%v)", i, stmt, name, h.IsUnknown(schema, table))
				continue
			}
			if d := definitionDiff(want, got); len(d) > 0 {
				t.Errorf("step %d %q: %s differs (server vs history):\n  %s\n%s", i, stmt, name, strings.Join(d, "\n  "), create)
			}
		}
	}
	// Versions only increase, and a renamed table continued numbering.
	if v := h.Get("live", "t1"); v == nil || v.Version <= 11 {
		t.Errorf("live.t1 after recreate: %+v", v)
	}
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
}
