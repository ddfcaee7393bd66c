package binlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/bintap/bintap/internal/change"
)

// Options tune a TableDecoder.
type Options struct {
	// TimeZone renders TIMESTAMP columns; UTC when nil.
	TimeZone *time.Location
}

// TableDecoder decodes the rows of one table version. It is not safe for
// concurrent use: it owns the buffers the decoded values point into.
type TableDecoder struct {
	table  *change.Table
	tm     *replication.TableMapEvent
	plans  []colPlan
	loc    *time.Location
	utc    bool
	nJSON  int
	before []change.Value
	after  []change.Value
	// arena is where decoded text goes while a body is decoded: own, the
	// decoder's buffer, or the caller's (DecodeBodyInto).
	arena    []byte
	own      []byte
	tableErr string
	zip      inflater // COMPRESSED columns
	zbuf     []byte   // an inflated value before its charset conversion
}

// NewTableDecoder checks t against the TABLE_MAP event tm (see CheckTable)
// and prepares the decoding of every column.
func NewTableDecoder(tm *replication.TableMapEvent, t *change.Table, opt Options) (*TableDecoder, error) {
	plans, err := buildPlans(tm, t)
	if err != nil {
		return nil, err
	}
	d := &TableDecoder{
		table:  t,
		tm:     tm,
		plans:  plans,
		loc:    opt.TimeZone,
		before: make([]change.Value, len(plans)),
		after:  make([]change.Value, len(plans)),
		own:    make([]byte, 0, 4096),
	}
	if d.loc == nil || d.loc == time.UTC {
		d.utc = true
		d.loc = time.UTC
	}
	for _, p := range plans {
		if p.op == opJSON {
			d.nJSON++
		}
	}
	d.tableErr = t.FullName()
	return d, nil
}

// Table is the definition the decoder was built for.
func (d *TableDecoder) Table() *change.Table { return d.table }

// DecodeRows decodes every row of the rows event re, which HeaderOnly
// decoded, and calls fn once per row: a write gives after only (before is
// nil), a delete before only (after is nil), an update and a MySQL
// PARTIAL_UPDATE_ROWS both. eventType is the event header's type; it selects
// the images and inflates MariaDB compressed events (see Body).
//
// Lifetimes: the before and after slices are reused for the next row, so fn
// must copy them (the Value structs) to keep them. The Text of a value points
// either into the event body or into a buffer owned by the decoder that is
// reset when the next DecodeRows call on this decoder starts: every Text
// delivered during one call stays valid and unchanged until this decoder's
// next DecodeRows call (and, for text in the body, as long as the event).
// Copy Text to keep it longer.
//
// A column absent from a row image (binlog_row_image MINIMAL or NOBLOB) has
// change.KindMissing.
func (d *TableDecoder) DecodeRows(eventType replication.EventType, re *replication.RowsEvent, fn func(before, after []change.Value) error) error {
	body, err := Body(re, eventType)
	if err != nil {
		return fmt.Errorf("table %s: %w", d.tableErr, err)
	}
	return d.DecodeBody(eventType, re, body, fn)
}

// DecodeBody is DecodeRows on a rows body that is already at hand (and
// inflated): body is the part of the event after its header, as Body returns it.
func (d *TableDecoder) DecodeBody(eventType replication.EventType, re *replication.RowsEvent, body []byte, fn func(before, after []change.Value) error) error {
	return d.decodeBody(eventType, re, body, nil, fn)
}

// Into gives DecodeBodyInto the storage of each row before it is decoded:
// n values for its images (before then after, as the event holds them) and
// the arena the text made while decoding them is appended to (dates,
// decimals, converted strings). The arena may grow past its capacity for a
// large row. Text the event holds as it is (UTF-8 strings, binary values)
// is not copied: it points into the body.
type Into func(n int) (values []change.Value, arena *[]byte, err error)

// DecodeBodyInto is DecodeBody decoding each row into the storage into
// gives (a pipeline batch), so that the caller has nothing to copy: the
// images fn gets are that storage, valid as long as it is.
func (d *TableDecoder) DecodeBodyInto(eventType replication.EventType, re *replication.RowsEvent, body []byte, into Into, fn func(before, after []change.Value) error) error {
	return d.decodeBody(eventType, re, body, into, fn)
}

