package format

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
)

// The customers table of Debezium's MySQL connector documentation
// ("Change event keys" / "Change event values", shared-mariadb-mysql.adoc).
func customersTable() *change.Table {
	return &change.Table{Schema: "inventory", Name: "customers", Version: 1, PrimaryKey: []int{0}, Columns: []change.Column{
		{Name: "id", Type: "int", Length: -1},
		{Name: "first_name", Type: "varchar", Length: 255},
		{Name: "last_name", Type: "varchar", Length: 255},
		{Name: "email", Type: "varchar", Length: 255},
	}}
}

func customerRow(id int64, first string) []change.Value {
	return []change.Value{
		{Kind: change.KindInt, Int: id},
		{Kind: change.KindString, Text: []byte(first)},
		{Kind: change.KindString, Text: []byte("Kretchmar")},
		{Kind: change.KindString, Text: []byte("annek@noanswer.org")},
	}
}

func mustDebezium(t testing.TB, o DebeziumOptions) *Debezium {
	t.Helper()
	d, err := NewDebezium(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return m
}

// compareDoc checks every field of the documented JSON against ours, except
// the paths in differ (documented as differing by nature), and lists the
// fields we write that the documentation does not show.
func compareDoc(t *testing.T, path string, doc, got any, differ map[string]string, extra *[]string) {
	t.Helper()
	if why, ok := differ[path]; ok {
		t.Logf("%s: documented %v, bintap %v (%s)", path, doc, got, why)
		return
	}
	dm, ok := doc.(map[string]any)
	if !ok {
		if !reflect.DeepEqual(doc, got) {
			t.Errorf("%s: documented %v (%T), bintap %v (%T)", path, doc, doc, got, got)
		}
		return
	}
	gm, ok := got.(map[string]any)
	if !ok {
		t.Errorf("%s: documented an object, bintap %v", path, got)
		return
	}
	for k, v := range dm {
		gv, ok := gm[k]
		if !ok {
			t.Errorf("%s.%s: documented, missing in bintap's output", path, k)
			continue
		}
		compareDoc(t, path+"."+k, v, gv, differ, extra)
	}
	for k := range gm {
		if _, ok := dm[k]; !ok {
			*extra = append(*extra, path+"."+k)
		}
	}
}

// TestDebeziumDocumentedCustomers encodes the documentation's create, update
// and delete of customer 1004 and compares the payloads field by field with
// the documented ones.
func TestDebeziumDocumentedCustomers(t *testing.T) {
	tbl := customersTable()
	// Processing time of each documented event (payload ts_ns).
	clock := []int64{1465491411815437158, 1465581029523758914, 1465581902461842579}
	n := 0
	d := mustDebezium(t, DebeziumOptions{TopicPrefix: "mysql-server-1", Connector: "mysql", Version: "0.1.0", Tombstones: true,
		Now: func() time.Time { n++; return time.Unix(0, clock[n-1]) }})

	events := []*change.Event{
		{Op: change.OpInsert, Table: tbl, EventNumber: 1, After: customerRow(1004, "Anne"),
			Query: "INSERT INTO customers (first_name, last_name, email) VALUES ('Anne', 'Kretchmar', 'annek@noanswer.org')",
			Tx:    &change.Tx{ServerID: 0, File: "mysql-bin.000003", Pos: 154, Timestamp: 0, Thread: 7, HasThread: true}},
		{Op: change.OpUpdate, Table: tbl, EventNumber: 1, Before: customerRow(1004, "Anne"), After: customerRow(1004, "Anne Marie"),
			Query: "UPDATE customers SET first_name='Anne Marie' WHERE id=1004",
			Tx:    &change.Tx{ServerID: 223344, File: "mysql-bin.000003", Pos: 484, Timestamp: 1465581029, Thread: 7, HasThread: true}},
		{Op: change.OpDelete, Table: tbl, EventNumber: 1, Before: customerRow(1004, "Anne Marie"),
			Query: "DELETE FROM customers WHERE id=1004",
			Tx:    &change.Tx{ServerID: 223344, File: "mysql-bin.000003", Pos: 805, Timestamp: 1465581902, Thread: 7, HasThread: true}},
	}
	documented := []string{
		`{"op":"c","ts_ms":1465491411815,"ts_us":1465491411815437,"ts_ns":1465491411815437158,"before":null,
		  "after":{"id":1004,"first_name":"Anne","last_name":"Kretchmar","email":"annek@noanswer.org"},
		  "source":{"version":"{debezium-version}","connector":"mysql","name":"mysql-server-1","ts_ms":0,"ts_us":0,"ts_ns":0,
		    "snapshot":false,"db":"inventory","table":"customers","server_id":0,"gtid":null,"file":"mysql-bin.000003",
		    "pos":154,"row":0,"thread":7,"query":"INSERT INTO customers (first_name, last_name, email) VALUES ('Anne', 'Kretchmar', 'annek@noanswer.org')"}}`,
		`{"before":{"id":1004,"first_name":"Anne","last_name":"Kretchmar","email":"annek@noanswer.org"},
		  "after":{"id":1004,"first_name":"Anne Marie","last_name":"Kretchmar","email":"annek@noanswer.org"},
		  "source":{"version":"{debezium-version}","name":"mysql-server-1","connector":"mysql","ts_ms":1465581029100,"ts_us":1465581029100000,
		    "ts_ns":1465581029100000000,"snapshot":false,"db":"inventory","table":"customers","server_id":223344,"gtid":null,
		    "file":"mysql-bin.000003","pos":484,"row":0,"thread":7,"query":"UPDATE customers SET first_name='Anne Marie' WHERE id=1004"},
		  "op":"u","ts_ms":1465581029523,"ts_us":1465581029523758,"ts_ns":1465581029523758914}`,
		`{"before":{"id":1004,"first_name":"Anne Marie","last_name":"Kretchmar","email":"annek@noanswer.org"},"after":null,
		  "source":{"version":"{debezium-version}","connector":"mysql","name":"mysql-server-1","ts_ms":1465581902300,"ts_us":1465581902300000,
		    "ts_ns":1465581902300000000,"snapshot":false,"db":"inventory","table":"customers","server_id":223344,"gtid":null,
		    "file":"mysql-bin.000003","pos":805,"row":0,"thread":7,"query":"DELETE FROM customers WHERE id=1004"},
		  "op":"d","ts_ms":1465581902461,"ts_us":1465581902461842,"ts_ns":1465581902461842579}`,
	}
	differ := map[string]string{
		".source.version":  "bintap writes its own version, not a Debezium release",
		".source.snapshot": `the documentation's example shows a boolean; Debezium's Source schema (SnapshotRecord, an io.debezium.data.Enum) writes the string "false"`,
		".source.ts_ms":    "the binlog event header has whole seconds only",
		".source.ts_us":    "the binlog event header has whole seconds only",
		".source.ts_ns":    "the binlog event header has whole seconds only",
	}
	var keys, values [][]byte
	var out []Message
	var buf []byte
	for _, ev := range events {
		buf, out = d.AppendMessages(buf, out[:0], ev)
		for _, m := range out {
			keys = append(keys, m.Key)
			values = append(values, m.Value)
		}
	}
	// create, update, delete + tombstone
	if len(values) != 4 || values[3] != nil || string(keys[3]) != `{"id":1004}` {
		t.Fatalf("want c, u, d and a tombstone keyed {\"id\":1004}; got %d messages", len(values))
	}
	for i, doc := range documented {
		if string(keys[i]) != `{"id":1004}` {
			t.Errorf("event %d: key %s, documented {\"id\":1004}", i, keys[i])
		}
		var extra []string
		compareDoc(t, "", decode(t, []byte(doc)), decode(t, values[i]), differ, &extra)
		sort.Strings(extra)
		// Fields of Debezium's schema that the documented payload leaves out.
		want := []string{".source.sequence", ".transaction"}
		if !reflect.DeepEqual(extra, want) {
			t.Errorf("event %d: fields beyond the documented ones: %v, want %v", i, extra, want)
		}
	}
	// Exact bytes of the update, fixing the field order of Debezium's schema.
	wantUpdate := `{"before":{"id":1004,"first_name":"Anne","last_name":"Kretchmar","email":"annek@noanswer.org"},` +
		`"after":{"id":1004,"first_name":"Anne Marie","last_name":"Kretchmar","email":"annek@noanswer.org"},` +
		`"source":{"version":"0.1.0","connector":"mysql","name":"mysql-server-1","ts_ms":1465581029000,"snapshot":"false","db":"inventory",` +
		`"sequence":null,"ts_us":1465581029000000,"ts_ns":1465581029000000000,"table":"customers","server_id":223344,"gtid":null,` +
		`"file":"mysql-bin.000003","pos":484,"row":0,"thread":7,"query":"UPDATE customers SET first_name='Anne Marie' WHERE id=1004"},"op":"u","ts_ms":1465581029523,"ts_us":1465581029523758,` +
		`"ts_ns":1465581029523758914,"transaction":null}`
	if string(values[1]) != wantUpdate {
		t.Errorf("update:\n got %s\nwant %s", values[1], wantUpdate)
	}
}

// TestDebeziumDocumentedSchemas compares the embedded Connect schemas with
// the documented key schema and the documented before/after Value schema.
func TestDebeziumDocumentedSchemas(t *testing.T) {
	tbl := customersTable()
	tbl.Columns[1].Nullable = false
	d := mustDebezium(t, DebeziumOptions{TopicPrefix: "mysql-server-1", Connector: "mysql", Schemas: true})
	_, out := d.AppendMessages(nil, nil, &change.Event{Op: change.OpInsert, Table: tbl, EventNumber: 1, After: customerRow(1004, "Anne"),
		Tx: &change.Tx{File: "mysql-bin.000003", Pos: 154}})
	key := decode(t, out[0].Key)
	wantKey := decode(t, []byte(`{"schema":{"type":"struct","name":"mysql-server-1.inventory.customers.Key","optional":false,
		"fields":[{"field":"id","type":"int32","optional":false}]},"payload":{"id":1004}}`))
	if !reflect.DeepEqual(key, wantKey) {
		t.Errorf("key:\n got %v\nwant %v", key, wantKey)
	}
	val := decode(t, out[0].Value)
	schema := val["schema"].(map[string]any)
	if schema["name"] != "mysql-server-1.inventory.customers.Envelope" || schema["optional"] != false {
		t.Errorf("envelope schema name/optional: %v %v", schema["name"], schema["optional"])
	}
	docRow := decode(t, []byte(`{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},
		{"type":"string","optional":false,"field":"first_name"},{"type":"string","optional":false,"field":"last_name"},
		{"type":"string","optional":false,"field":"email"}],"optional":true,"name":"mysql-server-1.inventory.customers.Value"}`))
	var names []string
	for _, f := range schema["fields"].([]any) {
		fm := f.(map[string]any)
		name := fm["field"].(string)
		names = append(names, name)
		if name == "before" || name == "after" {
			row := map[string]any{}
			for k, v := range fm {
				if k != "field" {
					row[k] = v
				}
			}
			if !reflect.DeepEqual(row, docRow) {
				t.Errorf("%s schema:\n got %v\nwant %v", name, row, docRow)
			}
		}
		if name == "source" && fm["name"] != "io.debezium.connector.mysql.Source" {
			t.Errorf("source schema name %v", fm["name"])
		}
	}
	if want := []string{"before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns", "transaction"}; !reflect.DeepEqual(names, want) {
		t.Errorf("envelope fields %v, want %v", names, want)
	}
	// Every payload field has a schema field, in the same order.
	assertSchemaMatchesPayload(t, "", val["schema"], val["payload"])
}

// assertSchemaMatchesPayload walks a Connect struct schema and its payload.
func assertSchemaMatchesPayload(t *testing.T, path string, schema, payload any) {
	t.Helper()
	s := schema.(map[string]any)
	if s["type"] != "struct" || payload == nil {
		return
	}
	p, ok := payload.(map[string]any)
	if !ok {
		t.Errorf("%s: payload %v is not an object", path, payload)
		return
	}
	fields := s["fields"].([]any)
	if len(fields) != len(p) {
		t.Errorf("%s: %d schema fields, %d payload fields", path, len(fields), len(p))
	}
	for _, f := range fields {
		fm := f.(map[string]any)
		name := fm["field"].(string)
		v, ok := p[name]
		if !ok {
			t.Errorf("%s.%s: in the schema, not in the payload", path, name)
			continue
		}
		if v == nil && fm["optional"] != true {
			t.Errorf("%s.%s: null but not optional", path, name)
		}
		assertSchemaMatchesPayload(t, path+"."+name, fm, v)
	}
}

// TestDebeziumValues checks each column type's value and schema against
// Debezium's mapping tables and converters.
func TestDebeziumValues(t *testing.T) {
	type tc struct {
		name   string
		col    change.Column
		v      change.Value
		opts   DebeziumOptions
		want   string // JSON value
		schema string // "type name" of the column schema
	}
	text := func(k change.Kind, s string) change.Value { return change.Value{Kind: k, Text: []byte(s)} }
	ts := time.Date(2018, 6, 20, 13, 37, 3, 120000000, time.UTC)
	cases := []tc{
		{"tinyint", change.Column{Type: "tinyint"}, change.Value{Kind: change.KindInt, Int: -128}, DebeziumOptions{}, `-128`, "int8"},
		{"tinyint unsigned", change.Column{Type: "tinyint", Unsigned: true}, change.Value{Kind: change.KindUint, Uint: 255}, DebeziumOptions{}, `255`, "int16"},
		{"smallint unsigned", change.Column{Type: "smallint", Unsigned: true}, change.Value{Kind: change.KindUint, Uint: 65535}, DebeziumOptions{}, `65535`, "int32"},
		{"mediumint", change.Column{Type: "mediumint"}, change.Value{Kind: change.KindInt, Int: -8388608}, DebeziumOptions{}, `-8388608`, "int32"},
		{"int unsigned", change.Column{Type: "int", Unsigned: true}, change.Value{Kind: change.KindUint, Uint: 4294967295}, DebeziumOptions{}, `4294967295`, "int64"},
		{"bigint", change.Column{Type: "bigint"}, change.Value{Kind: change.KindInt, Int: math.MinInt64}, DebeziumOptions{}, `-9223372036854775808`, "int64"},
		{"bigint unsigned long", change.Column{Type: "bigint", Unsigned: true}, change.Value{Kind: change.KindUint, Uint: math.MaxUint64}, DebeziumOptions{}, `-1`, "int64"},
		{"bigint unsigned long small", change.Column{Type: "bigint", Unsigned: true}, change.Value{Kind: change.KindUint, Uint: 42}, DebeziumOptions{}, `42`, "int64"},
		// 18446744073709551615 = 0x00 ff ff ff ff ff ff ff ff
		{"bigint unsigned precise", change.Column{Type: "bigint", Unsigned: true}, change.Value{Kind: change.KindUint, Uint: math.MaxUint64},
			DebeziumOptions{BigIntUnsignedHandling: "precise"}, `"AP//////////"`, "bytes org.apache.kafka.connect.data.Decimal"},
		// 1.50 -> unscaled 150 = 0x00 0x96
		{"decimal precise", change.Column{Type: "decimal", Precision: 10, Scale: 2}, text(change.KindDecimal, "1.50"), DebeziumOptions{}, `"AJY="`, "bytes org.apache.kafka.connect.data.Decimal"},
		{"decimal precise negative", change.Column{Type: "decimal", Precision: 10, Scale: 2}, text(change.KindDecimal, "-1.28"), DebeziumOptions{}, `"gA=="`, "bytes org.apache.kafka.connect.data.Decimal"},
		{"decimal precise -1.29", change.Column{Type: "decimal", Precision: 10, Scale: 2}, text(change.KindDecimal, "-1.29"), DebeziumOptions{}, `"/38="`, "bytes org.apache.kafka.connect.data.Decimal"},
		{"decimal precise zero", change.Column{Type: "decimal", Precision: 10, Scale: 2}, text(change.KindDecimal, "0.00"), DebeziumOptions{}, `"AA=="`, "bytes org.apache.kafka.connect.data.Decimal"},
		{"decimal double", change.Column{Type: "decimal", Precision: 10, Scale: 2}, text(change.KindDecimal, "1.50"), DebeziumOptions{DecimalHandling: "double"}, `1.5`, "double"},
		{"decimal string", change.Column{Type: "decimal", Precision: 10, Scale: 2}, text(change.KindDecimal, "1.50"), DebeziumOptions{DecimalHandling: "string"}, `"1.50"`, "string"},
		{"float", change.Column{Type: "float"}, change.Value{Kind: change.KindFloat, Float: float64(float32(0.1))}, DebeziumOptions{}, `0.1`, "float"},
		{"double", change.Column{Type: "double"}, change.Value{Kind: change.KindDouble, Float: 0.1}, DebeziumOptions{}, `0.1`, "double"},
		{"bit(1)", change.Column{Type: "bit", Length: 1}, change.Value{Kind: change.KindBit, Uint: 1}, DebeziumOptions{}, `true`, "boolean"},
		// BIT(10) b'1000000001' = 513: little-endian 01 02
		{"bit(10)", change.Column{Type: "bit", Length: 10}, change.Value{Kind: change.KindBit, Uint: 513}, DebeziumOptions{}, `"AQI="`, "bytes io.debezium.data.Bits"},
		{"bit(16) padded", change.Column{Type: "bit", Length: 16}, change.Value{Kind: change.KindBit, Uint: 1}, DebeziumOptions{}, `"AQA="`, "bytes io.debezium.data.Bits"},
		{"year", change.Column{Type: "year"}, change.Value{Kind: change.KindYear, Int: 2024}, DebeziumOptions{}, `2024`, "int32 io.debezium.time.Year"},
		{"date", change.Column{Type: "date"}, text(change.KindDate, "2018-06-20"), DebeziumOptions{}, `17702`, "int32 io.debezium.time.Date"},
		{"date before epoch", change.Column{Type: "date"}, text(change.KindDate, "1969-12-31"), DebeziumOptions{}, `-1`, "int32 io.debezium.time.Date"},
		{"date connect", change.Column{Type: "date"}, text(change.KindDate, "2018-06-20"), DebeziumOptions{TimePrecision: "connect"}, `17702`, "int32 org.apache.kafka.connect.data.Date"},
		{"zero date nullable", change.Column{Type: "date", Nullable: true}, text(change.KindDate, "0000-00-00"), DebeziumOptions{}, `null`, "int32 io.debezium.time.Date"},
		{"zero date not null", change.Column{Type: "date"}, text(change.KindDate, "2020-00-10"), DebeziumOptions{}, `0`, "int32 io.debezium.time.Date"},
		{"time", change.Column{Type: "time", Scale: 6}, text(change.KindTime, "-838:59:59.000000"), DebeziumOptions{}, `-3020399000000`, "int64 io.debezium.time.MicroTime"},
		{"time(2)", change.Column{Type: "time", Scale: 2}, text(change.KindTime, "10:15:30.25"), DebeziumOptions{}, `36930250000`, "int64 io.debezium.time.MicroTime"},
		{"time connect", change.Column{Type: "time", Scale: 2}, text(change.KindTime, "10:15:30.25"), DebeziumOptions{TimePrecision: "connect"}, `36930250`, "int32 org.apache.kafka.connect.data.Time"},
		// The documentation's example: DATETIME 2018-06-20 06:37:03 becomes 1529476623000.
		{"datetime", change.Column{Type: "datetime"}, text(change.KindDateTime, "2018-06-20 06:37:03"), DebeziumOptions{}, `1529476623000`, "int64 io.debezium.time.Timestamp"},
		{"datetime(3)", change.Column{Type: "datetime", Scale: 3}, text(change.KindDateTime, "2018-06-20 06:37:03.123"), DebeziumOptions{}, `1529476623123`, "int64 io.debezium.time.Timestamp"},
		{"datetime(6)", change.Column{Type: "datetime", Scale: 6}, text(change.KindDateTime, "2018-06-20 06:37:03.123456"), DebeziumOptions{}, `1529476623123456`, "int64 io.debezium.time.MicroTimestamp"},
		{"datetime(6) connect", change.Column{Type: "datetime", Scale: 6}, text(change.KindDateTime, "2018-06-20 06:37:03.123456"), DebeziumOptions{TimePrecision: "connect"}, `1529476623123`, "int64 org.apache.kafka.connect.data.Timestamp"},
		{"datetime before epoch", change.Column{Type: "datetime", Scale: 6}, text(change.KindDateTime, "1969-12-31 23:59:59.500000"), DebeziumOptions{}, `-500000`, "int64 io.debezium.time.MicroTimestamp"},
		{"zero datetime not null", change.Column{Type: "datetime"}, text(change.KindDateTime, "0000-00-00 00:00:00"), DebeziumOptions{}, `0`, "int64 io.debezium.time.Timestamp"},
		// The documentation's example: TIMESTAMP 2018-06-20 13:37:03 UTC becomes "2018-06-20T13:37:03Z".
		{"timestamp", change.Column{Type: "timestamp"}, change.Value{Kind: change.KindTimestamp, Int: ts.Unix(), Uint: uint64(ts.Unix()) * 1000000, Text: []byte("2018-06-20 15:37:03")},
			DebeziumOptions{}, `"2018-06-20T13:37:03Z"`, "string io.debezium.time.ZonedTimestamp"},
		{"timestamp(3)", change.Column{Type: "timestamp", Scale: 3}, change.Value{Kind: change.KindTimestamp, Int: ts.Unix(), Uint: uint64(ts.UnixMicro()), Text: []byte("x")},
			DebeziumOptions{}, `"2018-06-20T13:37:03.120Z"`, "string io.debezium.time.ZonedTimestamp"},
		{"timestamp from text", change.Column{Type: "timestamp", Scale: 6}, text(change.KindTimestamp, "2018-06-20 13:37:03.000001"),
			DebeziumOptions{}, `"2018-06-20T13:37:03.000001Z"`, "string io.debezium.time.ZonedTimestamp"},
		{"zero timestamp not null", change.Column{Type: "timestamp"}, text(change.KindTimestamp, "0000-00-00 00:00:00"), DebeziumOptions{}, `"1970-01-01T00:00:00Z"`, "string io.debezium.time.ZonedTimestamp"},
		{"zero timestamp nullable", change.Column{Type: "timestamp", Nullable: true}, text(change.KindTimestamp, "0000-00-00 00:00:00"), DebeziumOptions{}, `null`, "string io.debezium.time.ZonedTimestamp"},
		{"varchar", change.Column{Type: "varchar"}, text(change.KindString, "é\"x"), DebeziumOptions{}, `"é\"x"`, "string"},
		{"binary bytes", change.Column{Type: "binary", Length: 4}, text(change.KindBytes, "\x00\xab\x10\x00"), DebeziumOptions{}, `"AKsQAA=="`, "bytes"},
		{"binary base64", change.Column{Type: "varbinary"}, text(change.KindBytes, "\xfb\xff"), DebeziumOptions{BinaryHandling: "base64"}, `"+/8="`, "string"},
		{"binary base64-url-safe", change.Column{Type: "blob"}, text(change.KindBytes, "\xfb\xff"), DebeziumOptions{BinaryHandling: "base64-url-safe"}, `"-_8="`, "string"},
		{"binary hex", change.Column{Type: "blob"}, text(change.KindBytes, "\xfb\xff"), DebeziumOptions{BinaryHandling: "hex"}, `"fbff"`, "string"},
		{"enum", change.Column{Type: "enum", Members: []string{"a", "b"}}, text(change.KindEnum, "b"), DebeziumOptions{}, `"b"`, "string io.debezium.data.Enum"},
		{"set", change.Column{Type: "set", Members: []string{"a", "b"}}, text(change.KindSet, "a,b"), DebeziumOptions{}, `"a,b"`, "string io.debezium.data.EnumSet"},
		{"json", change.Column{Type: "json"}, text(change.KindJSON, `{"k": [1, 2]}`), DebeziumOptions{}, `"{\"k\": [1, 2]}"`, "string io.debezium.data.Json"},
		{"uuid", change.Column{Type: "uuid"}, text(change.KindUUID, "123e4567-e89b-12d3-a456-426655440000"), DebeziumOptions{}, `"123e4567-e89b-12d3-a456-426655440000"`, "string"},
		// POINT(1 2) with SRID 4326: WKB 01 01000000 000000000000f03f 0000000000000040
		{"geometry", change.Column{Type: "geometry"}, change.Value{Kind: change.KindGeometry, Int: 4326, Text: []byte("POINT(1 2)")}, DebeziumOptions{},
			`{"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":4326}`, "struct io.debezium.data.geometry.Geometry"},
		{"point", change.Column{Type: "point"}, change.Value{Kind: change.KindGeometry, Text: []byte("POINT(1 2)")}, DebeziumOptions{},
			`{"x":1,"y":2,"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":null}`, "struct io.debezium.data.geometry.Point"},
		{"null", change.Column{Type: "int", Nullable: true}, change.Value{Kind: change.KindNull}, DebeziumOptions{}, `null`, "int32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := mustDebezium(t, c.opts)
			c.col.Name = "c"
			got := string(d.appendValue(nil, &c.col, &c.v))
			if got != c.want {
				t.Errorf("value %s, want %s", got, c.want)
			}
			var s map[string]any
			if err := json.Unmarshal(d.appendColumnSchema(nil, &c.col, c.col.Nullable), &s); err != nil {
				t.Fatalf("schema is not JSON: %v", err)
			}
			gotSchema := s["type"].(string)
			if n, ok := s["name"].(string); ok {
				gotSchema += " " + n
			}
			if gotSchema != c.schema {
				t.Errorf("schema %s, want %s", gotSchema, c.schema)
			}
			if s["optional"] != c.col.Nullable || s["field"] != "c" {
				t.Errorf("schema optional/field: %v", s)
			}
		})
	}
}

