package index

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

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
	op          byte   // elemInsert, elemUpdate or elemDelete
	pk, oldPK   []byte // canonical key text; nil when none (or, with isInt, not made)
	hasKey      bool   // the change has a key: pk, or intKey
	// isInt: the key is the integer intKey (one integer key column, within
	// ±maxRunKey), its text "[intKey]", made only if a key row needs it.
	isInt  bool
	intKey int64
	// bin: body is in the binary layout (elemBinary), with flags; else
	// it is the rest of a JSON element: ,"before":{..},"after":{..},"changed":[..]
	bin   bool
	flags byte
	body  []byte
}

// The binary layout of a block element (format version 3). An element
// starting with elemBinary is
//
//	elemBinary, uvarint tx, uvarint event number, uvarint table_id,
//	uvarint definition_id, op (elemInsert, elemUpdate, elemDelete), flags,
//	[flagPK: uvarint length, key text], [flagOldPK: uvarint length, key text],
//	[flagBefore: image], [flagAfter: image],
//	[flagChanged: uvarint count, uvarint column index × count]
//
// and an image is a uvarint count of values, then each value as
// appendValueBinary writes it (its kind, then the fields of the Value that
// format.AppendValue reads). Column names are not stored: a reader takes
// them from the element's table definition (table_versions), in whose
// column order the values are; the JSON objects it renders are byte for
// byte those of the JSON layout. With flagKeyOf the key text is not stored
// either: it
// is the key columns' values of the after image (the before image of a
// delete), as AppendKey writes them. An element starting with '{' is a
// JSON element (version 2, and tables whose definition does not read back
// the same, see Encoder.binary).
const (
	elemBinary = 0x01

	elemInsert = 1
	elemUpdate = 2
	elemDelete = 3

	flagBefore  = 1 << 0
	flagAfter   = 1 << 1
	flagChanged = 1 << 2
	flagPK      = 1 << 3
	flagKeyOf   = 1 << 4
	flagOldPK   = 1 << 5
)

// Encoder turns events into Rows. It is separate from the Writer so that
// encoding can run on another goroutine than the SQLite inserts.
type Encoder struct {
	names map[*change.Table][][]byte // table version → its columns' `"name":` JSON prefixes
	bin   map[*change.Table]bool     // table version → its changes use the binary layout
	lastT *change.Table              // the table version binary answered last, and its answer
	lastB bool
	buf   []byte // holds the Rows' bytes until Reset
}

// NewEncoder returns an Encoder.
func NewEncoder() *Encoder {
	return &Encoder{names: map[*change.Table][][]byte{}, bin: map[*change.Table]bool{}}
}

// binary reports whether the changes of table version t are stored in the
// binary layout: only when its stored definition reads back with the same
// column names and key (it always does for names in UTF-8), since readers
// take the names and the key columns from it.
func (e *Encoder) binary(t *change.Table) bool {
	if t == e.lastT {
		return e.lastB
	}
	b, ok := e.bin[t]
	if ok {
		e.lastT, e.lastB = t, b
		return b
	}
	def, err := definitionJSON(t)
	var back change.Table
	if err == nil {
		err = json.Unmarshal([]byte(def), &back)
	}
	b = err == nil && len(back.Columns) == len(t.Columns) && slices.Equal(back.PrimaryKey, t.PrimaryKey)
	for i := 0; b && i < len(t.Columns); i++ {
		b = back.Columns[i].Name == t.Columns[i].Name
	}
	e.bin[t] = b
	e.lastT, e.lastB = t, b
	return b
}

// Reset empties the buffer for the next Rows; the Rows encoded before are
// invalid afterwards (an Assembler copies a Row when it is added). Call it
// once per batch: the buffer grows until then.
func (e *Encoder) Reset() { e.buf = e.buf[:0] }

