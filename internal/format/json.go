// Package format encodes change events into wire formats. Each format is one
// file (maxscale.go, ...). Encoders append to a caller's byte buffer and keep
// no per-event allocations on the hot path.
package format

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/bintap/bintap/internal/change"
)

const hexDigits = "0123456789abcdef"

// safeASCII[b] is true when byte b needs no escaping inside a JSON string.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// shortEscape[b] is the letter of b's 2-byte escape ('"', '\\', 'n', 'r',
// 't'), or 0.
var shortEscape = [utf8.RuneSelf]byte{'"': '"', '\\': '\\', '\n': 'n', '\r': 'r', '\t': 't'}

// Word-at-a-time tests on 8 bytes (the classic "has zero byte" bit tricks).
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialBytes flags (high bit of each byte) the bytes of the little-endian
// word w that need escaping or UTF-8 checking: below 0x20, '"', '\\', 0x80
// or above. A borrow can flag a plain byte only above a flagged one, so the
// lowest flag is exact: 0 means all 8 bytes are plain, and otherwise
// bits.TrailingZeros64/8 is the offset of the first byte to look at.
func specialBytes(w uint64) uint64 {
	below20 := (w - ones*0x20) & ^w
	quote := w ^ (ones * '"')
	backslash := w ^ (ones * '\\')
	return (below20 | (quote-ones)&^quote | (backslash-ones)&^backslash | w) & highs
}

// plainASCII reports whether s is short and needs no escaping, tested 8
// bytes at a time (temporal values).
func plainASCII(s []byte) bool {
	if len(s) < 8 || len(s) > 32 {
		return false
	}
	for i := 0; i+8 <= len(s); i += 8 {
		if specialBytes(binary.LittleEndian.Uint64(s[i:])) != 0 {
			return false
		}
	}
	return specialBytes(binary.LittleEndian.Uint64(s[len(s)-8:])) == 0
}

// lows are the low 7 bits of each byte of a word.
const lows = 0x7f7f7f7f7f7f7f7f

// zeroBytes flags the zero bytes of x exactly: unlike specialBytes, no
// borrow or carry crosses a byte.
func zeroBytes(x uint64) uint64 {
	return ^((x&lows + lows) | x) & highs
}

// scanChunk is the most bytes of s scanString takes at a time: the room it
// needs is twice that (plus 24), not twice a large value.
const scanChunk = 4096

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
//
// The bytes are written as they are read, 8 at a time, into dst's spare
// room, which is kept at twice the bytes left (at most scanChunk) plus 24
// at every step: plain
// text costs a load and a store per word and no copy calls. scanString
// goes through the words (a loop with no calls, so that nothing is saved
// to the stack on the way) and returns at a byte to escape or an invalid
// or 4-byte UTF-8 sequence, which escapeAt writes.
func appendString(dst []byte, s []byte) []byte {
	if len(s) < 8 {
		return appendShortString(dst, s)
	}
	n := len(dst)
	if need := 2*min(len(s), scanChunk) + 25; cap(dst)-n < need {
		dst = slices.Grow(dst, need) // as append would grow it
	}
	dst = dst[:cap(dst)]
	dst[n] = '"'
	if len(s) <= 16 {
		// Short text (names) that needs no escaping: two overlapping
		// words and no call.
		w0, w1 := binary.LittleEndian.Uint64(s), binary.LittleEndian.Uint64(s[len(s)-8:])
		if specialBytes(w0)|specialBytes(w1) == 0 {
			binary.LittleEndian.PutUint64(dst[n+1:], w0)
			binary.LittleEndian.PutUint64(dst[n+1+len(s)-8:], w1)
			dst[n+1+len(s)] = '"'
			return dst[:n+2+len(s)]
		}
	}
	n, i := scanString(dst, n+1, s, 0)
	for i < len(s) {
		dst, n, i = escapeAt(dst, n, s, i)
		n, i = scanString(dst, n, s, i)
	}
	dst[n] = '"'
	return dst[:n+1]
}

