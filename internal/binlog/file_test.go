package binlog

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/bintap/bintap/internal/change"
)

// defFromTypes is a definition for a table without FULL metadata: the types
// the TABLE_MAP tells, signed, utf8mb4, ENUM/SET members named m1, m2, ...
func defFromTypes(tm *replication.TableMapEvent) *change.Table {
	t := &change.Table{Schema: string(tm.Schema), Name: string(tm.Table)}
	var placeholder []string
	for i := 1; i <= 64; i++ {
		placeholder = append(placeholder, fmt.Sprintf("m%d", i))
	}
	for i, tp := range tm.ColumnType {
		c := change.Column{Name: fmt.Sprintf("c%d", i+1), Charset: "utf8mb4"}
		if tp == mysql.MYSQL_TYPE_STRING {
			if rt, _ := stringRealType(tm.ColumnMeta[i]); rt != mysql.MYSQL_TYPE_STRING {
				c.Members = placeholder
			}
		}
		t.Columns = append(t.Columns, c)
	}
	return t
}

type fileRow struct {
	eventType replication.EventType
	before    []string
	after     []string
}

// parseFile decodes every rows event of a MySQL binlog file, including those
// inside TRANSACTION_PAYLOAD events. def gives the definition of a table.
func parseFile(t *testing.T, name string, def func(*replication.TableMapEvent) *change.Table) ([]fileRow, []error) {
	t.Helper()
	p := replication.NewBinlogParser()
	p.SetRowsEventDecodeFunc(HeaderOnly)
	// go-mysql's checksum check rejects the FORMAT_DESCRIPTION of a binlog
	// that was not closed; VerifyCRC32 checks every event instead.
	p.SetVerifyChecksum(false)
	p.SetFlavor("mysql")
	decoders := map[uint64]*TableDecoder{}
	var rows []fileRow
	var errs []error
	var handle func(ev *replication.BinlogEvent) error
	handle = func(ev *replication.BinlogEvent) error {
		switch e := ev.Event.(type) {
		case *replication.TransactionPayloadEvent:
			for _, inner := range e.Events {
				if err := handle(inner); err != nil {
					return err
				}
			}
		case *replication.TableMapEvent:
			dec, err := NewTableDecoder(e, def(e), Options{})
			if err != nil {
				return err
			}
			decoders[e.TableID] = dec
		case *replication.RowsEvent:
			dec := decoders[e.TableID]
			if dec == nil {
				return fmt.Errorf("rows event for unknown table %d", e.TableID)
			}
			err := dec.DecodeRows(ev.Header.EventType, e, func(before, after []change.Value) error {
				rows = append(rows, fileRow{eventType: ev.Header.EventType, before: renderRow(before), after: renderRow(after)})
				return nil
			})
			if err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	}
	data, err := os.ReadFile(filepath.Join(testdataDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	if string(data[:4]) != "\xfebin" {
		t.Fatalf("%s: not a binlog file", name)
	}
	crc := false
	for pos := 4; pos < len(data); {
		size := int(binary.LittleEndian.Uint32(data[pos+9:]))
		raw := data[pos : pos+size]
		if replication.EventType(raw[4]) == replication.FORMAT_DESCRIPTION_EVENT {
			crc = raw[len(raw)-5] == 1 // checksum_alg before the CRC
		}
		if crc {
			if err := VerifyCRC32(raw); err != nil {
				t.Fatalf("%s at %d: %v", name, pos, err)
			}
		}
		ev, err := p.Parse(raw)
		if err != nil {
			t.Fatalf("parse %s at %d: %v", name, pos, err)
		}
		if err := handle(ev); err != nil {
			t.Fatalf("%s at %d: %v", name, pos, err)
		}
		pos += size
	}
	return rows, errs
}

func metaOrTypes(tm *replication.TableMapEvent) *change.Table {
	if d := TableFromMetadata(tm); d != nil {
		return d
	}
	return defFromTypes(tm)
}

func joined(r []string) string { return strings.Join(r, "|") }

func TestFileJSON(t *testing.T) {
	def := func(tm *replication.TableMapEvent) *change.Table {
		return &change.Table{Schema: "mysql", Name: "t", Columns: []change.Column{
			{Name: "id", Type: "int"}, {Name: "json_col", Type: "json"},
			{Name: "name", Type: "varchar", Charset: "utf8mb4"}, {Name: "age", Type: "int"}}}
	}
	rows, errs := parseFile(t, "json.binlog.000001", def)
	people := []struct {
		age        int
		data, name string
	}{{24, "xxxxxxxxxx", "Joe"}, {32, "yyyyyyyyyy", "Sue"}, {40, "zzzzzzzzzz", "Pete"}}
	var want []string
	for id := 1; id <= 6; id++ {
		p := people[(id-1)%3]
		want = append(want, fmt.Sprintf(`%d|{"age": %d, "data": "%s", "name": "%s"}|%s|%d`, id, p.age, p.data, p.name, p.name, p.age))
	}
	var writes, updates []string
	for _, r := range rows {
		switch r.eventType {
		case replication.WRITE_ROWS_EVENTv2:
			writes = append(writes, joined(r.after))
		case replication.UPDATE_ROWS_EVENTv2:
			updates = append(updates, joined(r.before)+" -> "+joined(r.after))
		}
	}
	if strings.Join(writes, "\n") != strings.Join(want, "\n") {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(writes, "\n"), strings.Join(want, "\n"))
	}
	if len(updates) != 6 {
		t.Fatalf("%d update rows, want 6", len(updates))
	}
	for i, u := range updates {
		p := people[i%3]
		w := fmt.Sprintf(`%s -> %d|{"age": %d, "data": "%s", "name": "%s"}|%s|%d`, want[i], i+1, p.age+1, p.data, p.name, p.name, p.age+1)
		if u != w {
			t.Errorf("update %d:\n%s\nwant\n%s", i+1, u, w)
		}
	}
	// The PARTIAL_UPDATE_ROWS event has a MINIMAL before image (the PK
	// only): the JSON diff cannot be applied, and that must be an error
	// naming the table and column, never a NULL.
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "mysql.t column 2 (json_col): partial JSON update") ||
		!strings.Contains(errs[0].Error(), "binlog_row_value_options") {
		t.Errorf("partial update errors: %v", errs)
	}
}

func TestFileJSONOpaque(t *testing.T) {
	rows, errs := parseFile(t, "json-opaque.binlog", metaOrTypes)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []string{
		`{"a": "base64:type15:VQ=="}`, `{"b": "2012-03-18"}`, `{"c": "2012-03-18 11:30:45.000000"}`,
		`{"c": "87:31:46.654321"}`, `{"d": 123.456}`, `{"e": 9.00}`, `{"e": [0, 1, true, false]}`, `{"e": null}`,
	}
	var got []string
	for _, r := range rows {
		got = append(got, joined(r.after))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestFileEnumStringSet(t *testing.T) {
	rows, errs := parseFile(t, "mysql-enum-string-set.000001", metaOrTypes)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	digits := strings.Repeat("0123456789", 30)
	// the 298-character VARCHAR(300) value of the upstream test
	long := digits[:129] + digits[:129] + digits[:40]
	ins := rows[0].after
	if ins[0] != digits[:100] || len(ins[1]) != 298 || ins[1] != long || ins[2] != "var1" || ins[3] != "one,three" || ins[4] != "0123456789" {
		t.Errorf("insert: %q", ins)
	}
	for _, img := range [][]string{rows[1].after, rows[2].before} {
		if img[0] != "field1" || img[1] != "field_2" || img[2] != "variant2" || img[3] != "two,four" || img[4] != long {
			t.Errorf("update after / delete before: %q", img)
		}
	}
	if joined(rows[1].before) != joined(ins) || rows[2].after != nil {
		t.Errorf("update before %q / delete after %q", rows[1].before, rows[2].after)
	}
}

func TestFileBit(t *testing.T) {
	rows, errs := parseFile(t, "mysql_type_bit.000001", metaOrTypes)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(rows) != 1 || joined(rows[0].after) != "4|foo|32" {
		t.Fatalf("rows %v, want a=4 b=foo c=32", rows)
	}
}

func TestFileNegativeTime(t *testing.T) {
	rows, errs := parseFile(t, "time_issue.000001", metaOrTypes)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(rows) != 1 || !strings.Contains(joined(rows[0].after), "-507:48:27") {
		t.Fatalf("rows %v, want -507:48:27", rows)
	}
}

func TestFileTransactionPayload(t *testing.T) {
	for _, tc := range []struct {
		file  string
		rows  int
		check func(t *testing.T, rows []fileRow)
	}{
		{"transaction_compression.000001", 1, func(t *testing.T, rows []fileRow) {
			if rows[0].eventType != replication.WRITE_ROWS_EVENTv2 || len(rows[0].after) != 1 {
				t.Errorf("row %+v", rows[0])
			}
		}},
		{"mysql-bin.compressed", -1, func(t *testing.T, rows []fileRow) {
			for _, r := range rows {
				if r.eventType != replication.UPDATE_ROWS_EVENTv2 || len(r.before) != 11 || len(r.after) != 11 {
					t.Errorf("row %+v", r)
				}
			}
		}},
		{"mysql-bin.000057", -1, func(t *testing.T, rows []fileRow) {
			var all []string
			for _, r := range rows {
				all = append(all, r.eventType.String()+" "+joined(r.before)+" -> "+joined(r.after))
			}
			s := strings.Join(all, "\n")
			for _, want := range []string{"WriteRowsEventV2  -> 1", "6666|product_item_value_2|", `{"c": 1}`, "product_3_value"} {
				if !strings.Contains(s, want) {
					t.Errorf("missing %q in\n%s", want, s)
				}
			}
		}},
		{"binlog-invisible-columns.000001", 3, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rows, errs := parseFile(t, tc.file, metaOrTypes)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if len(rows) == 0 || (tc.rows >= 0 && len(rows) != tc.rows) {
				t.Fatalf("%d rows, want %d", len(rows), tc.rows)
			}
			if tc.check != nil {
				tc.check(t, rows)
			}
		})
	}
}
