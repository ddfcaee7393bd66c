package index

import (
	"math"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
)

// TestValueBinary: every kind of value read back from the binary layout
// renders as format.AppendValue renders the value written.
func TestValueBinary(t *testing.T) {
	long := strings.Repeat("ab\"\\\n é", 40)
	var vals []change.Value
	for _, k := range []change.Kind{change.KindNull, change.KindMissing} {
		vals = append(vals, change.Value{Kind: k})
	}
	for _, i := range []int64{0, 1, -1, 63, 64, -64, -65, 1 << 40, math.MaxInt64, math.MinInt64} {
		vals = append(vals, change.Value{Kind: change.KindInt, Int: i}, change.Value{Kind: change.KindYear, Int: i})
	}
	for _, u := range []uint64{0, 1, 127, 128, math.MaxUint64} {
		vals = append(vals, change.Value{Kind: change.KindUint, Uint: u}, change.Value{Kind: change.KindBit, Uint: u})
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 0.1, -1.5e300, 3.4028234663852886e38, 1e-7, float64(float32(0.1)), math.Inf(1)} {
		vals = append(vals, change.Value{Kind: change.KindDouble, Float: f}, change.Value{Kind: change.KindFloat, Float: f})
	}
	texts := []string{"", "x", "1234.50", "2026-11-28 10:00:00.123456", "-838:59:59", "a\"b\\c\n\t\x01", "café 日本", "\xff\xfe bad utf-8", "<tag>&amp;", long}
	for _, k := range []change.Kind{change.KindDecimal, change.KindBytes, change.KindDate, change.KindTime, change.KindDateTime, change.KindTimestamp,
		change.KindString, change.KindEnum, change.KindSet, change.KindJSON, change.KindGeometry, change.KindUUID, change.KindInet, change.Kind(60)} {
		for _, s := range texts {
			vals = append(vals, change.Value{Kind: k, Text: []byte(s), Int: 7, Uint: 9})
		}
	}
	var buf []byte
	for i := range vals {
		buf = appendValueBinary(buf, &vals[i])
	}
	p := buf
	for i := range vals {
		v := &vals[i]
		got, rest, missing, err := readValueBinary([]byte("<"), p)
		if err != nil {
			t.Fatalf("value %d (%+v): %v", i, v, err)
		}
		p = rest
		if missing != (v.Kind == change.KindMissing) {
			t.Errorf("value %d (%+v): missing %v", i, v, missing)
			continue
		}
		if missing {
			continue
		}
		if want := "<" + string(format.AppendValue(nil, v, format.BinaryHex)); string(got) != want {
			t.Errorf("value %d (kind %d): %s, want %s", i, v.Kind, got, want)
		}
	}
	if len(p) != 0 {
		t.Errorf("%d bytes left", len(p))
	}
	// Cut short anywhere: an error, never a panic.
	for n := 0; n < len(buf) && n < 400; n++ {
		q := buf[:n]
		for len(q) > 0 {
			_, rest, _, err := readValueBinary(nil, q)
			if err != nil {
				break
			}
			q = rest
		}
	}
}