// scanString copies s[i:] (s at least 8 bytes long) to dst[n:] up to the
// first byte that escapeAt must write or the end of scanChunk bytes, and
// returns the new n and i (len(s) when done). A word whose only special bytes are '"' and '\\' is escaped
// without a branch per byte; valid 2- and 3-byte UTF-8 sequences are taken
// where the scan stops at them.
func scanString(dst []byte, n int, s []byte, i int) (int, int) {
	// The loads and stores below go through unsafe pointers, without
	// bounds checks (they and the spills they cost made plain text 30%
	// slower): every one is within s and dst because of this test.
	end := min(len(s), i+scanChunk)
	if len(s) < 8 || i < 0 || i > len(s) || n < 0 || len(dst)-n < 2*(end-i)+24 {
		panic("format: scanString out of bounds")
	}
	sp, dp := unsafe.Pointer(unsafe.SliceData(s)), unsafe.Pointer(unsafe.SliceData(dst))
	for i+8 <= end {
		w := binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(sp, i))[:])
		binary.LittleEndian.PutUint64((*[8]byte)(unsafe.Add(dp, n))[:], w)
		m := specialBytes(w)
		if m == 0 {
			n += 8
			i += 8
			continue
		}
		if w&highs == 0 {
			if ^(w+ones*0x60)&highs == 0 {
				// Only '"' and '\\': the bytes, each escaped one after a
				// backslash, without a branch per byte. Byte j goes to j
				// plus the number of escaped bytes up to j (prefix sums
				// by a multiply) in room first filled with backslashes, so
				// those before escaped bytes remain. 16 bytes at most,
				// from 8: the room kept stays.
				q := (zeroBytes(w^(ones*'"')) | zeroBytes(w^(ones*'\\'))) >> 7 * ones
				p := q + 0x0706050403020100
				d := (*[16]byte)(unsafe.Add(dp, n))
				binary.LittleEndian.PutUint64(d[:8], ones*'\\')
				binary.LittleEndian.PutUint64(d[8:], ones*'\\')
				d[p&15] = byte(w)
				d[p>>8&15] = byte(w >> 8)
				d[p>>16&15] = byte(w >> 16)
				d[p>>24&15] = byte(w >> 24)
				d[p>>32&15] = byte(w >> 32)
				d[p>>40&15] = byte(w >> 40)
				d[p>>48&15] = byte(w >> 48)
				d[p>>56&15] = byte(w >> 56)
				n += int(p>>56) + 1
				i += 8
				continue
			}
		}
		// Stop at the first special byte. Valid 2- and 3-byte sequences
		// (accented letters, CJK) are taken here and the scan goes on
		// (taking whole words of 2-byte sequences in one test, tried, was
		// slower: the test costs more than these stops); the rest is
		// escapeAt's.
		k := bits.TrailingZeros64(m) >> 3
		j := i + k
		if b := s[j]; b >= 0xC2 && b < 0xE0 {
			if j+1 < len(s) && s[j+1]&0xC0 == 0x80 {
				dst[n+k], dst[n+k+1] = b, s[j+1]
				n += k + 2
				i = j + 2
				continue
			}
		} else if b >= 0xE0 && b < 0xF0 && j+2 < len(s) && s[j+1]&0xC0 == 0x80 && s[j+2]&0xC0 == 0x80 {
			// Not overlong (E0 needs A0..BF next), not a surrogate (ED needs 80..9F).
			if c1 := s[j+1]; (b != 0xE0 || c1 >= 0xA0) && (b != 0xED || c1 < 0xA0) {
				dst[n+k], dst[n+k+1], dst[n+k+2] = b, c1, s[j+2]
				n += k + 3
				i = j + 3
				continue
			}
		}
		return n + k, j
	}
	if i == len(s) || end < len(s) {
		return n, i // done, or the end of a chunk: escapeAt takes the next byte, whatever it is
	}
	// The last bytes: the word ending at the end of s, without the bytes
	// before i (a flag from one of those can only add a false flag above
	// it, which escapeAt clears).
	sh := 64 - 8*(len(s)-i)
	w := binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(sp, len(s)-8))[:])
	binary.LittleEndian.PutUint64((*[8]byte)(unsafe.Add(dp, n))[:], w>>sh)
	m := specialBytes(w) >> sh
	if m == 0 {
		return n + len(s) - i, len(s)
	}
	k := bits.TrailingZeros64(m) >> 3
	return n + k, i + k
}

// appendShortString is appendString of fewer than 8 bytes.
func appendShortString(dst []byte, s []byte) []byte {
	n := len(dst)
	if cap(dst)-n < 2*len(s)+25 {
		dst = slices.Grow(dst, 2*len(s)+25)
	}
	dst = dst[:cap(dst)]
	dst[n] = '"'
	n++
	if len(s) > 0 {
		// The bytes as the low bytes of a word, zeros above.
		r := len(s)
		var w uint64
		if r >= 4 {
			// Two 4-byte loads that overlap by 8-r bytes (the same bytes).
			w = uint64(binary.LittleEndian.Uint32(s)) | uint64(binary.LittleEndian.Uint32(s[r-4:]))<<(8*(r-4))
		} else {
			w = uint64(s[0]) | uint64(s[r/2])<<(8*(r/2)) | uint64(s[r-1])<<(8*(r-1))
		}
		binary.LittleEndian.PutUint64(dst[n:], w)
		if specialBytes(w)&(uint64(highs)>>(64-8*r)) == 0 {
			n += r
		} else {
			for i := 0; i < len(s); {
				dst, n, i = escapeAt(dst, n, s, i)
			}
		}
	}
	dst[n] = '"'
	return dst[:n+1]
}

