package format

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestAppendInt: the same text as strconv for every number of digits, its
// edges and random values, appended after existing bytes.
func TestAppendInt(t *testing.T) {
	var us []uint64
	for _, p := range pow10 {
		us = append(us, p-1, p, p+1)
	}
	us = append(us, 0, math.MaxUint64, math.MaxInt64, 1<<63)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		us = append(us, rng.Uint64()>>rng.IntN(64))
	}
	for _, u := range us {
		if got, want := string(AppendUint([]byte("x"), u)), "x"+strconv.FormatUint(u, 10); got != want {
			t.Fatalf("AppendUint(%d) = %q, want %q", u, got, want)
		}
		for _, n := range []int64{int64(u), -int64(u)} {
			if got, want := string(AppendInt(make([]byte, 1, 2), n)), "\x00"+strconv.FormatInt(n, 10); got != want {
				t.Fatalf("AppendInt(%d) = %q, want %q", n, got, want)
			}
		}
	}
	if got := string(AppendInt(nil, math.MinInt64)); got != "-9223372036854775808" {
		t.Fatalf("AppendInt(MinInt64) = %q", got)
	}
}

func BenchmarkAppendUint(b *testing.B) {
	buf := make([]byte, 0, 64)
	for i := 0; b.Loop(); i++ {
		buf = AppendUint(buf[:0], uint64(i)*7919)
	}
}

func BenchmarkStrconvAppendUint(b *testing.B) {
	buf := make([]byte, 0, 64)
	for i := 0; b.Loop(); i++ {
		buf = strconv.AppendUint(buf[:0], uint64(i)*7919, 10)
	}
}

// TestAppendPadded: the last width digits of u, as a digit-by-digit loop
// writes them, for every width and digit count.
func TestAppendPadded(t *testing.T) {
	ref := func(u uint64, width int) string {
		b := make([]byte, width)
		for i := width - 1; i >= 0; i-- {
			b[i] = byte('0' + u%10)
			u /= 10
		}
		return string(b)
	}
	var us []uint64
	for _, p := range pow10 {
		us = append(us, p-1, p, p+1)
	}
	us = append(us, 0, math.MaxUint64, math.MaxInt64, 1<<63)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		us = append(us, rng.Uint64()>>rng.IntN(64))
	}
	for _, u := range us {
		for width := 0; width <= 20; width++ {
			if got, want := string(AppendPadded([]byte("x"), u, width)), "x"+ref(u, width); got != want {
				t.Fatalf("AppendPadded(%d, %d) = %q, want %q", u, width, got, want)
			}
		}
	}
}

// TestAppendUintDigitGroups: numbers of every length made of runs of 0s,
// 9s and random digits, so that the groups of 8 and 4 digits AppendUint
// writes apart meet zeros and nines at every place; against strconv.
func TestAppendUintDigitGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		digits := make([]byte, 1+rng.IntN(20))
		for j := range digits {
			switch rng.IntN(3) {
			case 0:
				digits[j] = '0'
			case 1:
				digits[j] = '9'
			default:
				digits[j] = byte('0' + rng.IntN(10))
			}
		}
		u, err := strconv.ParseUint(string(digits), 10, 64)
		if err != nil { // above MaxUint64
			continue
		}
		if got, want := string(AppendUint([]byte("ab"), u)), "ab"+strconv.FormatUint(u, 10); got != want {
			t.Fatalf("AppendUint(%d) = %q, want %q", u, got, want)
		}
	}
}
