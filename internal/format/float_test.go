package format

import (
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// strconvFloat is what appendFloat wrote before appendShortest64: the
// reference it must agree with.
func strconvFloat(f float64) string {
	return string(strconv.AppendFloat(nil, f, 'f', -1, 64))
}

func checkShortest(t *testing.T, f float64) {
	t.Helper()
	if got, want := string(appendShortest64([]byte("x"), f)), "x"+strconvFloat(f); got != want {
		t.Fatalf("appendShortest64(%v, bits %#x) = %q, want %q", f, math.Float64bits(f), got, want)
	}
}

// TestPow10Table: entries of strconv's table (its pow10tab.go).
func TestPow10Table(t *testing.T) {
	tab := pow10Table()
	for _, c := range []struct {
		e      int
		hi, lo uint64
	}{
		{-348, 0xfa8fd5a0081c0288, 0x1732c869cd60e453},
		{-347, 0x9c99e58405118195, 0x0e7fbd42205c8eb4},
		{0, 0x8000000000000000, 0},
		{1, 0xa000000000000000, 0},
	} {
		if got := tab[c.e-pow10Min]; got != (uint128{c.hi, c.lo}) {
			t.Errorf("10^%d: %#x %#x, want %#x %#x", c.e, got.hi, got.lo, c.hi, c.lo)
		}
	}
}

// TestAppendShortest64: the same text as strconv for the edges of the range
// appendFloat uses it for, every power of two and ten in it, their
// neighbours, and random values of every exponent.
func TestAppendShortest64(t *testing.T) {
	var fs []float64
	for e := -20; e <= 21; e++ {
		p := math.Pow(10, float64(e))
		fs = append(fs, p, math.Nextafter(p, 0), math.Nextafter(p, math.Inf(1)))
	}
	for e := -20; e <= 70; e++ {
		p := math.Ldexp(1, e)
		fs = append(fs, p, math.Nextafter(p, 0), math.Nextafter(p, math.Inf(1)))
	}
	fs = append(fs, 1e-6, 1e21, math.Nextafter(1e21, 0), 0.1, 0.2, 0.3, 1.0/3, 2.0/3, 5e-324*1e300, 123456789012345678,
		9007199254740992, 9007199254740993, 0.000001, 0.1+0.2, 100, 1e20, 12345.678)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200000 {
		// A random mantissa at a random exponent of the range.
		f := math.Ldexp(1+rng.Float64(), rng.IntN(90)-20)
		fs = append(fs, f, math.Float64frombits(math.Float64bits(f)&^(1<<52-1)|rng.Uint64()&15))
	}
	for _, f := range fs {
		for _, v := range []float64{f, -f} {
			if a := math.Abs(v); a >= 1e-6 && a < 1e21 {
				checkShortest(t, v)
			}
		}
	}
}

// TestAppendShortest64Random: random bit patterns in the range, as many as
// SHORTEST_N says (default 2,000,000; the round that added it checked
// 400,000,000).
func TestAppendShortest64Random(t *testing.T) {
	n := 2_000_000
	if s := os.Getenv("SHORTEST_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	lo, hi := math.Float64bits(1e-6), math.Float64bits(1e21)
	seed := uint64(7)
	if s := os.Getenv("SHORTEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 8))
	var got, want []byte
	for i := 0; i < n; i++ {
		b := lo + rng.Uint64N(hi-lo)
		if i&1 != 0 {
			b |= 1 << 63
		}
		f := math.Float64frombits(b)
		got = appendShortest64(got[:0], f)
		want = strconv.AppendFloat(want[:0], f, 'f', -1, 64)
		if string(got) != string(want) {
			t.Fatalf("bits %#x: %q, want %q", b, got, want)
		}
	}
}

// BenchmarkAppendFloat: DOUBLE values like the bench table's (a normal
// distribution times 1000), through appendFloat and through strconv.
func BenchmarkAppendFloat(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	fs := make([]float64, 1024)
	for i := range fs {
		fs[i] = rng.NormFloat64() * 1000
	}
	var dst []byte
	b.Run("appendFloat", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			dst = appendFloat(dst[:0], fs[i&1023], 64)
		}
	})
	b.Run("strconv", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			dst = strconv.AppendFloat(dst[:0], fs[i&1023], 'f', -1, 64)
		}
	})
}