func (d *TableDecoder) decodeBody(eventType replication.EventType, re *replication.RowsEvent, body []byte, into Into, fn func(before, after []change.Value) error) error {
	images, err := imagesOf(eventType)
	if err != nil {
		return err
	}
	if int(re.ColumnCount) != len(d.plans) {
		return fmt.Errorf("table %s: rows event has %d columns, the decoder %d", d.tableErr, re.ColumnCount, len(d.plans))
	}
	bm1 := re.ColumnBitmap1
	bm2 := re.ColumnBitmap2
	both := images == imagesBoth || images == imagesPartial
	if both && len(bm2) == 0 {
		return fmt.Errorf("table %s: update event without an after-image bitmap", d.tableErr)
	}
	ncol := len(d.plans)
	if len(bm1) < (ncol+7)/8 || len(bm2) > 0 && len(bm2) < (ncol+7)/8 {
		return fmt.Errorf("table %s: column bitmap too short", d.tableErr)
	}
	img1, img2 := newImageBitmap(bm1, ncol), newImageBitmap(bm2, ncol)
	nvals := ncol
	if both {
		nvals = 2 * ncol
	}
	// Without into, rows go to the decoder's own buffers; with it, d.arena
	// is the caller's arena while a row is decoded, and never kept after.
	d.arena = d.own[:0]
	defer func() {
		if into == nil {
			d.own = d.arena
		}
		d.arena = nil
	}()
	// The first image of a row (the only one, or the before image of an
	// update) and the second (an update's after image).
	first, second := d.before, d.after
	var arena *[]byte
	pos := 0
	for pos < len(body) {
		if into != nil {
			var vals []change.Value
			if vals, arena, err = into(nvals); err != nil {
				return err
			}
			d.arena = *arena
			first, second = vals[:ncol:ncol], vals[ncol:nvals:nvals]
		}
		start := pos
		n, err := d.decodeImage(body[pos:], &img1, first, false)
		if err != nil {
			return err
		}
		pos += n
		if both {
			if n, err = d.decodeImage(body[pos:], &img2, second, images == imagesPartial); err != nil {
				return err
			}
			pos += n
		}
		if arena != nil {
			*arena = d.arena
		}
		switch images {
		case imagesAfter:
			err = fn(nil, first)
		case imagesBefore:
			err = fn(first, nil)
		default:
			err = fn(first, second)
		}
		if err != nil {
			return err
		}
		if pos == start {
			// No column in the image: a malformed event would loop here
			// forever on the bytes left.
			return fmt.Errorf("table %s: a row image holds no column, with %d bytes of the rows event left: the event is malformed", d.tableErr, len(body)-pos)
		}
	}
	return nil
}

var errShort = errors.New("row image is shorter than its columns")

func bitSet(bm []byte, i int) bool { return bm[i>>3]&(1<<(uint(i)&7)) != 0 }

// imageBitmap is a rows event's bitmap of the columns its row images hold,
// read once for every row of the event.
type imageBitmap struct {
	bits    []byte
	present int  // columns present
	full    bool // every column is present (binlog_row_image FULL)
}

func newImageBitmap(bm []byte, ncol int) imageBitmap {
	b := imageBitmap{bits: bm}
	if len(bm) < (ncol+7)/8 {
		return b // no such image (checked where it is used)
	}
	for i := 0; i+8 <= ncol; i += 8 {
		b.present += bits.OnesCount8(bm[i>>3])
	}
	if r := ncol & 7; r != 0 {
		b.present += bits.OnesCount8(bm[ncol>>3] & byte(1<<r-1))
	}
	b.full = b.present == ncol
	return b
}

