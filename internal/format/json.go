// Package format encodes change events into wire formats. Each format is one
// file (maxscale.go, ...). Encoders append to a caller's byte buffer and keep
// no per-event allocations on the hot path.
package format

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"

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

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) {
			// Skip plain bytes 8 at a time, then straight to the first
			// byte that needs a look (JSON text and UTF-8 have many).
			m := specialBytes(binary.LittleEndian.Uint64(s[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else if len(s) >= 8 {
			// The last bytes: the word ending at the end of s, without the
			// bytes before i (a flag from one of those can only add a false
			// flag above it, which the byte-wise test below clears).
			m := specialBytes(binary.LittleEndian.Uint64(s[len(s)-8:])) >> (8 * (8 - (len(s) - i)))
			if m == 0 {
				break
			}
			i += bits.TrailingZeros64(m) >> 3
		}
		b := s[i]
		if b < utf8.RuneSelf {
			if safeASCII[b] {
				i++
				continue
			}
			if e := shortEscape[b]; e != 0 && i-start <= 16 && start+16 <= len(s) && cap(dst)-len(dst) >= 18 {
				// The bytes since the last stop (at most 16) and a 2-byte
				// escape, stored as words: JSON text stops at every '"',
				// a few bytes apart, and a copy call each time costs.
				n, seg := len(dst), i-start
				w := dst[n : n+18]
				binary.LittleEndian.PutUint64(w, binary.LittleEndian.Uint64(s[start:]))
				binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(s[start+8:]))
				w[seg], w[seg+1] = '\\', e
				dst = dst[:n+seg+2]
				i++
				start = i
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		// Valid 2- and 3-byte sequences (accented Latin, CJK) inline.
		if b < 0xE0 {
			if b >= 0xC2 && i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
				i += 2
				continue
			}
		} else if b < 0xF0 && i+2 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 {
			// Not overlong (E0 needs A0..BF next), not a surrogate (ED needs 80..9F).
			if c1 := s[i+1]; (b != 0xE0 || c1 >= 0xA0) && (b != 0xED || c1 < 0xA0) {
				i += 3
				continue
			}
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	if rest := len(s) - start; rest >= 8 && rest <= 16 && cap(dst)-len(dst) > rest {
		// The last 8 to 16 bytes as two overlapping words, and the quote.
		n := len(dst)
		w := dst[n : n+rest+1]
		binary.LittleEndian.PutUint64(w, binary.LittleEndian.Uint64(s[start:]))
		binary.LittleEndian.PutUint64(w[rest-8:], binary.LittleEndian.Uint64(s[len(s)-8:]))
		w[rest] = '"'
		return dst[:n+rest+1]
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
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