// escapeAt writes s[i] (a byte to escape, or the start of a UTF-8 sequence
// to check; any byte works) at dst[n] and returns dst, the new n and the
// index after what it took, with the room appendString keeps.
func escapeAt(dst []byte, n int, s []byte, i int) ([]byte, int, int) {
	b := s[i]
	if b < utf8.RuneSelf {
		if safeASCII[b] {
			dst[n] = b
			n++
		} else if e := shortEscape[b]; e != 0 {
			dst[n], dst[n+1] = '\\', e
			n += 2
		} else {
			dst[n], dst[n+1], dst[n+2], dst[n+3] = '\\', 'u', '0', '0'
			dst[n+4], dst[n+5] = hexDigits[b>>4], hexDigits[b&0xF]
			n += 6
		}
		i++
	} else {
		// Valid 2- and 3-byte sequences (accented Latin, CJK) inline.
		size := 0
		if b < 0xE0 {
			if b >= 0xC2 && i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
				dst[n], dst[n+1] = b, s[i+1]
				size = 2
			}
		} else if b < 0xF0 && i+2 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 {
			// Not overlong (E0 needs A0..BF next), not a surrogate (ED needs 80..9F).
			if c1 := s[i+1]; (b != 0xE0 || c1 >= 0xA0) && (b != 0xED || c1 < 0xA0) {
				dst[n], dst[n+1], dst[n+2] = b, c1, s[i+2]
				size = 3
			}
		}
		if size == 0 {
			if r, sz := utf8.DecodeRune(s[i:]); r == utf8.RuneError && sz == 1 {
				n += copy(dst[n:], `\ufffd`)
				i++
			} else {
				size = copy(dst[n:], s[i:i+sz])
			}
		}
		n += size
		i += size
	}
	if need := 2*min(len(s)-i, scanChunk) + 24; len(dst)-n < need {
		dst = slices.Grow(dst[:n], need)
		dst = dst[:cap(dst)]
	}
	return dst, n, i
}

func appendStringS(dst []byte, s string) []byte {
	// Names are short; the conversion does not escape to the heap.
	return appendString(dst, []byte(s))
}

// appendFloat writes f as encoding/json does: the shortest text that reads
// back as the same value of the given bit size.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	if bits == 64 && abs >= 1e-6 && abs < 1e21 {
		return appendShortest64(dst, f) // the same text, written in place
	}
	fmtByte := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			fmtByte = 'e'
		}
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, fmtByte, -1, bits)
	if fmtByte == 'e' {
		// clean up e-09 to e-9
		n := len(dst) - start
		if n >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

// BinaryEncoding says how binary values are written in JSON strings.
type BinaryEncoding int

const (
	BinaryHex BinaryEncoding = iota
	BinaryBase64
)

// ParseBinaryEncoding maps "hex" and "base64".
func ParseBinaryEncoding(s string) BinaryEncoding {
	if s == "base64" {
		return BinaryBase64
	}
	return BinaryHex
}

func appendBinary(dst []byte, b []byte, enc BinaryEncoding) []byte {
	dst = append(dst, '"')
	if enc == BinaryBase64 {
		n := base64.StdEncoding.EncodedLen(len(b))
		dst = grow(dst, n)
		base64.StdEncoding.Encode(dst[len(dst):len(dst)+n], b)
		dst = dst[:len(dst)+n]
	} else {
		for _, c := range b {
			dst = append(dst, hexDigits[c>>4], hexDigits[c&0xF])
		}
	}
	return append(dst, '"')
}

func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		nd := make([]byte, len(dst), 2*cap(dst)+n)
		copy(nd, dst)
		dst = nd
	}
	return dst
}

// appendValue writes one column value in bintap's exact representation
// (DESIGN.md, "Value representation").
func appendValue(dst []byte, v *change.Value, bin BinaryEncoding) []byte {
	switch v.Kind {
	case change.KindNull, change.KindMissing:
		return append(dst, "null"...)
	case change.KindInt, change.KindYear:
		return AppendInt(dst, v.Int)
	case change.KindUint, change.KindBit:
		return AppendUint(dst, v.Uint)
	case change.KindFloat:
		return appendFloat(dst, v.Float, 32)
	case change.KindDouble:
		return appendFloat(dst, v.Float, 64)
	case change.KindDecimal:
		return append(dst, v.Text...)
	case change.KindBytes:
		return appendBinary(dst, v.Text, bin)
	case change.KindDate, change.KindTime, change.KindDateTime, change.KindTimestamp:
		// Digits and "-: ." as the decoders and the server print them.
		if plainASCII(v.Text) {
			dst = append(dst, '"')
			dst = append(dst, v.Text...)
			return append(dst, '"')
		}
		return appendString(dst, v.Text)
	default: // every text kind: strings, enum, set, json, geometry, uuid, inet
		return appendString(dst, v.Text)
	}
}
