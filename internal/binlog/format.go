package binlog

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/bintap/bintap/internal/format"
)

var dig2bytes = [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}

// decimalSize is the binary size of DECIMAL(prec,scale).
func decimalSize(prec, scale int) int {
	intg := prec - scale
	return intg/9*4 + dig2bytes[intg%9] + scale/9*4 + dig2bytes[scale%9]
}

func beUint(b []byte) uint32 {
	var u uint32
	for _, c := range b {
		u = u<<8 | uint32(c)
	}
	return u
}

// appendDecimal renders the binary DECIMAL(prec,scale) at data with exactly
// scale fractional digits, as the server prints it.
func appendDecimal(dst, data []byte, prec, scale int) ([]byte, int, error) {
	if prec < 1 || prec > 65 || scale < 0 || scale > 30 || scale > prec {
		// Both come from the event (TABLE_MAP metadata, a JSON opaque
		// value): the server never writes these.
		return dst, 0, fmt.Errorf("DECIMAL(%d,%d) is not a valid decimal type (precision 1 to 65, scale 0 to 30 and at most the precision)", prec, scale)
	}
	size := decimalSize(prec, scale)
	if len(data) < size {
		return dst, 0, errShort
	}
	var buf [40]byte
	b := buf[:size]
	copy(b, data)
	neg := b[0]&0x80 == 0
	b[0] ^= 0x80
	if neg {
		for i := range b {
			b[i] = ^b[i]
		}
	}
	intg := prec - scale
	intg0, intgx := intg/9, intg%9
	frac0, fracx := scale/9, scale%9

	start := len(dst)
	if neg {
		dst = append(dst, '-')
	}
	digitsStart := len(dst)
	pos := 0
	lead := true
	if n := dig2bytes[intgx]; n > 0 {
		u := beUint(b[:n])
		pos = n
		if u != 0 {
			dst = format.AppendUint(dst, uint64(u))
			lead = false
		}
	}
	for i := 0; i < intg0; i++ {
		u := binary.BigEndian.Uint32(b[pos:])
		pos += 4
		if lead {
			if u != 0 {
				dst = format.AppendUint(dst, uint64(u))
				lead = false
			}
		} else {
			dst = format.AppendPadded(dst, uint64(u), 9)
		}
	}
	if lead {
		dst = append(dst, '0')
	}
	allZero := lead
	if scale > 0 {
		dst = append(dst, '.')
		for i := 0; i < frac0; i++ {
			u := binary.BigEndian.Uint32(b[pos:])
			pos += 4
			if u != 0 {
				allZero = false
			}
			dst = format.AppendPadded(dst, uint64(u), 9)
		}
		if n := dig2bytes[fracx]; n > 0 {
			u := beUint(b[pos : pos+n])
			pos += n
			if u != 0 {
				allZero = false
			}
			dst = format.AppendPadded(dst, uint64(u), fracx)
		}
	}
	if neg && allZero {
		// no negative zero
		copy(dst[start:], dst[digitsStart:])
		dst = dst[:len(dst)-1]
	}
	return dst, size, nil
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10%10), byte('0'+v%10))
}

func appendDate(dst []byte, y, m, d int) []byte {
	dst = format.AppendPadded(dst, uint64(y), 4)
	dst = append(dst, '-')
	dst = append2(dst, m)
	dst = append(dst, '-')
	return append2(dst, d)
}

// appendTime appends [-]HH:MM:SS[.f] with exactly fsp fractional digits.
func appendTime(dst []byte, neg bool, h, m, s, usec, fsp int) []byte {
	if neg {
		dst = append(dst, '-')
	}
	if h >= 100 {
		dst = format.AppendUint(dst, uint64(h))
	} else {
		dst = append2(dst, h)
	}
	dst = append(dst, ':')
	dst = append2(dst, m)
	dst = append(dst, ':')
	dst = append2(dst, s)
	return appendFrac(dst, usec, fsp)
}

var pow10 = [7]int{1, 10, 100, 1000, 10000, 100000, 1000000}

func appendFrac(dst []byte, usec, fsp int) []byte {
	if fsp <= 0 {
		return dst
	}
	dst = append(dst, '.')
	return format.AppendPadded(dst, uint64(usec/pow10[6-fsp]), fsp)
}

// fracMicros reads the fractional seconds of a TIME2/DATETIME2/TIMESTAMP2.
func fracMicros(b []byte, fsp int) int {
	switch fsp {
	case 1, 2:
		return int(b[0]) * 10000
	case 3, 4:
		return int(binary.BigEndian.Uint16(b)) * 100
	case 5, 6:
		return int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	}
	return 0
}

func appendTime2(dst, data []byte, fsp int) ([]byte, int, error) {
	n := 3 + (fsp+1)/2
	if len(data) < n {
		return dst, 0, errShort
	}
	intPart := int64(beUint(data[:3])) - 0x800000
	var tmp int64
	switch fsp {
	case 1, 2:
		frac := int64(data[3])
		if intPart < 0 && frac != 0 {
			intPart++
			frac -= 0x100
		}
		tmp = intPart<<24 + frac*10000
	case 3, 4:
		frac := int64(binary.BigEndian.Uint16(data[3:]))
		if intPart < 0 && frac != 0 {
			intPart++
			frac -= 0x10000
		}
		tmp = intPart<<24 + frac*100
	case 5, 6:
		tmp = (int64(beUint(data[:3]))<<24 | int64(beUint(data[3:6]))) - 0x800000000000
	default:
		tmp = intPart << 24
	}
	neg := tmp < 0
	if neg {
		tmp = -tmp
	}
	hms := tmp >> 24
	usec := int(tmp % (1 << 24))
	return appendTime(dst, neg, int(hms>>12%1024), int(hms>>6%64), int(hms%64), usec, fsp), n, nil
}

