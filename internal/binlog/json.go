package binlog

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/bintap/bintap/internal/format"
)

// MySQL binary JSON type tags (sql-common/json_binary.h).
const (
	jsonSmallObject = 0x00
	jsonLargeObject = 0x01
	jsonSmallArray  = 0x02
	jsonLargeArray  = 0x03
	jsonLiteral     = 0x04
	jsonInt16       = 0x05
	jsonUint16      = 0x06
	jsonInt32       = 0x07
	jsonUint32      = 0x08
	jsonInt64       = 0x09
	jsonUint64      = 0x0a
	jsonDouble      = 0x0b
	jsonString      = 0x0c
	jsonOpaque      = 0x0f

	jsonNull  = 0x00
	jsonTrue  = 0x01
	jsonFalse = 0x02
)

var errJSON = errors.New("corrupt binary JSON")

// appendJSONBinary renders a MySQL binary JSON document as MySQL prints it
// (SELECT json_col): `{"a": 1, "b": [1, 2]}`.
func appendJSONBinary(dst, doc []byte) ([]byte, error) {
	if len(doc) == 0 {
		return append(dst, "null"...), nil
	}
	return appendJSONValue(dst, doc[0], doc[1:], 0)
}

func appendJSONValue(dst []byte, tp byte, data []byte, depth int) ([]byte, error) {
	if depth > 150 {
		return dst, errJSON
	}
	switch tp {
	case jsonSmallObject, jsonLargeObject, jsonSmallArray, jsonLargeArray:
		return appendJSONContainer(dst, tp, data, depth)
	case jsonLiteral:
		if len(data) < 1 {
			return dst, errJSON
		}
		return appendJSONLiteral(dst, data[0])
	case jsonInt16:
		if len(data) < 2 {
			return dst, errJSON
		}
		return appendInt(dst, int64(int16(binary.LittleEndian.Uint16(data)))), nil
	case jsonUint16:
		if len(data) < 2 {
			return dst, errJSON
		}
		return format.AppendUint(dst, uint64(binary.LittleEndian.Uint16(data))), nil
	case jsonInt32:
		if len(data) < 4 {
			return dst, errJSON
		}
		return appendInt(dst, int64(int32(binary.LittleEndian.Uint32(data)))), nil
	case jsonUint32:
		if len(data) < 4 {
			return dst, errJSON
		}
		return format.AppendUint(dst, uint64(binary.LittleEndian.Uint32(data))), nil
	case jsonInt64:
		if len(data) < 8 {
			return dst, errJSON
		}
		return appendInt(dst, int64(binary.LittleEndian.Uint64(data))), nil
	case jsonUint64:
		if len(data) < 8 {
			return dst, errJSON
		}
		return format.AppendUint(dst, binary.LittleEndian.Uint64(data)), nil
	case jsonDouble:
		if len(data) < 8 {
			return dst, errJSON
		}
		return appendJSONDouble(dst, math.Float64frombits(binary.LittleEndian.Uint64(data))), nil
	case jsonString:
		l, n, err := jsonVarLen(data)
		if err != nil || n+l > len(data) {
			return dst, errJSON
		}
		return appendJSONString(dst, data[n:n+l]), nil
	case jsonOpaque:
		if len(data) < 1 {
			return dst, errJSON
		}
		ft := data[0]
		l, n, err := jsonVarLen(data[1:])
		if err != nil || 1+n+l > len(data) {
			return dst, errJSON
		}
		return appendJSONOpaque(dst, ft, data[1+n:1+n+l])
	}
	return dst, fmt.Errorf("%w: type %#x", errJSON, tp)
}

func appendJSONLiteral(dst []byte, b byte) ([]byte, error) {
	switch b {
	case jsonNull:
		return append(dst, "null"...), nil
	case jsonTrue:
		return append(dst, "true"...), nil
	case jsonFalse:
		return append(dst, "false"...), nil
	}
	return dst, errJSON
}

// appendJSONDouble prints a JSON double like MySQL: my_gcvt, plus ".0" when
// the text would read as an integer.
func appendJSONDouble(dst []byte, f float64) []byte {
	start := len(dst)
	dst = appendGcvt(dst, f, gcvtWidth)
	for _, c := range dst[start:] {
		if c != '-' && (c < '0' || c > '9') {
			return dst
		}
	}
	return append(dst, ".0"...)
}

func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		dst = append(dst, '-')
		return format.AppendUint(dst, uint64(-v))
	}
	return format.AppendUint(dst, uint64(v))
}

func jsonVarLen(data []byte) (int, int, error) {
	l := 0
	for i := 0; i < 5 && i < len(data); i++ {
		b := data[i]
		l |= int(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return l, i + 1, nil
		}
	}
	return 0, 0, errJSON
}