// decodeImage decodes one row image into row and returns its length.
func (d *TableDecoder) decodeImage(data []byte, bm *imageBitmap, row []change.Value, partial bool) (n int, err error) {
	pos := 0
	var partialBits []byte
	if partial {
		opts, _, m := lengthEncodedInt(data)
		if m == 0 {
			return 0, fmt.Errorf("table %s: %w", d.tableErr, errShort)
		}
		pos += m
		if opts&1 != 0 { // PARTIAL_JSON_UPDATES
			nb := (d.nJSON + 7) / 8
			if pos+nb > len(data) {
				return 0, fmt.Errorf("table %s: %w", d.tableErr, errShort)
			}
			partialBits = data[pos : pos+nb]
			pos += nb
		}
	}
	nb := (bm.present + 7) / 8
	if pos+nb > len(data) {
		return 0, fmt.Errorf("table %s: %w", d.tableErr, errShort)
	}
	nulls := data[pos : pos+nb]
	pos += nb
	if bm.full && partialBits == nil {
		// Every column is in the image: the null bits are the columns'.
		for i := range d.plans {
			if nulls[i>>3]&(1<<(uint(i)&7)) != 0 {
				row[i] = change.Value{Kind: change.KindNull}
				continue
			}
			m, err := d.decodeValue(data[pos:], &d.plans[i], &row[i])
			if err != nil {
				return 0, fmt.Errorf("table %s column %d (%s): %w", d.tableErr, i+1, d.plans[i].name, err)
			}
			pos += m
		}
		return pos, nil
	}
	bitmap := bm.bits
	ni := 0
	for i := range d.plans {
		p := &d.plans[i]
		if !bitSet(bitmap, i) {
			row[i] = change.Value{Kind: change.KindMissing}
			continue
		}
		isNull := nulls[ni>>3]&(1<<(uint(ni)&7)) != 0
		ni++
		if isNull {
			row[i] = change.Value{Kind: change.KindNull}
			continue
		}
		if partialBits != nil && p.op == opJSON && bitSet(partialBits, p.jsonIdx) {
			m, err := d.partialJSON(data[pos:], p, i, row)
			if err != nil {
				return 0, err
			}
			pos += m
			continue
		}
		m, err := d.decodeValue(data[pos:], p, &row[i])
		if err != nil {
			return 0, fmt.Errorf("table %s column %d (%s): %w", d.tableErr, i+1, p.name, err)
		}
		pos += m
	}
	return pos, nil
}

