package binlog

import (
	"encoding/binary"
	"errors"
	"math"
)

var errWKB = errors.New("corrupt WKB geometry")

// WKB geometry types.
const (
	wkbPoint              = 1
	wkbLineString         = 2
	wkbPolygon            = 3
	wkbMultiPoint         = 4
	wkbMultiLineString    = 5
	wkbMultiPolygon       = 6
	wkbGeometryCollection = 7
)

var wkbNames = [8]string{"", "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON", "GEOMETRYCOLLECTION"}

// appendWKT renders WKB (the geometry value after its 4-byte SRID) as WKT the
// way MariaDB's ST_AsText prints it.
func appendWKT(dst, wkb []byte) ([]byte, error) {
	dst, _, err := appendWKBGeometry(dst, wkb, 0)
	return dst, err
}

type wkbReader struct {
	b   []byte
	pos int
	le  bool
}

func (r *wkbReader) u32() (uint32, bool) {
	if r.pos+4 > len(r.b) {
		return 0, false
	}
	var v uint32
	if r.le {
		v = binary.LittleEndian.Uint32(r.b[r.pos:])
	} else {
		v = binary.BigEndian.Uint32(r.b[r.pos:])
	}
	r.pos += 4
	return v, true
}

func (r *wkbReader) f64() (float64, bool) {
	if r.pos+8 > len(r.b) {
		return 0, false
	}
	var v uint64
	if r.le {
		v = binary.LittleEndian.Uint64(r.b[r.pos:])
	} else {
		v = binary.BigEndian.Uint64(r.b[r.pos:])
	}
	r.pos += 8
	return math.Float64frombits(v), true
}

func appendWKBGeometry(dst, wkb []byte, depth int) ([]byte, int, error) {
	if len(wkb) < 5 || depth > 32 {
		return dst, 0, errWKB
	}
	r := &wkbReader{b: wkb, pos: 1, le: wkb[0] == 1}
	tp, _ := r.u32()
	if tp < wkbPoint || tp > wkbGeometryCollection {
		return dst, 0, errWKB
	}
	dst = append(dst, wkbNames[tp]...)
	dst = append(dst, '(')
	var ok bool
	switch tp {
	case wkbPoint:
		dst, ok = r.point(dst)
	case wkbLineString:
		dst, ok = r.points(dst)
	case wkbPolygon:
		dst, ok = r.polygon(dst)
	case wkbMultiPoint, wkbMultiLineString, wkbMultiPolygon:
		var n uint32
		if n, ok = r.u32(); !ok {
			break
		}
		for i := uint32(0); i < n && ok; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			// each member is a full WKB geometry: byte order and type
			if r.pos+5 > len(r.b) {
				ok = false
				break
			}
			r.le = r.b[r.pos] == 1
			r.pos++
			if _, ok = r.u32(); !ok {
				break
			}
			switch tp {
			case wkbMultiPoint:
				dst, ok = r.point(dst)
			case wkbMultiLineString:
				dst = append(dst, '(')
				dst, ok = r.points(dst)
				dst = append(dst, ')')
			default:
				dst = append(dst, '(')
				dst, ok = r.polygon(dst)
				dst = append(dst, ')')
			}
		}
	case wkbGeometryCollection:
		var n uint32
		if n, ok = r.u32(); !ok {
			break
		}
		if n == 0 {
			dst = append(dst[:len(dst)-1], " EMPTY"...)
			return dst, r.pos, nil
		}
		for i := uint32(0); i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			var m int
			var err error
			dst, m, err = appendWKBGeometry(dst, r.b[r.pos:], depth+1)
			if err != nil {
				return dst, 0, err
			}
			r.pos += m
		}
	}
	if !ok {
		return dst, 0, errWKB
	}
	return append(dst, ')'), r.pos, nil
}

func (r *wkbReader) point(dst []byte) ([]byte, bool) {
	x, ok1 := r.f64()
	y, ok2 := r.f64()
	if !ok1 || !ok2 {
		return dst, false
	}
	dst = appendGeoNumber(dst, x)
	dst = append(dst, ' ')
	return appendGeoNumber(dst, y), true
}

func (r *wkbReader) points(dst []byte) ([]byte, bool) {
	n, ok := r.u32()
	if !ok || int(n) > (len(r.b)-r.pos)/16 {
		return dst, false
	}
	for i := uint32(0); i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, ok = r.point(dst); !ok {
			return dst, false
		}
	}
	return dst, true
}

func (r *wkbReader) polygon(dst []byte) ([]byte, bool) {
	n, ok := r.u32()
	if !ok {
		return dst, false
	}
	for i := uint32(0); i < n; i++ {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '(')
		if dst, ok = r.points(dst); !ok {
			return dst, false
		}
		dst = append(dst, ')')
	}
	return dst, true
}

// appendGeoNumber prints a coordinate as ST_AsText does.
func appendGeoNumber(dst []byte, f float64) []byte {
	return appendGcvt(dst, f, gcvtWidth)
}
