// Shortest DOUBLE text in place. The digits come from the Dragonbox
// algorithm as Go's strconv implements it (internal/strconv/ftoadbox.go,
// Go 1.26, BSD-style license: Copyright 2025 The Go Authors); this file
// carries the float64 part of it and writes the digits straight into the
// output in the layout strconv.AppendFloat(dst, f, 'f', -1, 64) gives, where
// strconv writes them into a buffer of its own, then copies them byte by
// byte. appendFloat uses it for the values it prints in that layout.
//
// Dragonbox: Junekey Jeon, "Dragonbox: A New Floating-Point Binary-to-Decimal
// Conversion Algorithm",
// https://github.com/jk-jeon/dragonbox/blob/d5dc40ae6a3f1a4559cda816738df2d6255b4e24/other_files/Dragonbox.pdf

package format

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/bits"
	"sync"
)

// appendShortest64 appends f as strconv.AppendFloat(dst, f, 'f', -1, 64)
// does, for a normal (not subnormal) finite f other than zero.
func appendShortest64(dst []byte, f float64) []byte {
	u := math.Float64bits(f)
	mant := u&(1<<52-1) | 1<<52
	exp := int(u>>52&0x7FF) - 1023 - 52
	q, e10 := dbox64(mant, exp)

	// The digits of q (at most 17) at the start of d; the rest of d is
	// room for whole-word copies.
	var d [48]byte
	nd := len(AppendUint(d[:0], q)) // in d: its room is enough

	// The text is at most 25 bytes: a sign and 21 digits of the integer
	// part (below 1e21), or a sign, "0.", 5 zeros and 17 digits (1e-6 and
	// above). Words are stored whole past its end, within 48 bytes of room.
	l := len(dst)
	if cap(dst)-l < 48 {
		dst = grow(dst, 48)
	}
	out := dst[l : l+48]
	n := 0
	if u>>63 != 0 {
		out[0] = '-'
		n = 1
	}
	// dp is where the decimal point goes among the digits, as fmtF lays
	// them out: zeros between the digits and the point.
	dp := nd + e10
	switch {
	case dp >= nd: // an integer: the digits, then dp-nd zeros
		copy24(out[n:], d[:])
		for i := n + nd; i < n+dp; i++ {
			out[i] = '0'
		}
		n += dp
	case dp > 0: // digits, the point, digits
		copy24(out[n:], d[:])
		out[n+dp] = '.'
		copy24(out[n+dp+1:], d[dp:])
		n += nd + 1
	default: // "0.", -dp zeros (at most 5), the digits
		binary.LittleEndian.PutUint64(out[n:], 0x3030303030302e30) // "0.000000"
		copy24(out[n+2-dp:], d[:])
		n += 2 - dp + nd
	}
	return dst[:l+n]
}

// copy24 copies the first 24 bytes of src to dst in three words.
func copy24(dst, src []byte) {
	_, _ = dst[23], src[23]
	binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src))
	binary.LittleEndian.PutUint64(dst[8:], binary.LittleEndian.Uint64(src[8:]))
	binary.LittleEndian.PutUint64(dst[16:], binary.LittleEndian.Uint64(src[16:]))
}

// dbox64 returns the shortest decimal q×10^e10 that reads back as the
// float64 mant×2^exp (mant with its implicit top bit; not subnormal):
// strconv's dboxFtoa64 with the digits returned instead of written.
func dbox64(mant uint64, exp int) (q uint64, e10 int) {
	pow := pow10Table()
	if mant == 1<<52 {
		// Algorithm 5.6 (page 24): the lower neighbour is closer.
		k0 := -mulLog10_2MinusLog10_4Over3(exp)
		φ, β := dboxPow64(pow, k0, exp)
		xi, zi := dboxRange64(φ, β)
		if exp != 2 && exp != 3 {
			xi++
		}
		q := zi / 10
		if xi <= q*10 {
			q, zeros := trimZeros(q)
			return q, -k0 + 1 + zeros
		}
		yru := dboxRoundUp64(φ, β)
		if exp == -77 && yru%2 != 0 {
			yru--
		} else if yru < xi {
			yru++
		}
		return yru, -k0
	}

	// κ = 2 for float64 (section 5.1.3)
	const (
		κ     = 2
		p10κ  = 100       // 10**κ
		p10κ1 = p10κ * 10 // 10**(κ+1)
	)

	// Algorithm 5.2 (page 15).
	k0 := -mulLog10_2(exp)
	φ, β := dboxPow64(pow, κ+k0, exp)
	zi, exact := dboxMulPow64(uint64(mant*2+1)<<β, φ)
	s, r := zi/p10κ1, uint32(zi%p10κ1)
	δi := uint32(φ.hi >> (64 - 1 - β))

	if r < δi {
		if r != 0 || !exact || mant%2 == 0 {
			s, zeros := trimZeros(s)
			return s, -k0 + 1 + zeros
		}
		s--
		r = p10κ * 10
	} else if r == δi {
		parity, exact := dboxParity64(uint64(mant*2-1), φ, β)
		if parity || (exact && mant%2 == 0) {
			s, zeros := trimZeros(s)
			return s, -k0 + 1 + zeros
		}
	}

	// Algorithm 5.4 (page 18).
	D := r + p10κ/2 - δi/2
	t, ρ := D/p10κ, D%p10κ
	yru := 10*s + uint64(t)
	if ρ == 0 {
		parity, exact := dboxParity64(mant*2, φ, β)
		if parity != ((D-p10κ/2)%2 != 0) || exact && yru%2 != 0 {
			yru--
		}
	}
	return yru, -k0
}

