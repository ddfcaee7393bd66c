package format

import "math/bits"

// pairs holds "00" to "99": two digits per table load.
const pairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// Put2 writes n mod 100 (n >= 0) as two digits into d[0] and d[1]: dates
// and times written in place.
func Put2(d []byte, n int) {
	n = n % 100 * 2
	d[0], d[1] = pairs[n], pairs[n+1]
}

// pow10 are the powers of 10 that fit a uint64.
var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// decimalDigits is the number of decimal digits of u (1 for 0).
func decimalDigits(u uint64) int {
	// log10(2) ≈ 1233/4096: an estimate that is exact or one too high.
	n := (bits.Len64(u|1)*1233)>>12 + 1
	if u < pow10[n-1] {
		n--
	}
	return n
}

// AppendUint appends u in decimal, as strconv.AppendUint(dst, u, 10) does,
// writing the digits in place (strconv formats into a buffer of its own and
// copies it: a third of the time of a small number on the snapshot's path).
func AppendUint(dst []byte, u uint64) []byte {
	if u < 10 {
		return append(dst, byte('0'+u))
	}
	n := decimalDigits(u)
	l := len(dst)
	if cap(dst)-l < n {
		dst = append(dst, make([]byte, n)...)[:l]
	}
	dst = dst[:l+n]
	b := dst[l:]
	i := n
	// Eight digits at a time from the right, each group written as four
	// pairs from two independent halves of 4 digits: a chain of one
	// division per group rather than one per pair for the whole number (a
	// DOUBLE's 17 digits). Written out here: a call to a helper cost more.
	for u >= 1e8 {
		q := u / 1e8
		x := uint32(u - q*1e8)
		g := b[i-8 : i : i]
		hi := x / 10000
		lo := x - hi*10000
		h1, l1 := hi/100, lo/100
		h0, l0 := (hi-h1*100)*2, (lo-l1*100)*2
		h1, l1 = h1*2, l1*2
		g[0], g[1] = pairs[h1], pairs[h1+1]
		g[2], g[3] = pairs[h0], pairs[h0+1]
		g[4], g[5] = pairs[l1], pairs[l1+1]
		g[6], g[7] = pairs[l0], pairs[l0+1]
		i -= 8
		u = q
	}
	for u >= 100 {
		q := u / 100
		r := (u - q*100) * 2
		i -= 2
		b[i], b[i+1] = pairs[r], pairs[r+1]
		u = q
	}
	if u >= 10 {
		b[0], b[1] = pairs[u*2], pairs[u*2+1]
	} else {
		b[0] = byte('0' + u)
	}
	return dst
}

// AppendInt appends n in decimal, as strconv.AppendInt(dst, n, 10) does.
func AppendInt(dst []byte, n int64) []byte {
	if n < 0 {
		return AppendUint(append(dst, '-'), uint64(-n)) // -MinInt64 wraps to 1<<63, its magnitude
	}
	return AppendUint(dst, uint64(n))
}

// AppendPadded appends the last width digits of u (width <= 20), zero-padded:
// a DECIMAL's groups of nine digits, fractions of a second.
func AppendPadded(dst []byte, u uint64, width int) []byte {
	if width <= 0 {
		return dst
	}
	l := len(dst)
	if cap(dst)-l < width {
		dst = append(dst, make([]byte, width)...)[:l]
	}
	dst = dst[:l+width]
	b := dst[l:]
	i := width
	for ; i >= 2; i -= 2 {
		q := u / 100
		r := (u - q*100) * 2
		b[i-2], b[i-1] = pairs[r], pairs[r+1]
		u = q
	}
	if i == 1 {
		b[0] = byte('0' + u%10)
	}
	return dst
}
