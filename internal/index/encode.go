package index

import (
	"bytes"
	"fmt"
	"math"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
)

// Row is one change encoded for the index: everything the event's values
// become. Its slices point into the Encoder's buffer, valid until the
// Encoder's next Reset.
type Row struct {
	Table       *change.Table
	Tx          *change.Tx
	EventNumber uint64
	typ         string
	pk, oldPK   []byte // canonical key text; nil when none
	// body is the rest of the block element: ,"before":{..},"after":{..},"changed":[..]
	body []byte
}

// Encoder turns events into Rows. It is separate from the Writer so that
// encoding can run on another goroutine than the SQLite inserts.
type Encoder struct {
	names map[*change.Table][][]byte // table version → its columns' `"name":` JSON prefixes
	buf   []byte                     // holds the Rows' bytes until Reset
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder { return &Encoder{names: map[*change.Table][][]byte{}} }

// Reset empties the buffer for the next Rows; the Rows encoded before are
// invalid afterwards (an Assembler copies a Row when it is added). Call it
// once per batch: the buffer grows until then.
func (e *Encoder) Reset() { e.buf = e.buf[:0] }

// Encode encodes an insert, update or delete; ok is false for other events.
func (e *Encoder) Encode(ev *change.Event) (r Row, ok bool, err error) {
	switch ev.Op {
	case change.OpInsert:
		r.typ = "insert"
	case change.OpUpdate:
		r.typ = "update"
	case change.OpDelete:
		r.typ = "delete"
	default:
		return r, false, nil
	}
	if ev.Table == nil || ev.Tx == nil {
		return r, false, fmt.Errorf("%s event without table or transaction", r.typ)
	}
	t := ev.Table
	r.Table, r.Tx, r.EventNumber = t, ev.Tx, ev.EventNumber
	keyRow := ev.After
	if ev.Op == change.OpDelete {
		keyRow = ev.Before
	}
	if len(t.PrimaryKey) > 0 && keyRow != nil {
		start := len(e.buf)
		e.buf = AppendKey(e.buf, t, keyRow)
		r.pk = e.buf[start:]
		if ev.Op == change.OpUpdate && ev.Before != nil {
			start = len(e.buf)
			e.buf = AppendKey(e.buf, t, ev.Before)
			if bytes.Equal(e.buf[start:], r.pk) {
				e.buf = e.buf[:start]
			} else {
				r.oldPK = e.buf[start:]
			}
		}
	}
	start := len(e.buf)
	if ev.Before != nil {
		e.buf = append(e.buf, `,"before":`...)
		e.buf = e.appendImage(e.buf, t, ev.Before)
	}
	if ev.After != nil {
		e.buf = append(e.buf, `,"after":`...)
		e.buf = e.appendImage(e.buf, t, ev.After)
	}
	if ev.Op == change.OpUpdate {
		e.buf = append(e.buf, `,"changed":`...)
		e.buf = appendChanged(e.buf, t.Columns, ev.Before, ev.After)
	}
	r.body = e.buf[start:]
	return r, true, nil
}

// appendImage writes a row image as format.AppendRowObject does, with the
// column names encoded once per table version rather than once per row.
func (e *Encoder) appendImage(dst []byte, t *change.Table, row []change.Value) []byte {
	names, ok := e.names[t]
	if !ok {
		names = make([][]byte, len(t.Columns))
		for i := range t.Columns {
			names[i] = append(format.AppendJSONString(nil, t.Columns[i].Name), ':')
		}
		e.names[t] = names
	}
	dst = append(dst, '{')
	first := true
	for i := range row {
		if row[i].Kind == change.KindMissing || i >= len(names) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, names[i]...)
		dst = format.AppendValue(dst, &row[i], format.BinaryHex)
	}
	return append(dst, '}')
}

// AppendKey appends the canonical key text of row: a JSON array of its
// primary key values in key order, such as [42] or ["a",7].
func AppendKey(dst []byte, t *change.Table, row []change.Value) []byte {
	dst = append(dst, '[')
	for i, c := range t.PrimaryKey {
		if i > 0 {
			dst = append(dst, ',')
		}
		if c < len(row) {
			dst = format.AppendValue(dst, &row[c], format.BinaryHex)
		}
	}
	return append(dst, ']')
}

// appendChanged appends the JSON array of the names of the columns whose
// value differs between the images (columns missing from either are left
// out).
func appendChanged(buf []byte, cols []change.Column, before, after []change.Value) []byte {
	buf = append(buf, '[')
	n := 0
	for i := range before {
		if i >= len(after) || i >= len(cols) {
			break
		}
		b, a := &before[i], &after[i]
		if b.Kind == change.KindMissing || a.Kind == change.KindMissing || sameValue(b, a) {
			continue
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		n++
		buf = format.AppendJSONString(buf, cols[i].Name)
	}
	return append(buf, ']')
}

func sameValue(a, b *change.Value) bool {
	return a.Kind == b.Kind && a.Int == b.Int && a.Uint == b.Uint &&
		math.Float64bits(a.Float) == math.Float64bits(b.Float) && bytes.Equal(a.Text, b.Text)
}
