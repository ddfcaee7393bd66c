package format

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bintap/bintap/internal/change"
)

func TestAppendValue(t *testing.T) {
	cases := []struct {
		v    change.Value
		bin  BinaryEncoding
		want string
	}{
		{change.Value{Kind: change.KindNull}, BinaryHex, `null`},
		{change.Value{Kind: change.KindInt, Int: math.MinInt64}, BinaryHex, `-9223372036854775808`},
		{change.Value{Kind: change.KindUint, Uint: math.MaxUint64}, BinaryHex, `18446744073709551615`},
		{change.Value{Kind: change.KindFloat, Float: float64(float32(0.1))}, BinaryHex, `0.1`},
		{change.Value{Kind: change.KindDouble, Float: 0.1}, BinaryHex, `0.1`},
		{change.Value{Kind: change.KindDouble, Float: 1e21}, BinaryHex, `1e+21`},
		{change.Value{Kind: change.KindDouble, Float: 1e-7}, BinaryHex, `1e-7`},
		{change.Value{Kind: change.KindDouble, Float: 100000000}, BinaryHex, `100000000`},
		{change.Value{Kind: change.KindDecimal, Text: []byte("-0.000001")}, BinaryHex, `-0.000001`},
		{change.Value{Kind: change.KindString, Text: []byte("a\"b\\c\n\x01é😀")}, BinaryHex, `"a\"b\\c\n\u0001é😀"`},
		{change.Value{Kind: change.KindString, Text: []byte{'a', 0xff, 'b'}}, BinaryHex, `"a\ufffdb"`},
		{change.Value{Kind: change.KindBytes, Text: []byte{0x00, 0xAB, 0x10}}, BinaryHex, `"00ab10"`},
		{change.Value{Kind: change.KindBytes, Text: []byte{0x00, 0xAB, 0x10}}, BinaryBase64, `"AKsQ"`},
		{change.Value{Kind: change.KindBit, Uint: 5}, BinaryHex, `5`},
		{change.Value{Kind: change.KindDate, Text: []byte("0000-00-00")}, BinaryHex, `"0000-00-00"`},
	}
	for _, c := range cases {
		got := string(appendValue(nil, &c.v, c.bin))
		if got != c.want {
			t.Errorf("%+v: got %s want %s", c.v, got, c.want)
		}
		var x any
		if err := json.Unmarshal([]byte(got), &x); err != nil {
			t.Errorf("%s is not valid JSON: %v", got, err)
		}
	}
}

