package binlog

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// MariaDB COMPRESSED columns (10.3+: VARCHAR/VARBINARY and the TEXT/BLOB
// types declared COMPRESSED) have binlog types of their own in the TABLE_MAP:
//
//	140 MYSQL_TYPE_BLOB_COMPRESSED     metadata: 1 byte, the length prefix size (1..4), as BLOB
//	141 MYSQL_TYPE_VARCHAR_COMPRESSED  metadata: 2 bytes, the field length in bytes + 1, as VARCHAR
//
// A value in a row image is length-prefixed like its plain type; the bytes
// are the stored form, not the value. An empty value is zero bytes. Any
// other value starts with a header byte: high nibble 0 = stored as it is
// (the value follows the header); high nibble 8 = zlib: the low three bits
// give how many bytes (big-endian) hold the original length, bit 3 is set
// when the deflate stream is raw (column_compression_zlib_wrap=OFF, the
// default) and clear when it has a zlib wrapper. The length bytes follow the
// header, then the deflate stream (MariaDB sql/field_comp.cc).
const (
	typeBlobCompressed    byte = 140
	typeVarcharCompressed byte = 141
)

func isCompressedType(tp byte) bool {
	return tp == typeBlobCompressed || tp == typeVarcharCompressed
}

func hasCompressed(tm *replication.TableMapEvent) bool {
	for _, tp := range tm.ColumnType {
		if isCompressedType(tp) {
			return true
		}
	}
	return false
}

// metaSize is the number of metadata bytes a column of binlog type tp has in
// a TABLE_MAP, or -1 for a type that cannot appear there.
func metaSize(tp byte, compressedKnown bool) int {
	switch tp {
	case mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_NEWDECIMAL,
		mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_BIT:
		return 2
	case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_DOUBLE, mysql.MYSQL_TYPE_FLOAT,
		mysql.MYSQL_TYPE_GEOMETRY, mysql.MYSQL_TYPE_VECTOR, mysql.MYSQL_TYPE_JSON,
		mysql.MYSQL_TYPE_TIME2, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIMESTAMP2:
		return 1
	case typeVarcharCompressed:
		if compressedKnown {
			return 2
		}
	case typeBlobCompressed:
		if compressedKnown {
			return 1
		}
	case mysql.MYSQL_TYPE_NEWDATE, mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET,
		mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB:
		return -1
	}
	return 0
}

// decodeColumnMeta reads the metadata block of a TABLE_MAP for the column
// types: every type takes its own number of bytes (compressedKnown false
// reads as go-mysql does, giving MariaDB's compressed types none).
func decodeColumnMeta(types []byte, block []byte, compressedKnown bool) ([]uint16, int, error) {
	meta := make([]uint16, len(types))
	pos := 0
	for i, tp := range types {
		n := metaSize(tp, compressedKnown)
		if n < 0 {
			return nil, 0, fmt.Errorf("column %d has binlog type %d, which a TABLE_MAP cannot hold", i+1, tp)
		}
		if pos+n > len(block) {
			return nil, 0, fmt.Errorf("column %d: metadata block of %d bytes ends early", i+1, len(block))
		}
		switch {
		case n == 1:
			meta[i] = uint16(block[pos])
		case n == 2 && (tp == mysql.MYSQL_TYPE_STRING || tp == mysql.MYSQL_TYPE_NEWDECIMAL):
			meta[i] = uint16(block[pos])<<8 | uint16(block[pos+1])
		case n == 2:
			meta[i] = binary.LittleEndian.Uint16(block[pos:])
		}
		pos += n
	}
	return meta, pos, nil
}

// compressedView returns the table map to read column types and metadata
// from. go-mysql does not know MariaDB's compressed types: it gives them no
// metadata bytes, so the metadata of every later column is read from the
// wrong bytes, and its optional-metadata helpers (charsets, ENUM/SET members)
// skip them. For a table map with compressed columns, the view is a copy of
// tm whose ColumnMeta is read again from the event's metadata block with the
// right sizes and whose ColumnType has BLOB (for 140) and VARCHAR (for 141)
// in their place; compressed tells which columns those are. For any other
// table map, the view is tm itself and compressed is nil.
//
// The metadata block is found in the event bytes that follow ColumnType,
// which go-mysql leaves as a slice of the event: the block is accepted only
// if the null bitmap that follows it is the very NullBitmap slice go-mysql
// decoded, and if go-mysql's reading of the same block gives its ColumnMeta
// (or the right reading does: a go-mysql that knows these types).
func compressedView(tm *replication.TableMapEvent) (*replication.TableMapEvent, []bool, error) {
	if !hasCompressed(tm) {
		return tm, nil, nil
	}
	block, err := metaBlock(tm)
	if err != nil {
		return nil, nil, fmt.Errorf("table %s.%s has MariaDB COMPRESSED columns and bintap cannot read its TABLE_MAP column metadata: %w", tm.Schema, tm.Table, err)
	}
	meta, used, err := decodeColumnMeta(tm.ColumnType, block, true)
	if err == nil && used != len(block) {
		err = fmt.Errorf("metadata block has %d bytes, the columns use %d", len(block), used)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("table %s.%s: TABLE_MAP column metadata: %w", tm.Schema, tm.Table, err)
	}
	v := *tm
	v.ColumnMeta = meta
	v.ColumnType = make([]byte, len(tm.ColumnType))
	compressed := make([]bool, len(tm.ColumnType))
	for i, tp := range tm.ColumnType {
		switch tp {
		case typeBlobCompressed:
			tp = mysql.MYSQL_TYPE_BLOB
			compressed[i] = true
		case typeVarcharCompressed:
			tp = mysql.MYSQL_TYPE_VARCHAR
			compressed[i] = true
		}
		v.ColumnType[i] = tp
	}
	return &v, compressed, nil
}

