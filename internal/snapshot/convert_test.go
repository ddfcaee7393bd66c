package snapshot

import (
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
)

func TestKeyLiteral(t *testing.T) {
	cases := []struct {
		col  change.Column
		raw  string
		want string
		ok   bool
	}{
		{change.Column{Type: "bigint", Unsigned: true}, "18446744073709551615", "18446744073709551615", true}, // unquoted: exact
		{change.Column{Type: "int"}, "-5", "-5", true},
		{change.Column{Type: "decimal"}, "1.50", "1.50", true},
		{change.Column{Type: "int"}, "1 OR 1=1", "", false},
		{change.Column{Type: "varchar", Charset: "utf8mb4"}, "it's", "_utf8mb4 X'69742773'", true},
		{change.Column{Type: "varbinary", Charset: "binary"}, "\x00\xff", "X'00ff'", true},
		{change.Column{Type: "char", Charset: "binary"}, "ab", "X'6162'", true},
		{change.Column{Type: "datetime"}, "2024-02-29 23:59:59.5", "'2024-02-29 23:59:59.5'", true},
		{change.Column{Type: "date"}, "2024'", "", false},
		{change.Column{Type: "uuid"}, "123e4567-e89b-12d3-a456-426614174000", "'123e4567-e89b-12d3-a456-426614174000'", true},
		{change.Column{Type: "enum", Members: []string{"a"}}, "a", "", false}, // sorts by index, not by name
		{change.Column{Type: "float"}, "1.5", "", false},
	}
	for _, c := range cases {
		got, ok := keyLiteral(&c.col, []byte(c.raw))
		if ok != c.ok || got != c.want {
			t.Errorf("keyLiteral(%s, %q) = %q, %v; want %q, %v", c.col.Type, c.raw, got, ok, c.want, c.ok)
		}
	}
}

func TestAfter(t *testing.T) {
	tbl := &change.Table{Columns: []change.Column{{Name: "a"}, {Name: "b"}, {Name: "c"}}, PrimaryKey: []int{2, 0}}
	got := after(tbl, []string{"7", "'x'"})
	want := "(`c` > 7) OR (`c` = 7 AND `a` > 'x')"
	if got != want {
		t.Errorf("after = %s\nwant    %s", got, want)
	}
}

func TestRangeCond(t *testing.T) {
	tbl := &change.Table{Columns: []change.Column{{Name: "a"}, {Name: "b"}, {Name: "c"}}, PrimaryKey: []int{2, 0}}
	for _, tc := range []struct {
		r    RangeState
		want string
	}{
		{RangeState{}, ""},
		{RangeState{After: "3", Upto: "9"}, "`c` > 3 AND `c` <= 9"},
		{RangeState{After: "3", Upto: "9", LastKey: []string{"5", "'q'"}}, "((`c` > 5) OR (`c` = 5 AND `a` > 'q')) AND `c` <= 9"},
		{RangeState{UptoKey: []string{"7", "'x'"}}, "((`c` < 7) OR (`c` = 7 AND `a` <= 'x'))"},
		{RangeState{AfterKey: []string{"7", "'x'"}}, "((`c` > 7) OR (`c` = 7 AND `a` > 'x'))"},
		{RangeState{AfterKey: []string{"1", "'a'"}, UptoKey: []string{"7", "'x'"}, LastKey: []string{"2", "'b'"}},
			"((`c` > 2) OR (`c` = 2 AND `a` > 'b')) AND ((`c` < 7) OR (`c` = 7 AND `a` <= 'x'))"},
	} {
		got, err := rangeCond(tbl, &tc.r)
		if err != nil || got != tc.want {
			t.Errorf("rangeCond(%+v) = %s, %v\nwant %s", tc.r, got, err, tc.want)
		}
	}
	if _, err := rangeCond(tbl, &RangeState{UptoKey: []string{"1"}}); err == nil {
		t.Error("a bound with fewer columns than the key is accepted")
	}
}

func TestConvertValues(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no zone data:", err)
	}
	cols := []change.Column{
		{Name: "f", Type: "float"}, {Name: "d", Type: "decimal"}, {Name: "b", Type: "bit"},
		{Name: "e", Type: "enum", Members: []string{"small", "large"}},
		{Name: "s", Type: "set", Members: []string{"a", "b", "c", "d"}},
		{Name: "ts", Type: "timestamp", Scale: 6}, {Name: "z", Type: "timestamp"}, {Name: "u", Type: "bigint", Unsigned: true},
	}
	cv := &converter{convs: make([]conv, len(cols)), loc: berlin}
	for i := range cols {
		_, c, err := columnConv(&cols[i])
		if err != nil {
			t.Fatal(err)
		}
		cv.convs[i] = c
	}
	in := []any{float64(0.10000000149011612), []byte("0001.50"), []byte{0x01, 0x02}, []byte("large"), []byte("a,d"),
		[]byte("2024-07-01 10:00:00.000001"), []byte("0000-00-00 00:00:00"), uint64(18446744073709551615)}
	want := []change.Value{
		{Kind: change.KindFloat, Float: float64(float32(0.1))},
		{Kind: change.KindDecimal, Text: []byte("1.50")},
		{Kind: change.KindBit, Uint: 258},
		{Kind: change.KindEnum, Int: 2, Text: []byte("large")},
		{Kind: change.KindSet, Uint: 9, Text: []byte("a,d")},
		{Kind: change.KindTimestamp, Int: 1719828000, Uint: 1719828000000001, Text: []byte("2024-07-01 12:00:00.000001")},
		{Kind: change.KindTimestamp, Text: []byte("0000-00-00 00:00:00")},
		{Kind: change.KindUint, Uint: 18446744073709551615},
	}
	for i := range in {
		var v change.Value
		if err := cv.value(i, in[i], &v); err != nil {
			t.Fatalf("%s: %v", cols[i].Name, err)
		}
		w := want[i]
		if v.Kind != w.Kind || v.Int != w.Int || v.Uint != w.Uint || v.Float != w.Float || string(v.Text) != string(w.Text) {
			t.Errorf("%s: got %+v (%q), want %+v (%q)", cols[i].Name, v, v.Text, w, w.Text)
		}
	}
	var v change.Value
	if err := cv.value(0, nil, &v); err != nil || v.Kind != change.KindNull {
		t.Errorf("NULL: %+v %v", v, err)
	}
}