func lengthEncodedInt(b []byte) (uint64, bool, int) {
	if len(b) == 0 {
		return 0, false, 0
	}
	switch b[0] {
	case 0xfb:
		return 0, true, 1
	case 0xfc:
		if len(b) < 3 {
			return 0, false, 0
		}
		return uint64(b[1]) | uint64(b[2])<<8, false, 3
	case 0xfd:
		if len(b) < 4 {
			return 0, false, 0
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, false, 4
	case 0xfe:
		if len(b) < 9 {
			return 0, false, 0
		}
		return binary.LittleEndian.Uint64(b[1:]), false, 9
	}
	return uint64(b[0]), false, 1
}

// readLen reads a little-endian length of size bytes and returns the payload.
func readLen(data []byte, size int) ([]byte, int, error) {
	if len(data) < size {
		return nil, 0, errShort
	}
	var l int
	switch size {
	case 1:
		l = int(data[0])
	case 2:
		l = int(binary.LittleEndian.Uint16(data))
	case 3:
		l = int(data[0]) | int(data[1])<<8 | int(data[2])<<16
	case 4:
		l = int(binary.LittleEndian.Uint32(data))
	default:
		return nil, 0, fmt.Errorf("bad length size %d", size)
	}
	if l < 0 || size+l > len(data) {
		return nil, 0, errShort
	}
	return data[size : size+l], size + l, nil
}

func need(data []byte, n int) error {
	if len(data) < n {
		return errShort
	}
	return nil
}

// decodeValue decodes one non-NULL value and returns its byte length.
func (d *TableDecoder) decodeValue(data []byte, p *colPlan, v *change.Value) (int, error) {
	*v = change.Value{Kind: p.kind}
	switch p.op {
	case opInt8:
		if err := need(data, 1); err != nil {
			return 0, err
		}
		v.Int = int64(int8(data[0]))
		return 1, nil
	case opUint8:
		if err := need(data, 1); err != nil {
			return 0, err
		}
		v.Uint = uint64(data[0])
		return 1, nil
	case opInt16:
		if err := need(data, 2); err != nil {
			return 0, err
		}
		v.Int = int64(int16(binary.LittleEndian.Uint16(data)))
		return 2, nil
	case opUint16:
		if err := need(data, 2); err != nil {
			return 0, err
		}
		v.Uint = uint64(binary.LittleEndian.Uint16(data))
		return 2, nil
	case opInt24, opUint24:
		if err := need(data, 3); err != nil {
			return 0, err
		}
		u := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
		if p.op == opUint24 {
			v.Uint = uint64(u)
		} else {
			v.Int = int64(int32(u<<8) >> 8)
		}
		return 3, nil
	case opInt32:
		if err := need(data, 4); err != nil {
			return 0, err
		}
		v.Int = int64(int32(binary.LittleEndian.Uint32(data)))
		return 4, nil
	case opUint32:
		if err := need(data, 4); err != nil {
			return 0, err
		}
		v.Uint = uint64(binary.LittleEndian.Uint32(data))
		return 4, nil
	case opInt64:
		if err := need(data, 8); err != nil {
			return 0, err
		}
		v.Int = int64(binary.LittleEndian.Uint64(data))
		return 8, nil
	case opUint64:
		if err := need(data, 8); err != nil {
			return 0, err
		}
		v.Uint = binary.LittleEndian.Uint64(data)
		return 8, nil
	case opFloat:
		if err := need(data, 4); err != nil {
			return 0, err
		}
		v.Float = float64(math.Float32frombits(binary.LittleEndian.Uint32(data)))
		return 4, nil
	case opDouble:
		if err := need(data, 8); err != nil {
			return 0, err
		}
		v.Float = math.Float64frombits(binary.LittleEndian.Uint64(data))
		return 8, nil
	case opDecimal:
		start := len(d.arena)
		var n int
		var err error
		d.arena, n, err = appendDecimal(d.arena, data, p.prec, p.scale)
		if err != nil {
			return 0, err
		}
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return n, nil
	case opBit:
		if err := need(data, p.size); err != nil {
			return 0, err
		}
		var u uint64
		for _, b := range data[:p.size] {
			u = u<<8 | uint64(b)
		}
		v.Uint = u
		return p.size, nil
	case opYear:
		if err := need(data, 1); err != nil {
			return 0, err
		}
		if data[0] != 0 {
			v.Int = 1900 + int64(data[0])
		}
		return 1, nil
	case opEnum:
		if err := need(data, p.size); err != nil {
			return 0, err
		}
		idx := int(data[0])
		if p.size == 2 {
			idx = int(binary.LittleEndian.Uint16(data))
		}
		v.Int = int64(idx)
		if idx > 0 {
			if idx > len(p.members) {
				return 0, fmt.Errorf("ENUM index %d but the definition has %d members", idx, len(p.members))
			}
			start := len(d.arena)
			d.arena = append(d.arena, p.members[idx-1]...)
			v.Text = d.arena[start:len(d.arena):len(d.arena)]
		} else {
			v.Text = d.arena[len(d.arena):len(d.arena):len(d.arena)]
		}
		return p.size, nil
	case opSet:
		if err := need(data, p.size); err != nil {
			return 0, err
		}
		var mask uint64
		for i := p.size - 1; i >= 0; i-- {
			mask = mask<<8 | uint64(data[i])
		}
		v.Uint = mask
		start := len(d.arena)
		for m := mask; m != 0; m &= m - 1 {
			bit := bits.TrailingZeros64(m)
			if bit >= len(p.members) {
				return 0, fmt.Errorf("SET bit %d but the definition has %d members", bit, len(p.members))
			}
			if len(d.arena) > start {
				d.arena = append(d.arena, ',')
			}
			d.arena = append(d.arena, p.members[bit]...)
		}
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return p.size, nil
	case opDate:
		if err := need(data, 3); err != nil {
			return 0, err
		}
		u := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
		start := len(d.arena)
		d.arena = appendDate(d.arena, int(u>>9), int(u>>5&15), int(u&31))
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return 3, nil
	case opTime:
		if err := need(data, 3); err != nil {
			return 0, err
		}
		u := int32(uint32(data[0])<<8|uint32(data[1])<<16|uint32(data[2])<<24) >> 8
		neg := u < 0
		if neg {
			u = -u
		}
		start := len(d.arena)
		d.arena = appendTime(d.arena, neg, int(u/10000), int(u/100%100), int(u%100), 0, 0)
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return 3, nil
	case opTime2:
		start := len(d.arena)
		var n int
		var err error
		d.arena, n, err = appendTime2(d.arena, data, p.scale)
		if err != nil {
			return 0, err
		}
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return n, nil
	case opDateTime:
		if err := need(data, 8); err != nil {
			return 0, err
		}
		u := binary.LittleEndian.Uint64(data)
		dd, t := u/1000000, u%1000000
		start := len(d.arena)
		d.arena = appendDate(d.arena, int(dd/10000), int(dd/100%100), int(dd%100))
		d.arena = append(d.arena, ' ')
		d.arena = appendTime(d.arena, false, int(t/10000), int(t/100%100), int(t%100), 0, 0)
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return 8, nil
	case opDateTime2:
		start := len(d.arena)
		var n int
		var err error
		d.arena, n, err = appendDateTime2(d.arena, data, p.scale)
		if err != nil {
			return 0, err
		}
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return n, nil
	case opTimestamp, opTimestamp2:
		n := 4
		fsp := 0
		if p.op == opTimestamp2 {
			fsp = p.scale
			n = 4 + (fsp+1)/2
		}
		if err := need(data, n); err != nil {
			return 0, err
		}
		var sec int64
		if p.op == opTimestamp {
			sec = int64(binary.LittleEndian.Uint32(data))
		} else {
			sec = int64(binary.BigEndian.Uint32(data))
		}
		usec := fracMicros(data[4:n], fsp)
		v.Int = sec
		v.Uint = uint64(sec)*1000000 + uint64(usec)
		start := len(d.arena)
		d.arena = d.appendTimestamp(d.arena, sec, usec, fsp)
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return n, nil
	case opString, opTextJSON:
		b, n, err := readLen(data, p.lenSize)
		if err != nil {
			return 0, err
		}
		if p.conv == nil {
			v.Text = b[:len(b):len(b)]
			return n, nil
		}
		start := len(d.arena)
		if d.arena, err = p.conv.appendUTF8(d.arena, b); err != nil {
			return 0, err
		}
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return n, nil
	case opBytes:
		b, n, err := readLen(data, p.lenSize)
		if err != nil {
			return 0, err
		}
		v.Text = b[:len(b):len(b)]
		return n, nil
	case opBinary:
		b, n, err := readLen(data, p.lenSize)
		if err != nil {
			return 0, err
		}
		if len(b) >= p.size {
			v.Text = b[:len(b):len(b)]
			return n, nil
		}
		start := len(d.arena)
		d.arena = append(d.arena, b...)
		for i := len(b); i < p.size; i++ {
			d.arena = append(d.arena, 0)
		}
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return n, nil
	case opUUID, opInet4, opInet6:
		b, n, err := readLen(data, p.lenSize)
		if err != nil {
			return 0, err
		}
		var raw [16]byte
		if len(b) > p.size {
			return 0, fmt.Errorf("%d bytes for a %d-byte value", len(b), p.size)
		}
		copy(raw[:], b) // trailing zeros were dropped
		start := len(d.arena)
		switch p.op {
		case opUUID:
			d.arena = appendUUID(d.arena, &raw)
		case opInet4:
			d.arena = appendInet4(d.arena, raw[:4])
		default:
			d.arena = appendInet6(d.arena, &raw)
		}
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return n, nil
	case opJSON:
		b, n, err := readLen(data, p.lenSize)
		if err != nil {
			return 0, err
		}
		start := len(d.arena)
		if len(b) == 0 {
			d.arena = append(d.arena, "null"...)
		} else if d.arena, err = appendJSONBinary(d.arena, b); err != nil {
			return 0, err
		}
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return n, nil
	case opGeometry:
		b, n, err := readLen(data, p.lenSize)
		if err != nil {
			return 0, err
		}
		start := len(d.arena)
		if len(b) < 4 {
			return 0, fmt.Errorf("geometry value of %d bytes", len(b))
		}
		if d.arena, err = appendWKT(d.arena, b[4:]); err != nil {
			return 0, err
		}
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		v.Int = int64(binary.LittleEndian.Uint32(b)) // SRID, which WKT does not carry
		return n, nil
	case opZipped:
		b, n, err := readLen(data, p.lenSize)
		if err != nil {
			return 0, err
		}
		if p.conv == nil {
			if v.Text, d.arena, err = d.zip.value(d.arena, b, p.maxLen); err != nil {
				return 0, err
			}
			return n, nil
		}
		if b, d.zbuf, err = d.zip.value(d.zbuf[:0], b, p.maxLen); err != nil {
			return 0, err
		}
		start := len(d.arena)
		if d.arena, err = p.conv.appendUTF8(d.arena, b); err != nil {
			return 0, err
		}
		v.Text = d.arena[start:len(d.arena):len(d.arena)]
		return n, nil
	case opNullField:
		v.Kind = change.KindNull
		return 0, nil
	}
	return 0, fmt.Errorf("no decoder for op %d", p.op)
}
