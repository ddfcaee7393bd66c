package index

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
	"github.com/klauspost/compress/s2"
)

// storedBlock is a change_blocks row as read back.
type storedBlock struct {
	first, last int64
	text        []byte
	offsets     []byte
}

// element returns the JSON text of change id, nil when the block does not
// hold it.
func (b *storedBlock) element(id int64) []byte {
	if id < b.first || id > b.last {
		return nil
	}
	k := int(id - b.first)
	if 4*(k+1) > len(b.offsets) {
		return nil
	}
	start := int(binary.LittleEndian.Uint32(b.offsets[4*k:]))
	end := len(b.text) - 1 // the closing ']'
	if 4*(k+2) <= len(b.offsets) {
		end = int(binary.LittleEndian.Uint32(b.offsets[4*(k+1):])) - 1 // the ',' before the next
	}
	if start < 0 || start > end || end > len(b.text) {
		return nil
	}
	return b.text[start:end]
}

// blockReader reads blocks, keeping the last one read: lookups in change
// order hit the same block many times.
type blockReader struct {
	q    querier
	last *storedBlock
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// block returns the block holding change id, nil when none does (it was
// removed by retention).
func (r *blockReader) block(ctx context.Context, id int64) (*storedBlock, error) {
	if b := r.last; b != nil && id >= b.first && id <= b.last {
		return b, nil
	}
	b := &storedBlock{}
	var z []byte
	err := r.q.QueryRowContext(ctx, sqlBlockOf, id).Scan(&b.first, &b.last, &z, &b.offsets)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && b.last < id) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read changes: %w", err)
	}
	if b.text, err = s2.Decode(nil, z); err != nil {
		return nil, fmt.Errorf("read changes %d..%d: %w", b.first, b.last, err)
	}
	r.last = b
	return b, nil
}

// header is the leading part of a block element: enough to filter on
// before the images are looked at.
type header struct {
	tx, n, table, def int64
	typ               string
	rest              []byte // the element from the first field after "type" (binary: after the flags)
	bin               bool   // the binary layout (elemBinary)
	flags             byte   // binary: which parts follow
}

// errElement is a block element that is not what the writer writes.
var errElement = errors.New("malformed change in the index")

// parseHeader reads {"tx":T,"n":N,"t":TABLE,"d":DEF,"type":"X" from the
// start of an element.
func parseHeader(e []byte) (h header, err error) {
	if len(e) > 0 && e[0] == elemBinary {
		return parseBinaryHeader(e[1:])
	}
	p := e
	num := func(name string) int64 {
		if err != nil {
			return 0
		}
		if len(p) < len(name) || string(p[:len(name)]) != name {
			err = errElement
			return 0
		}
		p = p[len(name):]
		i := 0
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		v, perr := strconv.ParseInt(string(p[:i]), 10, 64)
		if perr != nil {
			err = errElement
		}
		p = p[i:]
		return v
	}
	h.tx = num(`{"tx":`)
	h.n = num(`,"n":`)
	h.table = num(`,"t":`)
	h.def = num(`,"d":`)
	if err != nil {
		return h, err
	}
	const typ = `,"type":"`
	if len(p) < len(typ) || string(p[:len(typ)]) != typ {
		return h, errElement
	}
	p = p[len(typ):]
	i := 0
	for i < len(p) && p[i] != '"' {
		i++
	}
	if i == len(p) {
		return h, errElement
	}
	switch string(p[:i]) {
	case "insert":
		h.typ = "insert"
	case "update":
		h.typ = "update"
	case "delete":
		h.typ = "delete"
	default:
		return h, errElement
	}
	h.rest = p[i+1:]
	return h, nil
}

// body is the rest of an element: keys, images and changed columns, as
// JSON text ("" when absent).
type body struct {
	PK      string          `json:"pk"`
	OldPK   string          `json:"old_pk"`
	Before  json.RawMessage `json:"before"`
	After   json.RawMessage `json:"after"`
	Changed json.RawMessage `json:"changed"`
}

// parseBody decodes the fields after "type".
func parseBody(rest []byte) (body, error) {
	var b body
	doc := []byte("{}") // rest is "}" when the element has no more fields
	if len(rest) > 0 && rest[0] == ',' {
		doc = append([]byte{'{'}, rest[1:]...)
	}
	if err := json.Unmarshal(doc, &b); err != nil {
		return b, fmt.Errorf("%w: %v", errElement, err)
	}
	return b, nil
}