func appendDateTime2(dst, data []byte, fsp int) ([]byte, int, error) {
	n := 5 + (fsp+1)/2
	if len(data) < n {
		return dst, 0, errShort
	}
	ip := (uint64(data[0])<<32 | uint64(beUint(data[1:5]))) - 0x8000000000
	usec := fracMicros(data[5:n], fsp)
	ymd := ip >> 17
	ym := ymd >> 5
	hms := ip % (1 << 17)
	// "YYYY-MM-DD HH:MM:SS[.f]" in one append, two digits per table load:
	// the same digits as appendDate and appendTime (every field is below
	// 100 but the year, below 10,000: 14 bits for the year and month, 5,
	// 5, 6 and 6 for the others).
	y, mo, d := ym/13, ym%13, ymd%32
	h, mi, sec := hms>>12, hms>>6%64, hms%64
	var b [26]byte
	format.Put2(b[0:], int(y/100)) // a year above 9999 (not in a real binlog) keeps 4 digits
	format.Put2(b[2:], int(y))
	b[4] = '-'
	format.Put2(b[5:], int(mo))
	b[7] = '-'
	format.Put2(b[8:], int(d))
	b[10] = ' '
	format.Put2(b[11:], int(h))
	b[13] = ':'
	format.Put2(b[14:], int(mi))
	b[16] = ':'
	format.Put2(b[17:], int(sec))
	end := 19
	if fsp > 0 {
		// The first fsp of the six digits of the microseconds.
		u := int(uint(usec) % 1000000)
		b[19] = '.'
		format.Put2(b[20:], u/10000)
		format.Put2(b[22:], u/100)
		format.Put2(b[24:], u)
		end = 20 + fsp
	}
	return append(dst, b[:end]...), n, nil
}

// appendTimestamp renders UNIX time sec.usec in the decoder's zone; 0 is the
// zero timestamp.
func (d *TableDecoder) appendTimestamp(dst []byte, sec int64, usec, fsp int) []byte {
	if sec == 0 {
		dst = append(dst, "0000-00-00 00:00:00"...)
		return appendFrac(dst, usec, fsp)
	}
	var y, mo, day, h, mi, s int
	if d.utc {
		days := sec / 86400
		rem := sec % 86400
		if rem < 0 {
			rem += 86400
			days--
		}
		y, mo, day = civil(days)
		h, mi, s = int(rem/3600), int(rem/60%60), int(rem%60)
	} else {
		t := time.Unix(sec, 0).In(d.loc)
		var m time.Month
		y, m, day = t.Date()
		mo = int(m)
		h, mi, s = t.Clock()
	}
	dst = appendDate(dst, y, mo, day)
	dst = append(dst, ' ')
	return appendTime(dst, false, h, mi, s, usec, fsp)
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date.
func civil(z int64) (int, int, int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}

const hexDigits = "0123456789abcdef"

// appendUUID renders a MariaDB UUID from its binlog bytes. MariaDB may keep
// UUIDs segment-swapped inside its storage engine for index locality, but the
// row images in the binlog carry the 16 bytes in text order (checked on
// 10.11: version-1 UUIDs with the RFC 4122 variant arrive unswapped), so the
// bytes are printed as they are.
func appendUUID(dst []byte, rec *[16]byte) []byte {
	u := rec
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
	}
	return dst
}

func appendInet4(dst, b []byte) []byte {
	for i := 0; i < 4; i++ {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = format.AppendUint(dst, uint64(b[i]))
	}
	return dst
}

// appendInet6 renders an IPv6 address as MariaDB's INET6 prints it.
func appendInet6(dst []byte, b *[16]byte) []byte {
	var w [8]uint16
	for i := range w {
		w[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	// IPv4-compatible (::a.b.c.d, not :: or ::1) and IPv4-mapped (::ffff:a.b.c.d).
	if w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 {
		if w[5] == 0xffff {
			dst = append(dst, "::ffff:"...)
			return appendInet4(dst, b[12:])
		}
		if w[5] == 0 && (w[6] != 0 || w[7] > 1) {
			dst = append(dst, "::"...)
			return appendInet4(dst, b[12:])
		}
	}
	// The longest run of zero words (even a single one; the first of equals) becomes "::".
	gapPos, gapLen := -1, 0
	for i := 0; i < 8; {
		if w[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && w[j] == 0 {
			j++
		}
		if j-i > gapLen {
			gapPos, gapLen = i, j-i
		}
		i = j
	}
	if gapLen < inet6MinGap {
		gapPos = -1
	}
	for i := 0; i < 8; i++ {
		if i == gapPos {
			dst = append(dst, "::"...)
			i += gapLen - 1
			continue
		}
		if i > 0 && (gapPos < 0 || i != gapPos+gapLen) {
			dst = append(dst, ':')
		}
		dst = appendHex16(dst, w[i])
	}
	return dst
}

// inet6MinGap is the shortest run of zero words that INET6 compresses.
const inet6MinGap = 1

func appendHex16(dst []byte, v uint16) []byte {
	started := false
	for s := 12; s >= 0; s -= 4 {
		n := v >> uint(s) & 15
		if n != 0 || started || s == 0 {
			dst = append(dst, hexDigits[n])
			started = true
		}
	}
	return dst
}
