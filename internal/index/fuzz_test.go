package index

import (
	"encoding/binary"
	"testing"

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
		parseBody(h.rest)
	})
}
