package binlog

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestAppendDateTime2Digits: the one-append DATETIME2 rendering gives the
// digits appendDate and appendTime give, for any packed value and precision.
func TestAppendDateTime2Digits(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := 0; n < 200000; n++ {
		fsp := n % 7
		data := make([]byte, 8)
		ip := rng.Uint64N(1 << 39) // the packed value's 39 bits below the sign
		if n%10 == 0 {
			ip = 0 // zero date
		}
		v := ip + 0x8000000000
		data[0] = byte(v >> 32)
		binary.BigEndian.PutUint32(data[1:], uint32(v))
		for i := 5; i < 8; i++ {
			data[i] = byte(rng.IntN(256))
		}
		got, size, err := appendDateTime2([]byte("x"), data, fsp)
		if err != nil || size != 5+(fsp+1)/2 {
			t.Fatalf("% x fsp %d: size %d, %v", data, fsp, size, err)
		}
		usec := fracMicros(data[5:size], fsp)
		ymd := ip >> 17
		ym := ymd >> 5
		hms := ip % (1 << 17)
		want := appendDate([]byte("x"), int(ym/13), int(ym%13), int(ymd%32))
		want = append(want, ' ')
		want = appendTime(want, false, int(hms>>12), int(hms>>6%64), int(hms%64), usec, fsp)
		if string(got) != string(want) {
			t.Fatalf("% x fsp %d: got %q, want %q", data, fsp, got, want)
		}
	}
}

func BenchmarkAppendDateTime2(b *testing.B) {
	data := []byte{0x99, 0xb2, 0x82, 0x3a, 0x1f, 0x01, 0xe2, 0x40} // 2024-09-02 03:40:31.123456
	var dst []byte
	for i := 0; i < b.N; i++ {
		dst, _, _ = appendDateTime2(dst[:0], data, 6)
	}
}
