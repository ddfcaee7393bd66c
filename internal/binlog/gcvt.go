package binlog

import (
	"math"
	"strconv"

	"github.com/bintap/bintap/internal/format"
)

// gcvtWidth is MySQL's MY_GCVT_MAX_FIELD_WIDTH (DBL_DIG + 4 + max(5, DBL_DIG)).
const gcvtWidth = 34

// appendGcvt appends x as the server's my_gcvt(x, MY_GCVT_ARG_DOUBLE, width)
// prints it: the shortest digits that round-trip, in 'f' notation unless the
// decimal exponent is outside [-14, 15] (then "1e21", "1.5e-16").
func appendGcvt(dst []byte, x float64, width int) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return append(dst, "null"...)
	}
	if x == 0 {
		if math.Signbit(x) {
			return append(dst, "-0"...)
		}
		return append(dst, '0')
	}
	var buf [32]byte
	// 'e' with shortest digits: d.ddddde±XX
	s := strconv.AppendFloat(buf[:0], math.Abs(x), 'e', -1, 64)
	var digits [24]byte
	nd := 0
	i := 0
	for ; i < len(s) && s[i] != 'e'; i++ {
		if s[i] != '.' {
			digits[nd] = s[i]
			nd++
		}
	}
	exp, neg := 0, false
	for _, c := range s[i+1:] {
		switch {
		case c == '-':
			neg = true
		case c >= '0' && c <= '9':
			exp = exp*10 + int(c-'0')
		}
	}
	if neg {
		exp = -exp
	}
	// trim trailing zeros of the digits
	for nd > 1 && digits[nd-1] == '0' {
		nd--
	}
	decpt := exp + 1
	if x < 0 {
		width--
	}
	var f int
	switch {
	case decpt <= 0:
		f = nd - decpt + 2
	case decpt < nd:
		f = nd + 1
	default:
		f = decpt
	}
	haveSpace := f <= width
	if x < 0 {
		dst = append(dst, '-')
	}
	if haveSpace && decpt >= -15+1 && (decpt <= 15 || nd > decpt) {
		if decpt <= 0 {
			dst = append(dst, '0', '.')
			for j := decpt; j < 0; j++ {
				dst = append(dst, '0')
			}
			return append(dst, digits[:nd]...)
		}
		for j := 0; j < nd; j++ {
			dst = append(dst, digits[j])
			if j+1 == decpt && j+1 < nd {
				dst = append(dst, '.')
			}
		}
		for j := nd; j < decpt; j++ {
			dst = append(dst, '0')
		}
		return dst
	}
	dst = append(dst, digits[0])
	if nd > 1 {
		dst = append(dst, '.')
		dst = append(dst, digits[1:nd]...)
	}
	dst = append(dst, 'e')
	e := decpt - 1
	if e < 0 {
		dst = append(dst, '-')
		e = -e
	}
	return format.AppendUint(dst, uint64(e))
}