// Encode encodes an insert, update or delete; ok is false for other events.
func (e *Encoder) Encode(ev *change.Event) (r Row, ok bool, err error) {
	switch ev.Op {
	case change.OpInsert:
		r.typ, r.op = "insert", elemInsert
	case change.OpUpdate:
		r.typ, r.op = "update", elemUpdate
	case change.OpDelete:
		r.typ, r.op = "delete", elemDelete
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
	bin := e.binary(t)
	if k, ok := intKeyOf(t, keyRow); ok && bin {
		// One integer column: no text to write and parse back.
		r.hasKey, r.isInt, r.intKey = true, true, k
		if ev.Op == change.OpUpdate && ev.Before != nil {
			if kb, ok := intKeyOf(t, ev.Before); !ok || kb != k {
				start := len(e.buf)
				e.buf = AppendKey(e.buf, t, keyRow)
				r.pk = e.buf[start:]
				start = len(e.buf)
				e.buf = AppendKey(e.buf, t, ev.Before)
				if !bytes.Equal(e.buf[start:], r.pk) {
					r.oldPK = e.buf[start:]
				}
			}
		}
	} else if len(t.PrimaryKey) > 0 && keyRow != nil {
		r.hasKey = true
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
	if bin {
		e.encodeBinary(&r, ev, keyRow)
		return r, true, nil
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

// encodeBinary encodes the flags and the images of a change in the binary
// layout.
func (e *Encoder) encodeBinary(r *Row, ev *change.Event, keyRow []change.Value) {
	t := ev.Table
	r.bin = true
	if r.hasKey {
		// The key is the key columns' values of keyRow when they are all in
		// the image: the same AppendValue text, joined as AppendKey does.
		derived := true
		for _, c := range t.PrimaryKey {
			if c >= len(keyRow) || c >= len(t.Columns) || keyRow[c].Kind == change.KindMissing {
				derived = false
				break
			}
		}
		if derived {
			r.flags |= flagKeyOf
		} else {
			r.flags |= flagPK
		}
	}
	if r.oldPK != nil {
		r.flags |= flagOldPK
	}
	start := len(e.buf)
	if ev.Before != nil {
		r.flags |= flagBefore
		e.buf = appendImageBinary(e.buf, len(t.Columns), ev.Before)
	}
	if ev.After != nil {
		r.flags |= flagAfter
		e.buf = appendImageBinary(e.buf, len(t.Columns), ev.After)
	}
	if ev.Op == change.OpUpdate {
		r.flags |= flagChanged
		e.buf = appendChangedBinary(e.buf, t.Columns, ev.Before, ev.After)
	}
	r.body = e.buf[start:]
}

// intKeyOf returns the key of row when it is one integer column within
// ±maxRunKey: its key text is "[k]" (format.AppendValue writes both kinds
// as their decimal digits).
func intKeyOf(t *change.Table, row []change.Value) (int64, bool) {
	if len(t.PrimaryKey) != 1 {
		return 0, false
	}
	c := t.PrimaryKey[0]
	if c >= len(row) || c >= len(t.Columns) {
		return 0, false
	}
	switch v := &row[c]; v.Kind {
	case change.KindInt:
		if v.Int >= -maxRunKey && v.Int <= maxRunKey {
			return v.Int, true
		}
	case change.KindUint:
		if v.Uint <= maxRunKey {
			return int64(v.Uint), true
		}
	}
	return 0, false
}

// appendChangedBinary appends the indexes of the columns appendChanged
// names: their count, then each, as uvarints.
func appendChangedBinary(buf []byte, cols []change.Column, before, after []change.Value) []byte {
	n := min(len(before), len(after), len(cols))
	count := 0
	for i := range n {
		if changed(before, after, i) {
			count++
		}
	}
	buf = binary.AppendUvarint(buf, uint64(count))
	for i := range n {
		if changed(before, after, i) {
			buf = binary.AppendUvarint(buf, uint64(i))
		}
	}
	return buf
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
	first := true
	for i := range min(len(before), len(after), len(cols)) {
		if !changed(before, after, i) {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = format.AppendJSONString(buf, cols[i].Name)
	}
	return append(buf, ']')
}

// changed reports whether column i differs between the images; a column
// missing from either is not counted as changed.
func changed(before, after []change.Value, i int) bool {
	b, a := &before[i], &after[i]
	return b.Kind != change.KindMissing && a.Kind != change.KindMissing && !sameValue(b, a)
}

func sameValue(a, b *change.Value) bool {
	return a.Kind == b.Kind && a.Int == b.Int && a.Uint == b.Uint &&
		math.Float64bits(a.Float) == math.Float64bits(b.Float) && bytes.Equal(a.Text, b.Text)
}