var errNoMetaBlock = errors.New("the event bytes after the column types are not at hand")

// metaBlock finds the metadata block of tm in the event bytes (see
// compressedView).
func metaBlock(tm *replication.TableMapEvent) ([]byte, error) {
	n := len(tm.ColumnType)
	if n == 0 || len(tm.NullBitmap) == 0 {
		return nil, errNoMetaBlock
	}
	rest := tm.ColumnType[n:cap(tm.ColumnType)]
	size, isNull, m := lengthEncodedInt(rest)
	if m == 0 || isNull || uint64(len(rest)-m) < size {
		return nil, errNoMetaBlock
	}
	end := m + int(size)
	if end+len(tm.NullBitmap) > len(rest) || &rest[end] != &tm.NullBitmap[0] {
		return nil, errNoMetaBlock
	}
	block := rest[m:end:end]
	// go-mysql's ColumnMeta must be what it reads from this block (or,
	// should a later go-mysql know the compressed types, the right one).
	for _, known := range []bool{false, true} {
		if asRead, _, err := decodeColumnMeta(tm.ColumnType, block, known); err == nil && slices.Equal(asRead, tm.ColumnMeta) {
			return block, nil
		}
	}
	return nil, errNoMetaBlock
}

// inflater decompresses the values of compressed columns. It belongs to one
// TableDecoder and reuses its readers.
type inflater struct {
	src  bytes.Reader
	raw  io.ReadCloser // flate reader, raw deflate
	wrap io.ReadCloser // zlib reader
	one  [1]byte       // reads past the end (an array here does not escape per value)
}

// value returns the value of a compressed column whose stored bytes are b:
// b itself past its header when stored as it is, else the inflated bytes
// appended to dst (out is then dst[start:], with dst grown). maxLen bounds
// the original length, as the server does (the column's byte length).
func (z *inflater) value(dst, b []byte, maxLen uint64) (out, grown []byte, err error) {
	if len(b) == 0 {
		return b, dst, nil
	}
	h := b[0]
	switch h >> 4 {
	case 0:
		return b[1:len(b):len(b)], dst, nil
	case 8:
	default:
		return nil, dst, fmt.Errorf("compressed value with unknown compression method %d (header byte %#02x)", h>>4, h)
	}
	nl := int(h & 7)
	if nl == 0 || nl > 4 || len(b) < 1+nl {
		return nil, dst, fmt.Errorf("compressed value with a bad header (byte %#02x, %d bytes)", h, len(b))
	}
	var orig uint64
	for _, c := range b[1 : 1+nl] {
		orig = orig<<8 | uint64(c)
	}
	if orig > maxLen {
		return nil, dst, fmt.Errorf("compressed value says it holds %d bytes, more than the column's %d", orig, maxLen)
	}
	z.src.Reset(b[1+nl:])
	var r io.Reader
	if h&8 != 0 {
		if z.raw == nil {
			z.raw = flate.NewReader(&z.src)
		} else if err := z.raw.(flate.Resetter).Reset(&z.src, nil); err != nil {
			return nil, dst, fmt.Errorf("inflate compressed value: %w", err)
		}
		r = z.raw
	} else {
		if z.wrap == nil {
			if z.wrap, err = zlib.NewReader(&z.src); err != nil {
				z.wrap = nil
				return nil, dst, fmt.Errorf("inflate compressed value: %w", err)
			}
		} else if err := z.wrap.(zlib.Resetter).Reset(&z.src, nil); err != nil {
			return nil, dst, fmt.Errorf("inflate compressed value: %w", err)
		}
		r = z.wrap
	}
	start := len(dst)
	dst = grow(dst, int(orig))
	buf := dst[start : start+int(orig)]
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			// The stream ended before the length its header gives:
			// the server keeps what the stream holds.
			break
		}
		if err != nil {
			return nil, dst[:start], fmt.Errorf("inflate compressed value: %w", err)
		}
	}
	if n == len(buf) {
		if m, err := r.Read(z.one[:]); m != 0 || err != io.EOF {
			if err == nil || err == io.EOF {
				err = fmt.Errorf("it holds more than the %d bytes its header gives", orig)
			}
			return nil, dst[:start], fmt.Errorf("inflate compressed value: %w", err)
		}
	}
	dst = dst[:start+n]
	return dst[start : start+n : start+n], dst, nil
}

// grow extends b by n bytes of capacity and length.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