func TestMaxScaleRecords(t *testing.T) {
	tbl := &change.Table{Schema: "test", Name: "t1", Version: 2, GTID: "0-1-5", Columns: []change.Column{
		{Name: "id", Type: "int", Length: -1},
		{Name: "price", Type: "decimal", Precision: 10, Scale: 2, Length: -1},
	}}
	tx := &change.Tx{GTID: "0-3000-20", Domain: 0, ServerID: 3000, Sequence: 20, Timestamp: 1580485945}
	enc := NewMaxScale("hex", true)
	var out []byte
	out = enc.Append(out, &change.Event{Op: change.OpInsert, Table: tbl, Tx: tx, EventNumber: 1,
		After: []change.Value{{Kind: change.KindInt, Int: 1}, {Kind: change.KindDecimal, Text: []byte("1.50")}}})
	out = enc.Append(out, &change.Event{Op: change.OpUpdate, Table: tbl, Tx: tx, EventNumber: 2,
		Before: []change.Value{{Kind: change.KindInt, Int: 1}, {Kind: change.KindDecimal, Text: []byte("1.50")}},
		After:  []change.Value{{Kind: change.KindInt, Int: 1}, {Kind: change.KindNull}}})
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("want schema + insert + update_before + update_after, got %d lines:\n%s", len(lines), out)
	}
	want := []string{
		`{"domain":0,"server_id":3000,"sequence":20,"event_number":1,"timestamp":1580485945,"event_type":"insert","table_schema":"test","table_name":"t1","id":1,"price":1.50}`,
		`{"domain":0,"server_id":3000,"sequence":20,"event_number":2,"timestamp":1580485945,"event_type":"update_before","table_schema":"test","table_name":"t1","id":1,"price":1.50}`,
		`{"domain":0,"server_id":3000,"sequence":20,"event_number":3,"timestamp":1580485945,"event_type":"update_after","table_schema":"test","table_name":"t1","id":1,"price":null}`,
	}
	for i, w := range want {
		if lines[i+1] != w {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, lines[i+1], w)
		}
	}
	var schema struct {
		Namespace string `json:"namespace"`
		Table     string `json:"table"`
		Database  string `json:"database"`
		Version   int    `json:"version"`
		GTID      string `json:"gtid"`
		Fields    []struct {
			Name     string `json:"name"`
			RealType string `json:"real_type"`
			Length   *int   `json:"length"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Namespace != "MaxScaleChangeDataSchema.avro" || schema.Table != "t1" || schema.Database != "test" || schema.Version != 2 || schema.GTID != "0-1-5" {
		t.Errorf("schema record: %+v", schema)
	}
	if len(schema.Fields) != 8 || schema.Fields[6].Name != "id" || schema.Fields[7].RealType != "decimal" {
		t.Errorf("schema fields: %+v", schema.Fields)
	}
	// The schema record is written once per table version.
	again := enc.Append(nil, &change.Event{Op: change.OpDelete, Table: tbl, Tx: tx, EventNumber: 4, Before: []change.Value{{Kind: change.KindInt, Int: 1}, {Kind: change.KindNull}}})
	if strings.Count(string(again), "\n") != 1 {
		t.Errorf("schema record repeated: %s", again)
	}
}

func TestMySQLGTIDField(t *testing.T) {
	tbl := &change.Table{Schema: "d", Name: "t", Columns: []change.Column{{Name: "a", Type: "int"}}}
	tx := &change.Tx{GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:23", Sequence: 23, ServerID: 1}
	out := string(NewMaxScale("hex", false).Append(nil, &change.Event{Op: change.OpDelete, Table: tbl, Tx: tx, EventNumber: 1, Before: []change.Value{{Kind: change.KindInt, Int: 7}}}))
	want := `{"domain":0,"server_id":1,"sequence":23,"gtid":"3e11fa47-71ca-11e1-9e33-c80aa9429562:23","event_number":1,"timestamp":0,"event_type":"delete","table_schema":"d","table_name":"t","a":7}` + "\n"
	if out != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}

// referenceString is the byte-at-a-time escaper appendString must agree with.
func referenceString(s []byte) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x80 {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xF])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\ufffd`)
		} else {
			b.Write(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
	return b.String()
}

func TestAppendStringAgreesWithReference(t *testing.T) {
	// The edges of the inline 2- and 3-byte UTF-8 checks: overlong forms,
	// surrogates, the last valid code points, cut sequences.
	for _, s := range []string{"\xc0\x80", "\xc1\xbf", "\xc2\x80", "\xdf\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xe0\xa0\x80",
		"\xed\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xe2\x82", "a\xe2\x82", "\xc3", "\xf0\x9f\x98\x80",
		"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", "abcdefgh\xed\xa0\x80ijklmnop"} {
		if got, want := string(appendString(nil, []byte(s))), referenceString([]byte(s)); got != want {
			t.Errorf("%q: got %s want %s", s, got, want)
		}
	}
	check := func(s []byte) {
		t.Helper()
		if got, want := string(appendString(nil, s)), referenceString(s); got != want {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	}
	// Every pair of interesting bytes (quotes, controls, 2-byte leads and
	// their overlong forms, continuations, 3- and 4-byte leads, bytes
	// never valid) at every offset of strings of 9 to 24 bytes: every
	// alignment within a word, pairs split by a word boundary, and the
	// last bytes.
	edge := []byte{0x00, 0x1f, ' ', '"', '#', '\\', ']', 'a', 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xdf,
		0xe0, 0xe6, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff}
	for _, b1 := range edge {
		for _, b2 := range edge {
			for _, size := range []int{9, 16, 17, 24} {
				for off := 0; off+1 < size; off++ {
					s := []byte(strings.Repeat("x", size))
					s[off], s[off+1] = b1, b2
					check(s)
					if off+2 < size {
						s[off+1], s[off+2] = 'y', b2 // apart by one byte
						check(s)
					}
				}
			}
		}
	}
	// Words of quotes and backslashes only, every subset of the 8 bytes,
	// at the start, after an odd offset, and before the last bytes.
	for mask := 0; mask < 256; mask++ {
		w := []byte("abcdefgh")
		for j := range w {
			if mask>>j&1 != 0 {
				w[j] = "\"\\"[j%2]
			}
		}
		for _, pre := range []string{"", "x", "abc", "0123456"} {
			check([]byte(pre + string(w) + "tail"))
			check([]byte(pre + string(w) + string(w) + "0123456789"))
		}
	}
	// 2- and 3-byte sequences (valid, cut, overlong, lone continuations)
	// at every offset, between plain bytes and between each other.
	for _, seq := range []string{"é", "ß", "\u00ff", "\u07ff", "€", "日本", "\ufffd", "😀", "\xc0\x80", "\xc1\xbf", "\xc3", "\xa9", "\xe2\x82",
		"\xed\xa0\x80", "\xe0\x9f\xbf", "é\xa9", "\xc3\xc3\xa9", "é\"", "\"é", "é\x01"} {
		for off := 0; off < 17; off++ {
			for _, size := range []int{8, 16, 23, 40} {
				if off+len(seq) > size {
					continue
				}
				s := []byte(strings.Repeat("a", size))
				copy(s[off:], seq)
				check(s)
				if off+2*len(seq) <= size {
					copy(s[off+len(seq):], seq)
					check(s)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// Text of accented letters, quotes and plain words, as in the bench
	// table's values, with now and then a byte of any value.
	pieces := []string{"café", "naïve", "über", "Straße", "données", "日本", "order", "x", "ab", "\"", "\\", `{"id":`, " ", "1,", "\n"}
	for n := 0; n < 20000; n++ {
		var s []byte
		for len(s) < 90 && rng.IntN(12) != 0 {
			s = append(s, pieces[rng.IntN(len(pieces))]...)
			if rng.IntN(20) == 0 {
				s = append(s, byte(rng.IntN(256)))
			}
		}
		check(s)
	}
	alphabet := []byte("ab \"\\\n\x01\x1f\x7f é€😀\xff\xc3")
	for n := 0; n < 20000; n++ {
		s := make([]byte, rng.IntN(40))
		for i := range s {
			if rng.IntN(4) == 0 {
				s[i] = byte(rng.IntN(256))
			} else {
				s[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		if got, want := string(appendString(nil, s)), referenceString(s); got != want {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	}
}

func BenchmarkAppendString(b *testing.B) {
	s := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 3))
	var dst []byte
	b.SetBytes(int64(len(s)))
	for i := 0; i < b.N; i++ {
		dst = appendString(dst[:0], s)
	}
}

// BenchmarkAppendStringMixed: JSON text and UTF-8 words, as in the
// benchmark table's TEXT and JSON columns.
func BenchmarkAppendStringMixed(b *testing.B) {
	s := []byte(`{"id":123456,"tag":"clearance","score":12.5,"active":true,"dims":[1,2,3]} café naïve Straße 日本 données`)
	var dst []byte
	b.SetBytes(int64(len(s)))
	for i := 0; i < b.N; i++ {
		dst = appendString(dst[:0], s)
	}
}

func TestMaxScaleMessages(t *testing.T) {
	tbl := &change.Table{Schema: "db", Name: "t", Version: 1, Columns: []change.Column{{Name: "id", Type: "int"}}, PrimaryKey: []int{0}}
	tx := &change.Tx{Domain: 0, ServerID: 1, Sequence: 5}
	m := NewMaxScale("hex", true)
	up := change.Event{Op: change.OpUpdate, Table: tbl, Tx: tx, EventNumber: 1,
		Before: []change.Value{{Kind: change.KindInt, Int: 1}}, After: []change.Value{{Kind: change.KindInt, Int: 2}}}
	buf, msgs := m.AppendMessages(nil, nil, &up)
	if len(msgs) != 3 || msgs[0].Kind != MessageSchema || msgs[1].Kind != MessageData || msgs[2].Kind != MessageData {
		t.Fatalf("want schema + 2 data messages, got %+v", msgs)
	}
	for _, want := range []struct {
		i    int
		text string
	}{{0, `"namespace":"MaxScaleChangeDataSchema.avro"`}, {1, `"event_type":"update_before"`}, {2, `"event_type":"update_after"`}} {
		v := string(msgs[want.i].Value)
		if !strings.Contains(v, want.text) || strings.Contains(v, "\n") || v[0] != '{' || v[len(v)-1] != '}' {
			t.Errorf("message %d = %s, want one record containing %s", want.i, v, want.text)
		}
	}
	// The schema record is sent once per table version.
	_, msgs = m.AppendMessages(buf, nil, &up)
	if len(msgs) != 2 {
		t.Fatalf("second update: %d messages, want 2", len(msgs))
	}
}

// TestTemporalText: temporal values are written as they are when they need
// no escaping (the fast path), and escaped like any string otherwise.
func TestTemporalText(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"2024-01-02 03:04:05.123456", `"2024-01-02 03:04:05.123456"`},
		{"838:59:59", `"838:59:59"`},
		{"2024-01-02", `"2024-01-02"`},
		{"1:2", `"1:2"`},
		{"2024-01-02 \"x\"", `"2024-01-02 \"x\""`},
		{"2024-01-02\n03:04:05", `"2024-01-02\n03:04:05"`},
	} {
		v := change.Value{Kind: change.KindDateTime, Text: []byte(tc.text)}
		if got := string(appendValue(nil, &v, BinaryHex)); got != tc.want {
			t.Errorf("%q: got %s want %s", tc.text, got, tc.want)
		}
	}
}

// TestMaxScaleCachedParts: the parts rendered once per transaction and
// table are those of the event at hand, whatever came before (a Tx reused
// with new values included).
func TestMaxScaleCachedParts(t *testing.T) {
	t1 := &change.Table{Schema: "db", Name: "t1", Version: 1, Columns: []change.Column{{Name: "id", Type: "int"}}, PrimaryKey: []int{0}}
	t2 := &change.Table{Schema: "db", Name: "t\"2", Version: 1, Columns: []change.Column{{Name: "k", Type: "int"}, {Name: "v", Type: "int"}}, PrimaryKey: []int{0}}
	tx := &change.Tx{Domain: 0, ServerID: 1, Sequence: 5, Timestamp: 100}
	row1 := []change.Value{{Kind: change.KindInt, Int: 1}}
	row2 := []change.Value{{Kind: change.KindInt, Int: 2}, {Kind: change.KindInt, Int: 3}}
	events := []func() change.Event{
		func() change.Event {
			return change.Event{Op: change.OpInsert, Table: t1, Tx: tx, EventNumber: 1, After: row1}
		},
		func() change.Event {
			return change.Event{Op: change.OpDelete, Table: t2, Tx: tx, EventNumber: 2, Before: row2}
		},
		func() change.Event {
			tx.Sequence, tx.Timestamp = 6, 101
			return change.Event{Op: change.OpInsert, Table: t2, Tx: tx, EventNumber: 1, After: row2}
		},
		func() change.Event {
			tx.GTID = "3E11FA47-71CA-11E1-9E33-C80AA9429562:23"
			return change.Event{Op: change.OpInsert, Table: t1, Tx: tx, EventNumber: 1, After: row1}
		},
		func() change.Event {
			return change.Event{Op: change.OpRead, Table: t1, Tx: &change.Tx{Timestamp: 101}, EventNumber: 7, After: row1, Snapshot: true}
		},
	}
	shared := NewMaxScale("hex", false)
	for i, mk := range events {
		ev := mk()
		got := string(shared.Append(nil, &ev))
		want := string(NewMaxScale("hex", false).Append(nil, &ev))
		if got != want {
			t.Errorf("event %d: got %s\nwant %s", i, got, want)
		}
	}
	ev := events[4]()
	if got := string(shared.Append(nil, &ev)); got != `{"domain":0,"server_id":0,"sequence":0,"event_number":7,"timestamp":101,"event_type":"insert","table_schema":"db","table_name":"t1","snapshot":true,"id":1}`+"\n" {
		t.Errorf("snapshot row: %s", got)
	}
}

// TestMaxScaleLongColumnKeys: column keys longer than 16 bytes (written by
// append) and up to 16 (written as two words) give the same record, from an
// empty buffer that grows.
func TestMaxScaleLongColumnKeys(t *testing.T) {
	tbl := &change.Table{Schema: "s", Name: "t", Columns: []change.Column{
		{Name: "a", Type: "int"}, {Name: "exactly_12ch", Type: "int"}, {Name: "a_column_name_of_twenty", Type: "varchar"}}}
	tx := &change.Tx{Sequence: 1, ServerID: 1}
	row := []change.Value{{Kind: change.KindInt, Int: 1}, {Kind: change.KindInt, Int: -2}, {Kind: change.KindString, Text: []byte("x\"y")}}
	want := `{"domain":0,"server_id":1,"sequence":1,"event_number":1,"timestamp":0,"event_type":"insert","table_schema":"s","table_name":"t","a":1,"exactly_12ch":-2,"a_column_name_of_twenty":"x\"y"}` + "\n"
	if got := string(NewMaxScale("hex", false).Append(nil, &change.Event{Op: change.OpInsert, Table: tbl, Tx: tx, EventNumber: 1, After: row})); got != want {
		t.Errorf("long key:\ngot  %s\nwant %s", got, want)
	}
	short := &change.Table{Schema: "s", Name: "t", Columns: tbl.Columns[:2]}
	want = `{"domain":0,"server_id":1,"sequence":1,"event_number":1,"timestamp":0,"event_type":"insert","table_schema":"s","table_name":"t","a":1,"exactly_12ch":-2}` + "\n"
	if got := string(NewMaxScale("hex", false).Append(nil, &change.Event{Op: change.OpInsert, Table: short, Tx: tx, EventNumber: 1, After: row[:2]})); got != want {
		t.Errorf("short keys:\ngot  %s\nwant %s", got, want)
	}
}

// FuzzAppendString: appendString writes what the byte-at-a-time reference
// writes, after bytes already in the buffer and whatever its spare capacity.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "plain ascii text of some length", `{"id":1,"tag":"new"}`, "café naïve 日本 données",
		"\xc3", "abcdefg\xc3", "\xed\xa0\x80", "\x00\x1f\x7f\"\\\n\r\t", "\xf0\x9f\x98\x80\xff",
		// Words of quotes only, 2-byte sequences at each alignment and
		// across a word boundary, overlong leads, lone continuations.
		`{"id":2,"tag":"new","score":91.53,"active":false,"dims":[167,169,393]}`, `"\"\"\\"\"\\\\"a"b"`,
		"abcdefgé0123456", "abcdeéfghijklmno", "éééééééééé", "abcdefg\xc3\xa9abcdefgh", "ab\xc0\x80cdefgh", "abc\xc1\xbfdefgh",
		"\xa9abcdefghij", "abcdefgh\xa9\xa9", "ab\xc3\xc3\xa9cdefgh", "Straße \"日本\" données\x01"} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, s []byte, spare int) {
		dst := make([]byte, 2, 2+spare&63)
		got := appendString(dst, s)
		if want := "\x00\x00" + referenceString(s); string(got) != want {
			t.Fatalf("%q: got %q want %q", s, got, want)
		}
		if !utf8.Valid(got) {
			t.Fatalf("%q: invalid UTF-8 out: %q", s, got)
		}
	})
}
