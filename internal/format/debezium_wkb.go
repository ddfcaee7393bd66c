package format

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
)

// wktToWKB turns WKT as bintap holds it (ST_AsText's shape, shortest
// round-trip coordinates) back into little-endian WKB, the bytes MySQL and
// MariaDB store after the SRID. MULTIPOINT members may be written with or
// without parentheses.
func wktToWKB(dst, wkt []byte) ([]byte, error) {
	p := &wktParser{s: wkt}
	dst, err := p.geometry(dst, 0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, errWKT
	}
	return dst, nil
}

var errWKT = errors.New("unreadable WKT geometry")

var wktTypes = map[string]uint32{
	"POINT": 1, "LINESTRING": 2, "POLYGON": 3, "MULTIPOINT": 4,
	"MULTILINESTRING": 5, "MULTIPOLYGON": 6, "GEOMETRYCOLLECTION": 7, "GEOMCOLLECTION": 7,
}

type wktParser struct {
	s []byte
	i int
}

func (p *wktParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *wktParser) peek(c byte) bool {
	p.space()
	return p.i < len(p.s) && p.s[p.i] == c
}

func (p *wktParser) expect(c byte) error {
	if !p.peek(c) {
		return errWKT
	}
	p.i++
	return nil
}

func (p *wktParser) word() string {
	p.space()
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] >= 'A' && p.s[p.i] <= 'Z' || p.s[p.i] >= 'a' && p.s[p.i] <= 'z') {
		p.i++
	}
	w := []byte(string(p.s[start:p.i]))
	for i, c := range w {
		if c >= 'a' {
			w[i] = c - 32
		}
	}
	return string(w)
}

func appendU32(dst []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(dst, v) }

func (p *wktParser) number(dst []byte) ([]byte, error) {
	p.space()
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != ',' && p.s[p.i] != ')' {
		p.i++
	}
	f, err := strconv.ParseFloat(string(p.s[start:p.i]), 64)
	if err != nil {
		return nil, errWKT
	}
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f)), nil
}

// coords appends "x y" as two doubles.
func (p *wktParser) coords(dst []byte) ([]byte, error) {
	dst, err := p.number(dst)
	if err != nil {
		return nil, err
	}
	return p.number(dst)
}

// list parses "(item, item, ...)" and appends the count then the items.
func (p *wktParser) list(dst []byte, item func([]byte) ([]byte, error)) ([]byte, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	at := len(dst)
	dst = appendU32(dst, 0)
	n := uint32(0)
	for {
		var err error
		if dst, err = item(dst); err != nil {
			return nil, err
		}
		n++
		if p.peek(',') {
			p.i++
			continue
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		binary.LittleEndian.PutUint32(dst[at:], n)
		return dst, nil
	}
}

func (p *wktParser) points(dst []byte) ([]byte, error) { return p.list(dst, p.coords) }

func (p *wktParser) polygon(dst []byte) ([]byte, error) { return p.list(dst, p.points) }

func header(dst []byte, tp uint32) []byte { return appendU32(append(dst, 1), tp) }

func (p *wktParser) geometry(dst []byte, depth int) ([]byte, error) {
	if depth > 32 {
		return nil, errWKT
	}
	tp, ok := wktTypes[p.word()]
	if !ok {
		return nil, errWKT
	}
	dst = header(dst, tp)
	if save := p.i; p.word() == "EMPTY" {
		if tp == 1 {
			nan := math.Float64bits(math.NaN())
			return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(dst, nan), nan), nil
		}
		return appendU32(dst, 0), nil
	} else {
		p.i = save
	}
	switch tp {
	case 1:
		if err := p.expect('('); err != nil {
			return nil, err
		}
		dst, err := p.coords(dst)
		if err != nil {
			return nil, err
		}
		return dst, p.expect(')')
	case 2:
		return p.points(dst)
	case 3:
		return p.polygon(dst)
	case 4:
		return p.list(dst, func(dst []byte) ([]byte, error) {
			dst = header(dst, 1)
			if p.peek('(') {
				p.i++
				dst, err := p.coords(dst)
				if err != nil {
					return nil, err
				}
				return dst, p.expect(')')
			}
			return p.coords(dst)
		})
	case 5:
		return p.list(dst, func(dst []byte) ([]byte, error) { return p.points(header(dst, 2)) })
	case 6:
		return p.list(dst, func(dst []byte) ([]byte, error) { return p.polygon(header(dst, 3)) })
	default:
		return p.list(dst, func(dst []byte) ([]byte, error) { return p.geometry(dst, depth+1) })
	}
}
