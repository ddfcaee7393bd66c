package files

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/bintap/bintap/internal/change"
)

// The spool of a Parquet file: its records as they arrive, in a compact
// binary form, appended and fsynced like the text formats; the Parquet file
// is written from it when its window closes. A record is its length
// (uvarint) and then: op, deleted, ts_ms (varint), transaction id (uvarint
// length, bytes), order (varint), event number (uvarint), column count
// (uvarint, 0 for a TRUNCATE), and per value its kind and the fields the
// kind uses.

// appendSpoolRecord appends one record to dst.
func appendSpoolRecord(dst []byte, r *Record) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0) // length, filled in below
	dst = append(dst, r.Op)
	if r.Deleted {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	dst = binary.AppendVarint(dst, r.TsMs)
	dst = binary.AppendUvarint(dst, uint64(len(r.TxID)))
	dst = append(dst, r.TxID...)
	dst = binary.AppendVarint(dst, r.Order)
	dst = binary.AppendUvarint(dst, r.Event)
	dst = binary.AppendUvarint(dst, uint64(len(r.Row)))
	for i := range r.Row {
		v := &r.Row[i]
		dst = append(dst, byte(v.Kind))
		switch v.Kind {
		case change.KindNull, change.KindMissing:
		case change.KindInt, change.KindYear:
			dst = binary.AppendVarint(dst, v.Int)
		case change.KindUint, change.KindBit:
			dst = binary.AppendUvarint(dst, v.Uint)
		case change.KindFloat, change.KindDouble:
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v.Float))
		default: // text kinds; some carry numbers too (timestamp, enum, set, geometry)
			dst = binary.AppendVarint(dst, v.Int)
			dst = binary.AppendUvarint(dst, v.Uint)
			dst = binary.AppendUvarint(dst, uint64(len(v.Text)))
			dst = append(dst, v.Text...)
		}
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// spoolReader reads the records of a spool back, one at a time.
type spoolReader struct {
	r    *bufio.Reader
	left int64 // bytes of the spool not read yet
	buf  []byte
	rec  Record
	vals []change.Value
}

// newSpoolReader reads a spool of size bytes.
func newSpoolReader(r io.Reader, size int64) *spoolReader {
	return &spoolReader{r: bufio.NewReaderSize(io.LimitReader(r, size), 1<<20), left: size}
}

var errSpool = errors.New("spool record damaged")

// next returns the next record (valid until the next call), or nil at the end.
func (s *spoolReader) next() (*Record, error) {
	var head [4]byte
	if _, err := io.ReadFull(s.r, head[:]); err == io.EOF {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	n := binary.LittleEndian.Uint32(head[:])
	s.left -= 4
	if int64(n) > s.left {
		return nil, errSpool // a damaged length: do not allocate it
	}
	s.left -= int64(n)
	if cap(s.buf) < int(n) {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, err := io.ReadFull(s.r, b); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	d := decoder{b: b}
	r := &s.rec
	r.Op, r.Deleted = d.byte(), d.byte() == 1
	r.TsMs = d.varint()
	r.TxID = string(d.bytes(int(d.uvarint())))
	r.Order = d.varint()
	r.Event = d.uvarint()
	cols := int(d.uvarint())
	if d.err || cols > len(b) {
		return nil, errSpool
	}
	r.Row = nil
	if cols > 0 {
		s.vals = s.vals[:0]
		for i := 0; i < cols; i++ {
			v := change.Value{Kind: change.Kind(d.byte())}
			switch v.Kind {
			case change.KindNull, change.KindMissing:
			case change.KindInt, change.KindYear:
				v.Int = d.varint()
			case change.KindUint, change.KindBit:
				v.Uint = d.uvarint()
			case change.KindFloat, change.KindDouble:
				v.Float = math.Float64frombits(binary.LittleEndian.Uint64(d.bytes(8)))
			default:
				v.Int, v.Uint = d.varint(), d.uvarint()
				v.Text = d.bytes(int(d.uvarint()))
				if v.Text == nil {
					v.Text = []byte{}
				}
			}
			s.vals = append(s.vals, v)
		}
		r.Row = s.vals
	}
	if d.err || len(d.b) != 0 {
		return nil, errSpool
	}
	return r, nil
}

// decoder reads the fields of one spool record; err is set when it runs
// out of bytes.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || n > len(d.b) {
		d.err = true
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	if n == 0 {
		return nil
	}
	return s
}