// parseBinaryHeader reads tx, event number, table, definition, op and
// flags of a binary element (after its first byte).
func parseBinaryHeader(p []byte) (h header, err error) {
	var v [4]int64
	for i := range v {
		x, k := binary.Uvarint(p)
		if k <= 0 || x > math.MaxInt64 {
			return h, errElement
		}
		v[i], p = int64(x), p[k:]
	}
	if len(p) < 2 {
		return h, errElement
	}
	switch p[0] {
	case elemInsert:
		h.typ = "insert"
	case elemUpdate:
		h.typ = "update"
	case elemDelete:
		h.typ = "delete"
	default:
		return h, errElement
	}
	h.tx, h.n, h.table, h.def = v[0], v[1], v[2], v[3]
	h.bin, h.flags, h.rest = true, p[1], p[2:]
	return h, nil
}

// columns is what rendering binary elements takes from a table
// definition: the column names as JSON object keys (`"name":`) and the key
// columns.
type columns struct {
	names [][]byte
	pk    []int
}

func newColumns(t *change.Table) *columns {
	c := &columns{names: make([][]byte, len(t.Columns)), pk: t.PrimaryKey}
	for i := range t.Columns {
		c.names[i] = append(format.AppendJSONString(nil, t.Columns[i].Name), ':')
	}
	return c
}

// parseBinaryBody renders the key texts, images and changed columns of a
// binary element as the JSON layout holds them.
func parseBinaryBody(h *header, cols *columns) (body, error) {
	var b body
	p := h.rest
	text := func() ([]byte, bool) {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, false
		}
		v := p[k : k+int(l)]
		p = p[k+int(l):]
		return v, true
	}
	image := func() ([][]byte, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(cols.names)) {
			return nil, false
		}
		p = p[k:]
		vals := make([][]byte, n)
		for i := range vals {
			v, rest, missing, err := readValueBinary(nil, p)
			if err != nil {
				return nil, false
			}
			if !missing {
				vals[i] = v[:len(v):len(v)]
			}
			p = rest
		}
		return vals, true
	}
	var pk, oldPK []byte
	var before, after [][]byte
	ok := true
	if h.flags&flagPK != 0 && ok {
		pk, ok = text()
	}
	if h.flags&flagOldPK != 0 && ok {
		oldPK, ok = text()
	}
	if h.flags&flagBefore != 0 && ok {
		before, ok = image()
	}
	if h.flags&flagAfter != 0 && ok {
		after, ok = image()
	}
	var changed []byte
	if h.flags&flagChanged != 0 && ok {
		n, k := binary.Uvarint(p)
		ok = k > 0 && n <= uint64(len(cols.names))
		if ok {
			p = p[k:]
			changed = append(changed, '[')
			for i := uint64(0); i < n && ok; i++ {
				c, k := binary.Uvarint(p)
				if ok = k > 0 && c < uint64(len(cols.names)); ok {
					p = p[k:]
					if i > 0 {
						changed = append(changed, ',')
					}
					name := cols.names[c]
					changed = append(changed, name[:len(name)-1]...)
				}
			}
			changed = append(changed, ']')
		}
	}
	if !ok || len(p) != 0 || h.flags&(flagPK|flagKeyOf) == flagPK|flagKeyOf {
		return b, errElement
	}
	if h.flags&flagKeyOf != 0 {
		img := after
		if h.typ == "delete" {
			img = before
		}
		k := []byte{'['}
		for i, c := range cols.pk {
			if c >= len(img) || img[c] == nil {
				return b, errElement
			}
			if i > 0 {
				k = append(k, ',')
			}
			k = append(k, img[c]...)
		}
		pk = append(k, ']')
	}
	b.PK, b.OldPK, b.Changed = string(pk), string(oldPK), changed
	if h.flags&flagBefore != 0 {
		b.Before = renderImage(before, cols.names)
	}
	if h.flags&flagAfter != 0 {
		b.After = renderImage(after, cols.names)
	}
	return b, nil
}

// renderImage is a row image as a JSON object, as Encoder.appendImage
// writes it.
func renderImage(vals [][]byte, names [][]byte) []byte {
	n := 2
	for i, v := range vals {
		if v != nil {
			n += len(names[i]) + len(v) + 1
		}
	}
	dst := make([]byte, 0, n)
	dst = append(dst, '{')
	first := true
	for i, v := range vals {
		if v == nil {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, names[i]...)
		dst = append(dst, v...)
	}
	return append(dst, '}')
}