func appendJSONContainer(dst []byte, tp byte, data []byte, depth int) ([]byte, error) {
	large := tp == jsonLargeObject || tp == jsonLargeArray
	isObject := tp == jsonSmallObject || tp == jsonLargeObject
	osz := 2
	if large {
		osz = 4
	}
	if len(data) < 2*osz {
		return dst, errJSON
	}
	rd := func(b []byte) int {
		if large {
			return int(binary.LittleEndian.Uint32(b))
		}
		return int(binary.LittleEndian.Uint16(b))
	}
	count := rd(data)
	size := rd(data[osz:])
	if size > len(data) || count < 0 {
		return dst, errJSON
	}
	data = data[:size]
	keyEntry := osz + 2
	valEntry := 1 + osz
	hdr := 2 * osz
	if isObject {
		hdr += count * keyEntry
	}
	if hdr+count*valEntry > len(data) {
		return dst, errJSON
	}
	if isObject {
		dst = append(dst, '{')
	} else {
		dst = append(dst, '[')
	}
	var err error
	for i := 0; i < count; i++ {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		if isObject {
			ke := data[2*osz+i*keyEntry:]
			ko := rd(ke)
			kl := int(binary.LittleEndian.Uint16(ke[osz:]))
			if ko+kl > len(data) {
				return dst, errJSON
			}
			dst = appendJSONString(dst, data[ko:ko+kl])
			dst = append(dst, ": "...)
		}
		ve := data[hdr+i*valEntry:]
		vt := ve[0]
		if inlined(vt, large) {
			if vt == jsonLiteral {
				dst, err = appendJSONLiteral(dst, ve[1])
			} else {
				dst, err = appendJSONValue(dst, vt, ve[1:1+osz], depth+1)
			}
		} else {
			vo := rd(ve[1:])
			if vo >= len(data) {
				return dst, errJSON
			}
			dst, err = appendJSONValue(dst, vt, data[vo:], depth+1)
		}
		if err != nil {
			return dst, err
		}
	}
	if isObject {
		dst = append(dst, '}')
	} else {
		dst = append(dst, ']')
	}
	return dst, nil
}

func inlined(tp byte, large bool) bool {
	switch tp {
	case jsonLiteral, jsonInt16, jsonUint16:
		return true
	case jsonInt32, jsonUint32:
		return large
	}
	return false
}

// appendJSONString appends s quoted and escaped as MySQL prints JSON strings.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c >= 0x20:
			dst = append(dst, c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return append(dst, '"')
}

// MySQL field types that appear in JSON opaque values.
const (
	fieldTimestamp  = 7
	fieldDate       = 10
	fieldTime       = 11
	fieldDateTime   = 12
	fieldNewDecimal = 246
)

// appendJSONOpaque renders an opaque value as MySQL does: DECIMAL as a bare
// number, temporal values as quoted strings with 6 fractional digits, any
// other type as "base64:typeNN:<base64 of the bytes>".
func appendJSONOpaque(dst []byte, ft byte, b []byte) ([]byte, error) {
	switch ft {
	case fieldNewDecimal:
		if len(b) < 2 {
			return dst, errJSON
		}
		prec, scale := int(b[0]), int(b[1])
		if prec == 0 || prec > 65 || scale > prec {
			return dst, errJSON
		}
		var err error
		dst, _, err = appendDecimal(dst, b[2:], prec, scale)
		return dst, err
	case fieldDate, fieldDateTime, fieldTimestamp, fieldTime:
		if len(b) < 8 {
			return dst, errJSON
		}
		v := int64(binary.LittleEndian.Uint64(b))
		dst = append(dst, '"')
		neg := v < 0
		if neg {
			v = -v
		}
		ip, usec := v>>24, int(v%(1<<24))
		if ft == fieldTime {
			dst = appendTime(dst, neg, int(ip>>12%(1<<10)), int(ip>>6%64), int(ip%64), usec, 6)
		} else {
			ymd, hms := ip>>17, ip%(1<<17)
			ym := ymd >> 5
			dst = appendDate(dst, int(ym/13), int(ym%13), int(ymd%32))
			if ft != fieldDate {
				dst = append(dst, ' ')
				dst = appendTime(dst, false, int(hms>>12), int(hms>>6%64), int(hms%64), usec, 6)
			}
		}
		return append(dst, '"'), nil
	}
	dst = append(dst, `"base64:type`...)
	dst = format.AppendUint(dst, uint64(ft))
	dst = append(dst, ':')
	n := base64.StdEncoding.EncodedLen(len(b))
	dst = growBytes(dst, n+1)
	base64.StdEncoding.Encode(dst[len(dst):len(dst)+n], b)
	dst = dst[:len(dst)+n]
	return append(dst, '"'), nil
}