func TestDebeziumSchemaParameters(t *testing.T) {
	d := mustDebezium(t, DebeziumOptions{})
	cases := []struct {
		col  change.Column
		want map[string]any
	}{
		{change.Column{Name: "p", Type: "decimal", Precision: 10, Scale: 2}, map[string]any{"scale": "2", "connect.decimal.precision": "10"}},
		{change.Column{Name: "b", Type: "bit", Length: 10}, map[string]any{"length": "10"}},
		{change.Column{Name: "e", Type: "enum", Members: []string{"x", "y,z"}}, map[string]any{"allowed": "x,y,z"}},
	}
	for _, c := range cases {
		var s map[string]any
		if err := json.Unmarshal(d.appendColumnSchema(nil, &c.col, true), &s); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s["parameters"], c.want) {
			t.Errorf("%s: parameters %v, want %v", c.col.Type, s["parameters"], c.want)
		}
	}
}

func TestDebeziumDecimalBytes(t *testing.T) {
	cases := map[string]string{
		"0":                               "00",
		"1":                               "01",
		"127":                             "7f",
		"128":                             "0080",
		"-1":                              "ff",
		"-128":                            "80",
		"-129":                            "ff7f",
		"-0.01":                           "ff",
		"999999999999999999":              "0de0b6b3a763ffff",
		"-999999999999999999":             "f21f494c589c0001",
		"32767":                           "7fff",
		"32768":                           "008000",
		"-32768":                          "8000",
		"-32769":                          "ff7fff",
		"12345678901234567890.123456789":  "27e41b3246bec9b16e398115",
		"-12345678901234567890.123456789": "d81be4cdb941364e91c67eeb",
	}
	for in, want := range cases {
		var small [8]byte
		if got := hex.EncodeToString(unscaledDecimal(&small, []byte(in))); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestDebeziumPrimaryKeyChangeAndTombstones(t *testing.T) {
	tbl := customersTable()
	tx := &change.Tx{GTID: "0-1-7", ServerID: 1, File: "mysql-bin.000001", Pos: 300, Timestamp: 1700000000}
	for _, tombstones := range []bool{true, false} {
		d := mustDebezium(t, DebeziumOptions{Tombstones: tombstones})
		_, out := d.AppendMessages(nil, nil, &change.Event{Op: change.OpUpdate, Table: tbl, Tx: tx, EventNumber: 3,
			Before: customerRow(1004, "Anne"), After: customerRow(2004, "Anne")})
		var got []string
		for _, m := range out {
			op := "tombstone"
			if m.Value != nil {
				op = decode(t, m.Value)["op"].(string)
			}
			got = append(got, op+" "+string(m.Key))
		}
		want := []string{`d {"id":1004}`, `tombstone {"id":1004}`, `c {"id":2004}`}
		if !tombstones {
			want = []string{`d {"id":1004}`, `c {"id":2004}`}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tombstones=%v: %v, want %v", tombstones, got, want)
		}
		del := decode(t, out[0].Value)
		if del["after"] != nil || del["before"].(map[string]any)["id"] != 1004.0 {
			t.Errorf("delete half: %v", del)
		}
		src := del["source"].(map[string]any)
		if src["connector"] != "mariadb" || src["gtid"] != "0-1-7" || src["row"] != 2.0 || src["name"] != "bintap" {
			t.Errorf("source: %v", src)
		}
		// Lines carry no keys and no tombstones.
		lines := strings.Split(strings.TrimSuffix(string(d.Append(nil, &change.Event{Op: change.OpDelete, Table: tbl, Tx: tx, EventNumber: 5,
			Before: customerRow(2004, "Anne")})), "\n"), "\n")
		if len(lines) != 1 || decode(t, []byte(lines[0]))["op"] != "d" {
			t.Errorf("delete as lines: %q", lines)
		}
	}
	// An update that keeps the key is one "u".
	d := mustDebezium(t, DebeziumOptions{Tombstones: true})
	_, out := d.AppendMessages(nil, nil, &change.Event{Op: change.OpUpdate, Table: tbl, Tx: tx, EventNumber: 1,
		Before: customerRow(1004, "Anne"), After: customerRow(1004, "Anna")})
	if len(out) != 1 || decode(t, out[0].Value)["op"] != "u" || string(out[0].Key) != `{"id":1004}` {
		t.Errorf("update keeping the key: %d messages", len(out))
	}
	// No primary key: null keys, the tombstone too.
	nopk := customersTable()
	nopk.PrimaryKey = nil
	_, out = d.AppendMessages(nil, nil, &change.Event{Op: change.OpDelete, Table: nopk, Tx: tx, EventNumber: 1, Before: customerRow(1, "x")})
	if len(out) != 2 || !out[0].NullKey || out[0].Key != nil || !out[1].NullKey || out[1].Value != nil {
		t.Errorf("no primary key: %+v", out)
	}
}

func TestDebeziumTransactionMetadata(t *testing.T) {
	customers := customersTable()
	orders := &change.Table{Schema: "inventory", Name: "orders", PrimaryKey: []int{0}, Columns: []change.Column{{Name: "id", Type: "int"}}}
	tx1 := &change.Tx{GTID: "0-1-7", File: "mysql-bin.000001", Pos: 300, Timestamp: 1700000000}
	tx2 := &change.Tx{File: "mysql-bin.000001", Pos: 900, Timestamp: 1700000001}
	d := mustDebezium(t, DebeziumOptions{TransactionMetadata: true, Schemas: false})
	var buf []byte
	var out []Message
	buf, out = d.AppendMessages(buf, out, &change.Event{Op: change.OpInsert, Table: customers, Tx: tx1, EventNumber: 1, After: customerRow(1, "a")})
	buf, out = d.AppendMessages(buf, out, &change.Event{Op: change.OpInsert, Table: orders, Tx: tx1, EventNumber: 2, After: []change.Value{{Kind: change.KindInt, Int: 9}}})
	buf, out = d.AppendMessages(buf, out, &change.Event{Op: change.OpUpdate, Table: customers, Tx: tx1, EventNumber: 3,
		Before: customerRow(1, "a"), After: customerRow(2, "a")}) // key change: d + c
	buf, out = d.AppendMessages(buf, out, &change.Event{Op: change.OpInsert, Table: orders, Tx: tx2, EventNumber: 1, After: []change.Value{{Kind: change.KindInt, Int: 10}}})
	_, out = d.EndTransaction(buf, out)
	var got []string
	for _, m := range out {
		if m.Kind == MessageTransaction {
			v := decode(t, m.Value)
			s := v["status"].(string) + " " + string(m.Key)
			if v["status"] == "END" {
				b, _ := json.Marshal(v["data_collections"])
				s += " " + string(b)
				if v["event_count"] == nil {
					t.Errorf("END without event_count")
				}
			}
			got = append(got, s)
			continue
		}
		if m.Value == nil {
			got = append(got, "tombstone")
			continue
		}
		b, _ := json.Marshal(decode(t, m.Value)["transaction"])
		got = append(got, string(b))
	}
	want := []string{
		`BEGIN {"id":"0-1-7"}`,
		`{"data_collection_order":1,"id":"0-1-7","total_order":1}`,
		`{"data_collection_order":1,"id":"0-1-7","total_order":2}`,
		`{"data_collection_order":2,"id":"0-1-7","total_order":3}`,
		`{"data_collection_order":3,"id":"0-1-7","total_order":4}`,
		`END {"id":"0-1-7"} [{"data_collection":"inventory.customers","event_count":3},{"data_collection":"inventory.orders","event_count":1}]`,
		`BEGIN {"id":"file=mysql-bin.000001,pos=900"}`,
		`{"data_collection_order":1,"id":"file=mysql-bin.000001,pos=900","total_order":1}`,
		`END {"id":"file=mysql-bin.000001,pos=900"} [{"data_collection":"inventory.orders","event_count":1}]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("messages:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A second EndTransaction has nothing to close.
	if _, more := d.EndTransaction(nil, nil); len(more) != 0 {
		t.Errorf("EndTransaction twice wrote %d messages", len(more))
	}
	// Exact BEGIN value as Debezium's TransactionStructMaker builds it.
	d = mustDebezium(t, DebeziumOptions{TransactionMetadata: true})
	_, out = d.AppendMessages(nil, nil, &change.Event{Op: change.OpInsert, Table: orders, Tx: tx1, EventNumber: 1, After: []change.Value{{Kind: change.KindInt, Int: 1}}})
	if w := `{"status":"BEGIN","id":"0-1-7","event_count":null,"data_collections":null,"ts_ms":1700000000000}`; string(out[0].Value) != w {
		t.Errorf("BEGIN %s, want %s", out[0].Value, w)
	}
}

// TestDebeziumSchemasEnabled checks that with schemas every message is a
// {"schema","payload"} pair whose schema describes its payload.
func TestDebeziumSchemasEnabled(t *testing.T) {
	tbl := &change.Table{Schema: "db", Name: "all", PrimaryKey: []int{0, 1}, Columns: []change.Column{
		{Name: "id", Type: "bigint", Unsigned: true},
		{Name: "k", Type: "varchar"},
		{Name: "d", Type: "decimal", Precision: 5, Scale: 1, Nullable: true},
		{Name: "g", Type: "geometry", Nullable: true},
		{Name: "t", Type: "timestamp", Scale: 6, Nullable: true},
	}}
	row := []change.Value{{Kind: change.KindUint, Uint: 7}, {Kind: change.KindString, Text: []byte("x")},
		{Kind: change.KindDecimal, Text: []byte("-1.5")}, {Kind: change.KindGeometry, Text: []byte("LINESTRING(0 0,1 1)")}, {Kind: change.KindNull}}
	d := mustDebezium(t, DebeziumOptions{Schemas: true, TransactionMetadata: true, Tombstones: true, BigIntUnsignedHandling: "precise"})
	buf, out := d.AppendMessages(nil, nil, &change.Event{Op: change.OpDelete, Table: tbl, EventNumber: 1, Before: row,
		Tx: &change.Tx{GTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:23", File: "binlog.000002", Pos: 4}})
	_, out = d.EndTransaction(buf, out)
	if len(out) != 4 { // BEGIN, delete, tombstone, END
		t.Fatalf("%d messages", len(out))
	}
	for i, m := range out {
		for _, part := range [][]byte{m.Key, m.Value} {
			if part == nil {
				continue
			}
			v := decode(t, part)
			if v["schema"] == nil || len(v) != 2 {
				t.Errorf("message %d: not a schema/payload pair: %s", i, part)
				continue
			}
			assertSchemaMatchesPayload(t, "", v["schema"], v["payload"])
		}
	}
	val := decode(t, out[1].Value)
	src := val["payload"].(map[string]any)["source"].(map[string]any)
	if src["connector"] != "mysql" {
		t.Errorf("connector %v for a MySQL GTID", src["connector"])
	}
	key := decode(t, out[1].Key)
	if b, _ := json.Marshal(key["payload"]); string(b) != `{"id":"Bw==","k":"x"}` {
		t.Errorf("key payload %s", b)
	}
}

func TestWKTToWKB(t *testing.T) {
	le := func(parts ...string) string { return strings.Join(parts, "") }
	f := func(x float64) string {
		b := make([]byte, 8)
		u := math.Float64bits(x)
		for i := range b {
			b[i] = byte(u >> (8 * i))
		}
		return hex.EncodeToString(b)
	}
	pt := func(x, y float64) string { return f(x) + f(y) }
	cases := map[string]string{
		"POINT(1 2)":                 le("0101000000", pt(1, 2)),
		"POINT(-0.1 1e21)":           le("0101000000", pt(-0.1, 1e21)),
		"LINESTRING(0 0,1 1)":        le("0102000000", "02000000", pt(0, 0), pt(1, 1)),
		"POLYGON((0 0,1 0,0 1,0 0))": le("0103000000", "01000000", "04000000", pt(0, 0), pt(1, 0), pt(0, 1), pt(0, 0)),
		"MULTIPOINT(1 2,3 4)":        le("0104000000", "02000000", "0101000000", pt(1, 2), "0101000000", pt(3, 4)),
		"MULTIPOINT((1 2),(3 4))":    le("0104000000", "02000000", "0101000000", pt(1, 2), "0101000000", pt(3, 4)),
		"MULTILINESTRING((0 0,1 1))": le("0105000000", "01000000", "0102000000", "02000000", pt(0, 0), pt(1, 1)),
		"MULTIPOLYGON(((0 0,1 0,0 1,0 0)))": le("0106000000", "01000000", "0103000000", "01000000", "04000000",
			pt(0, 0), pt(1, 0), pt(0, 1), pt(0, 0)),
		"GEOMETRYCOLLECTION(POINT(1 2),LINESTRING(0 0,1 1))": le("0107000000", "02000000", "0101000000", pt(1, 2), "0102000000", "02000000", pt(0, 0), pt(1, 1)),
		"GEOMETRYCOLLECTION EMPTY":                           le("0107000000", "00000000"),
	}
	for wkt, want := range cases {
		got, err := wktToWKB(nil, []byte(wkt))
		if err != nil || hex.EncodeToString(got) != want {
			t.Errorf("%s: %x %v\nwant %s", wkt, got, err, want)
		}
	}
	for _, bad := range []string{"", "POINT(1)", "POINT(1 2", "CIRCLE(1 2)", "POINT(1 2) x", "LINESTRING(a b)"} {
		if _, err := wktToWKB(nil, []byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestNewDebeziumRejectsUnknownModes(t *testing.T) {
	for _, o := range []DebeziumOptions{{DecimalHandling: "float"}, {BinaryHandling: "b64"}, {BigIntUnsignedHandling: "exact"},
		{TimePrecision: "adaptive"}, {Connector: "postgres"}} {
		if _, err := NewDebezium(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// base64 of the documented update's key schema stays stable: a quick guard
// that JSON keys and base64 helpers agree with the standard library.
func TestAppendBytesJSON(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {0xff, 0xfe}, []byte("hello world")} {
		var s string
		if err := json.Unmarshal(appendBytesJSON(nil, b), &s); err != nil || s != base64.StdEncoding.EncodeToString(b) {
			t.Errorf("%x: %q %v", b, s, err)
		}
	}
}

// BenchmarkDebezium encodes rows shaped like `make bench`'s table.
func BenchmarkDebezium(b *testing.B) {
	tbl := &change.Table{Schema: "bench", Name: "t", PrimaryKey: []int{0}, Columns: []change.Column{
		{Name: "id", Type: "bigint"}, {Name: "n", Type: "int", Nullable: true}, {Name: "s", Type: "varchar", Nullable: true},
		{Name: "d", Type: "decimal", Precision: 12, Scale: 2, Nullable: true}, {Name: "t", Type: "datetime", Scale: 6, Nullable: true},
		{Name: "f", Type: "double", Nullable: true}, {Name: "x", Type: "text", Nullable: true}, {Name: "j", Type: "json", Nullable: true},
	}}
	row := []change.Value{{Kind: change.KindInt, Int: 123456}, {Kind: change.KindInt, Int: 42}, {Kind: change.KindString, Text: []byte("name-123456")},
		{Kind: change.KindDecimal, Text: []byte("12345.67")}, {Kind: change.KindDateTime, Text: []byte("2026-11-21 12:34:56.123456")},
		{Kind: change.KindDouble, Float: 3.14159}, {Kind: change.KindString, Text: []byte(strings.Repeat("lorem ipsum ", 10))},
		{Kind: change.KindJSON, Text: []byte(`{"a": 1, "b": [1, 2, 3]}`)}}
	tx := &change.Tx{GTID: "0-1-42", ServerID: 1, File: "mysql-bin.000001", Pos: 4, Timestamp: 1763719200}
	for _, schemas := range []bool{false, true} {
		b.Run(map[bool]string{false: "payload", true: "schemas"}[schemas], func(b *testing.B) {
			d := mustDebezium(b, DebeziumOptions{Schemas: schemas, Tombstones: true})
			ev := &change.Event{Op: change.OpInsert, Table: tbl, Tx: tx, EventNumber: 1, After: row}
			var buf []byte
			var out []Message
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				buf, out = d.AppendMessages(buf[:0], out[:0], ev)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func TestDebeziumSnapshotReadAndIgnoredEvents(t *testing.T) {
	tbl := customersTable()
	d := mustDebezium(t, DebeziumOptions{TransactionMetadata: true})
	tx := &change.Tx{File: "mysql-bin.000002", Pos: 4}
	_, out := d.AppendMessages(nil, nil, &change.Event{Op: change.OpRead, Snapshot: true, Table: tbl, Tx: tx, EventNumber: 1, After: customerRow(7, "x")})
	var data []map[string]any
	for _, m := range out {
		if m.Kind == MessageData {
			data = append(data, decode(t, m.Value))
		}
	}
	if len(data) != 1 || data[0]["op"] != "r" || data[0]["before"] != nil || obj(data[0]["source"])["snapshot"] != "true" {
		t.Errorf("snapshot read: %v", data)
	}
	// Schema changes and heartbeats are no Debezium records.
	for _, op := range []change.Op{change.OpSchema, change.OpHeartbeat} {
		if _, out := d.AppendMessages(nil, nil, &change.Event{Op: op, Table: tbl, Tx: tx}); len(out) != 0 {
			t.Errorf("%v: %d messages", op, len(out))
		}
	}
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
