package binlog

import (
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
	"golang.org/x/text/transform"
)

// converter turns column bytes in one character set into UTF-8. A nil
// converter means the bytes are UTF-8 already.
type converter struct {
	table *byteTable            // single-byte character sets
	dec   transform.Transformer // multi-byte ones; owned by one TableDecoder
}

// byteTable maps every byte of a single-byte character set to UTF-8.
type byteTable struct {
	enc   [256][4]byte
	n     [256]uint8
	ascii bool // bytes below 0x80 map to themselves
}

var (
	tablesMu sync.Mutex
	tables   = map[string]*byteTable{} // immutable once built; built lazily
)

func singleByte(name string, cm *charmap.Charmap, mysqlLatin1 bool) *byteTable {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	if t, ok := tables[name]; ok {
		return t
	}
	t := &byteTable{ascii: true}
	for b := 0; b < 256; b++ {
		r := cm.DecodeByte(byte(b))
		if r == utf8.RuneError && mysqlLatin1 {
			// MySQL's latin1 is cp1252 with the five undefined bytes
			// mapped to the C1 controls of the same code.
			r = rune(b)
		}
		if b < 0x80 && r != rune(b) {
			t.ascii = false
		}
		t.n[b] = uint8(utf8.EncodeRune(t.enc[b][:], r))
	}
	tables[name] = t
	return t
}

func converterFor(cs string) (*converter, error) {
	var cm *charmap.Charmap
	var enc encoding.Encoding
	switch cs {
	case "", "utf8", "utf8mb3", "utf8mb4", "ascii":
		return nil, nil
	case "latin1":
		return &converter{table: singleByte(cs, charmap.Windows1252, true)}, nil
	case "latin2":
		cm = charmap.ISO8859_2
	case "latin5":
		cm = charmap.ISO8859_9
	case "latin7":
		cm = charmap.ISO8859_13
	case "greek":
		cm = charmap.ISO8859_7
	case "hebrew":
		cm = charmap.ISO8859_8
	case "cp1250":
		cm = charmap.Windows1250
	case "cp1251":
		cm = charmap.Windows1251
	case "cp1256":
		cm = charmap.Windows1256
	case "cp1257":
		cm = charmap.Windows1257
	case "koi8r":
		cm = charmap.KOI8R
	case "koi8u":
		cm = charmap.KOI8U
	case "cp850":
		cm = charmap.CodePage850
	case "cp852":
		cm = charmap.CodePage852
	case "cp866":
		cm = charmap.CodePage866
	case "macroman":
		cm = charmap.Macintosh
	case "tis620":
		cm = charmap.Windows874
	case "sjis", "cp932":
		enc = japanese.ShiftJIS
	case "ujis", "eucjpms":
		enc = japanese.EUCJP
	case "euckr":
		enc = korean.EUCKR
	case "gbk", "gb2312":
		enc = simplifiedchinese.GBK
	case "gb18030":
		enc = simplifiedchinese.GB18030
	case "big5":
		enc = traditionalchinese.Big5
	case "ucs2", "utf16":
		enc = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	case "utf16le":
		enc = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case "utf32":
		enc = utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM)
	default:
		return nil, fmt.Errorf("character set %q is not supported", cs)
	}
	if cm != nil {
		return &converter{table: singleByte(cs, cm, false)}, nil
	}
	return &converter{dec: enc.NewDecoder()}, nil
}

// TextToUTF8 converts text in the character set of collation id coll (as a
// binlog QUERY event gives character_set_client) to UTF-8. It returns the
// text unchanged when it is UTF-8 already, and an error when the character
// set is unknown or the text is not valid in it.
func TextToUTF8(coll uint64, text []byte) ([]byte, error) {
	cs := CharsetOfCollation(coll)
	conv, err := converterFor(cs)
	if err != nil || conv == nil {
		return text, err
	}
	return conv.appendUTF8(nil, text)
}

// appendUTF8 appends src converted to UTF-8 to dst.
func (c *converter) appendUTF8(dst, src []byte) ([]byte, error) {
	if t := c.table; t != nil {
		for _, b := range src {
			if b < 0x80 && t.ascii {
				dst = append(dst, b)
				continue
			}
			dst = append(dst, t.enc[b][:t.n[b]]...)
		}
		return dst, nil
	}
	c.dec.Reset()
	for {
		if cap(dst)-len(dst) < 2*len(src)+8 {
			dst = growBytes(dst, 4*len(src)+8)
		}
		nDst, nSrc, err := c.dec.Transform(dst[len(dst):cap(dst)], src, true)
		dst = dst[:len(dst)+nDst]
		src = src[nSrc:]
		if err == nil {
			return dst, nil
		}
		if !errors.Is(err, transform.ErrShortDst) {
			return dst, err
		}
	}
}

// growBytes returns b with room for at least n more bytes.
func growBytes(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}
