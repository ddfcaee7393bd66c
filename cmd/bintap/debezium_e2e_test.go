package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/base64"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/testutil"
)

// dbzLines decodes Debezium output lines; numbers stay json.Number so that
// 64-bit values compare exactly.
func dbzLines(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var r map[string]any
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("output line is not JSON: %v\n%s", err, sc.Text())
		}
		recs = append(recs, r)
	}
	return recs
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

// TestDebeziumEndToEnd runs the bintap binary with --format debezium on the
// customers table of Debezium's documentation: inserts (one transaction),
// an update, a delete and a primary key change, with transaction metadata.
func TestDebeziumEndToEnd(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE inventory",
		`CREATE TABLE inventory.customers (
		  id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
		  first_name VARCHAR(255) NOT NULL,
		  last_name VARCHAR(255) NOT NULL,
		  email VARCHAR(255) NOT NULL UNIQUE KEY
		) AUTO_INCREMENT=1001`)
	gtid := func() string {
		var g string
		if err := s.DB.QueryRow("SELECT @@gtid_binlog_pos").Scan(&g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	// One connection, so that each statement's GTID can be read after it.
	conn, err := s.DB.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exec := func(q string) string {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return gtid()
	}
	began := time.Now()
	if _, err := conn.ExecContext(t.Context(), "BEGIN"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO inventory.customers (first_name, last_name, email) VALUES ('Sally', 'Thomas', 'sally.thomas@acme.com')",
		"INSERT INTO inventory.customers (first_name, last_name, email) VALUES ('George', 'Bailey', 'gbailey@foobar.com')",
		"INSERT INTO inventory.customers (first_name, last_name, email) VALUES ('Edward', 'Walker', 'ed@walker.com')",
		"INSERT INTO inventory.customers (first_name, last_name, email) VALUES ('Anne', 'Kretchmar', 'annek@noanswer.org')",
	} {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	gInsert := exec("COMMIT")
	gUpdate := exec("UPDATE inventory.customers SET first_name='Anne Marie' WHERE id=1004")
	gDelete := exec("DELETE FROM inventory.customers WHERE id=1004")
	gKey := exec("UPDATE inventory.customers SET id=2001 WHERE id=1003")
	var serverID string
	if err := s.DB.QueryRow("SELECT @@server_id").Scan(&serverID); err != nil {
		t.Fatal(err)
	}
	logs := map[string]bool{}
	if r, err := s.DB.Query("SHOW BINARY LOGS"); err == nil {
		for r.Next() {
			var name string
			var size any
			cols, _ := r.Columns()
			dest := []any{&name, &size}
			for len(dest) < len(cols) {
				dest = append(dest, new(any))
			}
			if r.Scan(dest...) == nil {
				logs[name] = true
			}
		}
		r.Close()
	}

	out, _ := runBinary(t, "stream", "--source", s.URL(), "--start", "oldest", "--stop-at-end", "--state-dir", t.TempDir(),
		"--format", "debezium", "--output", "-", "--topic-prefix", "dbserver1", "--debezium-transaction-metadata")
	ended := time.Now()
	var data, txs []map[string]any
	for _, r := range dbzLines(t, out) {
		if r["status"] != nil {
			txs = append(txs, r)
		} else {
			data = append(data, r)
		}
	}

	row := func(id int, first, last, email string) map[string]any {
		return map[string]any{"id": json.Number(strconv.Itoa(id)), "first_name": first, "last_name": last, "email": email}
	}
	anne, anneMarie := row(1004, "Anne", "Kretchmar", "annek@noanswer.org"), row(1004, "Anne Marie", "Kretchmar", "annek@noanswer.org")
	edward, edward2 := row(1003, "Edward", "Walker", "ed@walker.com"), row(2001, "Edward", "Walker", "ed@walker.com")
	want := []struct {
		op            string
		before, after map[string]any
		gtid          string
		row           int64 // the row image's 0-based number in its transaction
	}{
		{"c", nil, row(1001, "Sally", "Thomas", "sally.thomas@acme.com"), gInsert, 0},
		{"c", nil, row(1002, "George", "Bailey", "gbailey@foobar.com"), gInsert, 1},
		{"c", nil, edward, gInsert, 2},
		{"c", nil, anne, gInsert, 3},
		{"u", anne, anneMarie, gUpdate, 0},
		{"d", anneMarie, nil, gDelete, 0},
		{"d", edward, nil, gKey, 0}, // a primary key change is a delete and a create
		{"c", nil, edward2, gKey, 0},
	}
	if len(data) != len(want) {
		t.Fatalf("%d data records, want %d:\n%s", len(data), len(want), out)
	}
	for i, w := range want {
		r := data[i]
		if r["op"] != w.op {
			t.Errorf("record %d: op %v, want %s", i, r["op"], w.op)
		}
		if got := obj(r["before"]); !reflect.DeepEqual(got, w.before) {
			t.Errorf("record %d: before %v, want %v", i, got, w.before)
		}
		if got := obj(r["after"]); !reflect.DeepEqual(got, w.after) {
			t.Errorf("record %d: after %v, want %v", i, got, w.after)
		}
		src := obj(r["source"])
		fixed := map[string]any{"version": "bintap-" + version, "connector": "mariadb", "name": "dbserver1", "snapshot": "false",
			"db": "inventory", "table": "customers", "server_id": json.Number(serverID), "gtid": w.gtid, "sequence": nil,
			"thread": nil, "query": nil}
		for k, v := range fixed {
			if !reflect.DeepEqual(src[k], v) {
				t.Errorf("record %d: source.%s = %v, want %v", i, k, src[k], v)
			}
		}
		if f, _ := src["file"].(string); !logs[f] {
			t.Errorf("record %d: source.file %v is not one of the server's binary logs %v", i, src["file"], logs)
		}
		if p, _ := src["pos"].(json.Number).Int64(); p < 4 {
			t.Errorf("record %d: source.pos %v", i, src["pos"])
		}
		if n, _ := src["row"].(json.Number).Int64(); n != w.row {
			t.Errorf("record %d: source.row %d, want %d", i, n, w.row)
		}
		ms, _ := src["ts_ms"].(json.Number).Int64()
		if ms < began.Add(-2*time.Second).UnixMilli() || ms > ended.UnixMilli() {
			t.Errorf("record %d: source.ts_ms %d outside the run", i, ms)
		}
		if us, _ := src["ts_us"].(json.Number).Int64(); us != ms*1000 {
			t.Errorf("record %d: source.ts_us %d, ts_ms %d", i, us, ms)
		}
		pms, _ := r["ts_ms"].(json.Number).Int64()
		pus, _ := r["ts_us"].(json.Number).Int64()
		if pms < ms || pms > ended.UnixMilli() || pus/1000 != pms {
			t.Errorf("record %d: ts_ms %d ts_us %d (source %d, run ended %d)", i, pms, pus, ms, ended.UnixMilli())
		}
		tx := obj(r["transaction"])
		if tx["id"] != w.gtid {
			t.Errorf("record %d: transaction %v, want id %s", i, tx, w.gtid)
		}
	}
	// Transaction metadata: BEGIN and END around each transaction, the last
	// END written at the commit (not waiting for another transaction).
	var got []string
	for _, r := range txs {
		s := fmt.Sprint(r["status"], " ", r["id"])
		if r["status"] == "END" {
			b, _ := json.Marshal(r["data_collections"])
			s += fmt.Sprint(" ", r["event_count"], " ", string(b))
		}
		got = append(got, s)
	}
	one := `[{"data_collection":"inventory.customers","event_count":%d}]`
	wantTx := []string{
		"BEGIN " + gInsert, "END " + gInsert + " 4 " + fmt.Sprintf(one, 4),
		"BEGIN " + gUpdate, "END " + gUpdate + " 1 " + fmt.Sprintf(one, 1),
		"BEGIN " + gDelete, "END " + gDelete + " 1 " + fmt.Sprintf(one, 1),
		"BEGIN " + gKey, "END " + gKey + " 2 " + fmt.Sprintf(one, 2),
	}
	if !reflect.DeepEqual(got, wantTx) {
		t.Errorf("transaction records:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantTx, "\n"))
	}
}

// TestDebeziumEveryTypeMatchesServer streams the all-types table in the
// Debezium format and checks every value against what the server computes
// for Debezium's representation of it.
func TestDebeziumEveryTypeMatchesServer(t *testing.T) {
	s := testutil.NewMariaDB(t)
	createAllTypes(t, s)
	out, _ := runBinary(t, "stream", "--source", s.URL(), "--start", "oldest", "--stop-at-end", "--state-dir", t.TempDir(),
		"--format", "debezium", "--output", "-")
	recs := dbzLines(t, out)
	if len(recs) != len(typeRows) {
		t.Fatalf("%d records, want %d", len(recs), len(typeRows))
	}
	for _, r := range recs {
		after := obj(r["after"])
		id := string(after["id"].(json.Number))
		for _, c := range allTypes {
			want := debeziumExpected(t, s.DB, c, "id="+id)
			bits := 64
			if c.kind == "float" {
				bits = 32
			}
			if !sameDebezium(after[c.name], want, bits) {
				t.Errorf("id %s column %s (%s): bintap %#v, server %#v", id, c.name, c.def, after[c.name], want)
			}
		}
	}

	// The same stream with embedded schemas carries the same payloads.
	withSchema := dbzLines(t, mustRun(t, "stream", "--source", s.URL(), "--start", "oldest", "--stop-at-end", "--state-dir", t.TempDir(),
		"--format", "debezium", "--output", "-", "--debezium-schemas"))
	if len(withSchema) != len(recs) {
		t.Fatalf("with schemas: %d records", len(withSchema))
	}
	for i, r := range withSchema {
		schema, payload := obj(r["schema"]), obj(r["payload"])
		if schema["name"] != "bintap.types.t.Envelope" || len(r) != 2 {
			t.Errorf("record %d: schema %v", i, schema["name"])
		}
		if !reflect.DeepEqual(payload["after"], recs[i]["after"]) {
			t.Errorf("record %d: payload differs with schemas enabled", i)
		}
	}
}

func mustRun(t *testing.T, args ...string) []byte {
	out, _ := runBinary(t, args...)
	return out
}

// sameDebezium compares a decoded value with the expected one; numbers by
// their text, so 64-bit integers compare exactly and floats by value.
func sameDebezium(got, want any, bits int) bool {
	switch g := got.(type) {
	case json.Number:
		w, ok := want.(json.Number)
		return ok && (g == w || sameNumber(string(g), string(w), bits))
	case map[string]any:
		w, ok := want.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k := range g {
			if !sameDebezium(g[k], w[k], bits) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

// debeziumExpected asks the server for one column and renders it as
// Debezium's default options represent it.
func debeziumExpected(t *testing.T, db *sql.DB, c colSpec, where string) any {
	t.Helper()
	q := func(expr string) sql.NullString {
		var v sql.NullString
		if err := db.QueryRow("SELECT " + expr + " FROM types.t WHERE " + where).Scan(&v); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	col := "`" + c.name + "`"
	if v := q(col + " IS NULL"); v.String == "1" {
		return nil
	}
	def := strings.ToUpper(c.def)
	text := func() string { return q("CAST(" + col + " AS CHAR)").String }
	switch {
	case strings.HasPrefix(def, "BIGINT UNSIGNED"):
		// bigint.unsigned.handling.mode=long: Java's long.
		u, _ := strconv.ParseUint(text(), 10, 64)
		return json.Number(strconv.FormatInt(int64(u), 10))
	case strings.HasPrefix(def, "DECIMAL"):
		// precise: base64 of the unscaled two's-complement value.
		v := text()
		n, _ := new(big.Int).SetString(strings.NewReplacer(".", "", "-", "").Replace(v), 10)
		if strings.HasPrefix(v, "-") {
			n.Neg(n)
		}
		return base64.StdEncoding.EncodeToString(javaBytes(n))
	case c.kind == "number", c.kind == "float", c.kind == "double", c.kind == "year":
		return json.Number(q("CAST(" + col + "+0 AS CHAR)").String)
	case def == "BIT(1)":
		return q("CAST("+col+"+0 AS CHAR)").String == "1"
	case strings.HasPrefix(def, "BIT("):
		u, _ := strconv.ParseUint(q("CAST("+col+"+0 AS CHAR)").String, 10, 64)
		b := bin.LittleEndian.AppendUint64(nil, u)
		return base64.StdEncoding.EncodeToString(b)
	case def == "DATE":
		v := q("DATEDIFF(" + col + ", '1970-01-01')")
		if !v.Valid {
			return nil // zero date in a nullable column
		}
		return json.Number(v.String)
	case strings.HasPrefix(def, "TIME") && !strings.HasPrefix(def, "TIMESTAMP"):
		return json.Number(q("CAST(ROUND(TIME_TO_SEC(" + col + ")*1000000) AS SIGNED)").String)
	case strings.HasPrefix(def, "DATETIME"):
		v := q("TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', " + col + ")")
		if !v.Valid {
			return nil
		}
		us, _ := strconv.ParseInt(v.String, 10, 64)
		if def == "DATETIME" || def == "DATETIME(2)" {
			return json.Number(strconv.FormatInt(floorDiv(us, 1000), 10))
		}
		return json.Number(v.String)
	case strings.HasPrefix(def, "TIMESTAMP"):
		format := "%Y-%m-%dT%H:%i:%s"
		if strings.HasPrefix(def, "TIMESTAMP(6)") {
			format += ".%f"
		}
		return q("DATE_FORMAT(CONVERT_TZ("+col+", @@session.time_zone, '+00:00'), '"+format+"')").String + "Z"
	case c.kind == "bytes":
		return strings.ReplaceAll(q("TO_BASE64("+col+")").String, "\n", "")
	case c.kind == "geometry":
		g := map[string]any{"wkb": strings.ReplaceAll(q("TO_BASE64(ST_AsBinary("+col+"))").String, "\n", ""), "srid": nil}
		if srid := q("ST_SRID(" + col + ")").String; srid != "0" {
			g["srid"] = json.Number(srid)
		}
		if def == "POINT" {
			g["x"] = json.Number(q("ST_X(" + col + ")").String)
			g["y"] = json.Number(q("ST_Y(" + col + ")").String)
		}
		return g
	}
	return text()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// javaBytes is BigInteger.toByteArray, written independently of the encoder:
// the shortest two's-complement bytes.
func javaBytes(n *big.Int) []byte {
	for size := 1; ; size++ {
		lim := new(big.Int).Lsh(big.NewInt(1), uint(8*size-1))
		if n.Cmp(lim) < 0 && n.Cmp(new(big.Int).Neg(lim)) >= 0 {
			m := new(big.Int).Set(n)
			if m.Sign() < 0 {
				m.Add(m, new(big.Int).Lsh(big.NewInt(1), uint(8*size)))
			}
			return m.FillBytes(make([]byte, size))
		}
	}
}
