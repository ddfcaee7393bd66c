package index

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

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
	rest              []byte // the element from the first field after "type"
}

// errElement is a block element that is not what the writer writes.
var errElement = errors.New("malformed change in the index")

// parseHeader reads {"tx":T,"n":N,"t":TABLE,"d":DEF,"type":"X" from the
// start of an element.
func parseHeader(e []byte) (h header, err error) {
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