type uint128 struct{ hi, lo uint64 }

// umul192Upper128 returns the upper 128 bits (out of 192 bits) of x * y.
func umul192Upper128(x uint64, y uint128) uint128 {
	hi, lo := bits.Mul64(x, y.hi)
	t, _ := bits.Mul64(x, y.lo)
	sum, carry := bits.Add64(lo, t, 0)
	return uint128{hi + carry, sum}
}

// umul192Lower128 returns the lower 128 bits (out of 192 bits) of x * y.
func umul192Lower128(x uint64, y uint128) uint128 {
	high := x * y.hi
	hlHi, hlLo := bits.Mul64(x, y.lo)
	return uint128{high + hlHi, hlLo}
}

func dboxMulPow64(u uint64, phi uint128) (intPart uint64, isInt bool) {
	r := umul192Upper128(u, phi)
	return r.hi, r.lo == 0
}

func dboxParity64(mant2 uint64, phi uint128, beta int) (parity bool, isInt bool) {
	r := umul192Lower128(mant2, phi)
	parity = ((r.hi >> (64 - beta)) & 1) != 0
	isInt = ((uint64(r.hi << beta)) | (r.lo >> (64 - beta))) == 0
	return
}

// mulLog10_2MinusLog10_4Over3 computes ⌊e*log10(2)-log10(4/3)⌋ (section 6.3).
func mulLog10_2MinusLog10_4Over3(e int) int {
	return (e*631305 - 261663) >> 21
}

// mulLog10_2 returns ⌊x*log10(2)⌋ for -1600 <= x <= 1600.
func mulLog10_2(x int) int {
	return (x * 78913) >> 18
}

// mulLog2_10 returns ⌊x*log2(10)⌋ for -500 <= x <= 500.
func mulLog2_10(x int) int {
	return (x * 108853) >> 15
}

func dboxRange64(φ uint128, β int) (left, right uint64) {
	left = (φ.hi - (φ.hi >> (52 + 2))) >> (64 - 52 - 1 - β)
	right = (φ.hi + (φ.hi >> (52 + 1))) >> (64 - 52 - 1 - β)
	return left, right
}

func dboxRoundUp64(phi uint128, beta int) uint64 {
	return (phi.hi>>(128/2-52-2-beta) + 1) / 2
}

// dboxPow64 gets the precomputed value of φ̃k for float64.
func dboxPow64(pow *[pow10Max - pow10Min + 1]uint128, k, e int) (φ uint128, β int) {
	φ = pow[k-pow10Min]
	if k < 0 || k > 55 {
		φ.lo++
	}
	return φ, e + 1 + mulLog2_10(k) - 1
}

// trimZeros returns x without its trailing decimal zeros and how many
// there were.
func trimZeros(x uint64) (uint64, int) {
	const (
		maxUint64 = 1<<64 - 1
		div1e8m   = 0xc767074b22e90e21
		div1e8le  = maxUint64 / 100000000
		div1e4m   = 0xd288ce703afb7e91
		div1e4le  = maxUint64 / 10000
		div1e2m   = 0x8f5c28f5c28f5c29
		div1e2le  = maxUint64 / 100
		div1e1m   = 0xcccccccccccccccd
		div1e1le  = maxUint64 / 10
	)
	p := 0
	for d := bits.RotateLeft64(x*div1e8m, -8); d <= div1e8le; d = bits.RotateLeft64(x*div1e8m, -8) {
		x = d
		p += 8
	}
	if d := bits.RotateLeft64(x*div1e4m, -4); d <= div1e4le {
		x = d
		p += 4
	}
	if d := bits.RotateLeft64(x*div1e2m, -2); d <= div1e2le {
		x = d
		p += 2
	}
	if d := bits.RotateLeft64(x*div1e1m, -1); d <= div1e1le {
		x = d
		p += 1
	}
	return x, p
}

// The 128-bit mantissas of the powers of ten 10^pow10Min .. 10^pow10Max,
// scaled so that the top bit is set and truncated (strconv's pow10Tab, made
// by its pow10gen.go). Computed on first use: a stream without DOUBLE
// columns does not pay for it at start-up.
const (
	pow10Min = -348
	pow10Max = 347
)

var pow10Table = sync.OnceValue(func() *[pow10Max - pow10Min + 1]uint128 {
	var t [pow10Max - pow10Min + 1]uint128
	ten := big.NewInt(10)
	mask := new(big.Int).SetUint64(math.MaxUint64)
	for e := pow10Min; e <= pow10Max; e++ {
		var m *big.Int
		if e >= 0 {
			m = new(big.Int).Exp(ten, big.NewInt(int64(e)), nil)
			if n := m.BitLen(); n > 128 {
				m.Rsh(m, uint(n-128))
			} else {
				m.Lsh(m, uint(128-n))
			}
		} else {
			// 2^(127+n) / 10^-e lies between 2^127 and 2^128 for a divisor
			// of n bits that is not a power of two.
			d := new(big.Int).Exp(ten, big.NewInt(int64(-e)), nil)
			m = new(big.Int).Lsh(big.NewInt(1), uint(127+d.BitLen()))
			m.Quo(m, d)
		}
		t[e-pow10Min] = uint128{new(big.Int).Rsh(m, 64).Uint64(), new(big.Int).And(m, mask).Uint64()}
	}
	return &t
})
