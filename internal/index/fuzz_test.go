package index

import (
	"encoding/binary"
	"testing"

	"github.com/bintap/bintap/internal/change"
	"github.com/klauspost/compress/s2"
)

// FuzzBlock: a change_blocks row as read back (s2-compressed JSON array
// text, element offsets) from a damaged index: looking a change up, its
// header and its body give an error or a value, never a panic.
func FuzzBlock(f *testing.F) {
	text := []byte(`[{"tx":1,"n":1,"t":3,"d":4,"type":"insert","pk":"{\"id\":1}","after":{"id":1,"s":"x"}},{"tx":1,"n":2,"t":3,"d":4,"type":"update","pk":"{\"id\":1}","before":{"id":1},"after":{"id":2},"changed":["id"]},{"tx":2,"n":1,"t":3,"d":4,"type":"delete","pk":"{\"id\":2}","before":{"id":2}}]`)
	var offsets []byte
	for i, c := range text {
		if c == '{' && (text[i-1] == '[' || text[i-1] == ',') && text[i+1] == '"' && text[i+2] == 't' && text[i+3] == 'x' {
			offsets = binary.LittleEndian.AppendUint32(offsets, uint32(i))
		}
	}
	z := s2.Encode(nil, text)
	for id := int64(10); id <= 13; id++ {
		f.Add(z, offsets, int64(10), int64(12), id)
	}
	// The same changes in the binary layout.
	a := &Assembler{nextID: 10, tables: map[string]int64{}, defs: map[defKey]int64{}, versions: map[*change.Table]ids{}, enc: NewEncoder(),
		free: make(chan []byte, 1), zfree: make(chan []byte, 1)}
	tx := &change.Tx{GTID: "0-1-1", File: "f", Pos: 4}
	for i, ev := range []change.Event{
		{Op: change.OpInsert, Table: testTable, After: row(1, "x")},
		{Op: change.OpUpdate, Table: testTable, Before: row(1, "x"), After: row(2, "y\"é")},
		{Op: change.OpDelete, Table: testTable, Before: []change.Value{{Kind: change.KindMissing}, {Kind: change.KindString, Text: []byte("z")}}},
	} {
		ev.Tx, ev.EventNumber = tx, uint64(i+1)
		r, _, err := a.enc.Encode(&ev)
		if err != nil {
			f.Fatal(err)
		}
		if err := a.Add(&r); err != nil {
			f.Fatal(err)
		}
	}
	out := a.Take(true)
	out.Compress()
	for id := int64(10); id <= 13; id++ {
		f.Add(out.blocks[0].data, out.blocks[0].offsets, int64(10), int64(12), id)
	}
	cols := newColumns(testTable)
	f.Fuzz(func(t *testing.T, z, offsets []byte, first, last, id int64) {
		text, err := s2.Decode(nil, z)
		if err != nil {
			return
		}
		b := &storedBlock{first: first, last: last, text: text, offsets: offsets}
		e := b.element(id)
		if e == nil {
			return
		}
		h, err := parseHeader(e)
		if err != nil {
			return
		}
		if h.bin {
			parseBinaryBody(&h, cols)
		} else {
			parseBody(h.rest)
		}
	})
}
