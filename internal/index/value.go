package index

import (
	"encoding/binary"
	"math"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
)

// appendImageBinary appends a row image in the binary layout: the values
// of the first ncols columns (the JSON image leaves the others out too).
func appendImageBinary(dst []byte, ncols int, row []change.Value) []byte {
	n := min(len(row), ncols)
	dst = binary.AppendUvarint(dst, uint64(n))
	for i := 0; i < n; i++ {
		dst = appendValueBinary(dst, &row[i])
	}
	return dst
}

// valueRendered marks a value stored as its JSON text (a kind the binary
// layout does not know).
const valueRendered = 0xff

// appendValueBinary appends a value in the binary layout: its kind, then
// the fields format.AppendValue reads for that kind: nothing (null,
// missing), Int as a varint (integers, YEAR), Uint as a uvarint (unsigned,
// BIT), Float as 8 bytes (FLOAT, DOUBLE), or Text with its length (every
// other kind). A reader renders it with format.AppendValue of a Value with
// the same kind and fields, so the JSON text is the writer's byte for byte,
// without the writer formatting numbers or escaping strings. A kind it
// does not know is stored as its JSON text.
func appendValueBinary(dst []byte, v *change.Value) []byte {
	switch v.Kind {
	case change.KindNull, change.KindMissing:
		return append(dst, byte(v.Kind))
	case change.KindInt, change.KindYear:
		return binary.AppendVarint(append(dst, byte(v.Kind)), v.Int)
	case change.KindUint, change.KindBit:
		return binary.AppendUvarint(append(dst, byte(v.Kind)), v.Uint)
	case change.KindFloat, change.KindDouble:
		return binary.LittleEndian.AppendUint64(append(dst, byte(v.Kind)), math.Float64bits(v.Float))
	case change.KindDecimal, change.KindBytes, change.KindDate, change.KindTime, change.KindDateTime, change.KindTimestamp,
		change.KindString, change.KindEnum, change.KindSet, change.KindJSON, change.KindGeometry, change.KindUUID, change.KindInet:
		dst = binary.AppendUvarint(append(dst, byte(v.Kind)), uint64(len(v.Text)))
		return append(dst, v.Text...)
	}
	at := len(dst)
	dst = append(dst, valueRendered, 0) // the length, once known
	dst = format.AppendValue(dst, v, format.BinaryHex)
	l := uint64(len(dst) - at - 2)
	if l < 0x80 {
		dst[at+1] = byte(l)
		return dst
	}
	// A longer text: its length takes more bytes; move the text.
	var vb [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(vb[:], l)
	dst = append(dst, vb[:k-1]...)
	copy(dst[at+1+k:], dst[at+2:len(dst)-(k-1)])
	copy(dst[at+1:], vb[:k])
	return dst
}

// readValueBinary reads a value appendValueBinary wrote from p and appends
// its JSON text to dst; missing is true (and nothing appended) for a
// column missing from the image.
func readValueBinary(dst, p []byte) (out, rest []byte, missing bool, err error) {
	if len(p) == 0 {
		return dst, p, false, errElement
	}
	v := change.Value{Kind: change.Kind(p[0])}
	p = p[1:]
	switch v.Kind {
	case change.KindMissing:
		return dst, p, true, nil
	case change.KindNull:
	case change.KindInt, change.KindYear:
		x, k := binary.Varint(p)
		if k <= 0 {
			return dst, p, false, errElement
		}
		v.Int, p = x, p[k:]
	case change.KindUint, change.KindBit:
		x, k := binary.Uvarint(p)
		if k <= 0 {
			return dst, p, false, errElement
		}
		v.Uint, p = x, p[k:]
	case change.KindFloat, change.KindDouble:
		if len(p) < 8 {
			return dst, p, false, errElement
		}
		v.Float, p = math.Float64frombits(binary.LittleEndian.Uint64(p)), p[8:]
	case change.KindDecimal, change.KindBytes, change.KindDate, change.KindTime, change.KindDateTime, change.KindTimestamp,
		change.KindString, change.KindEnum, change.KindSet, change.KindJSON, change.KindGeometry, change.KindUUID, change.KindInet, valueRendered:
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return dst, p, false, errElement
		}
		v.Text, p = p[k:k+int(l)], p[k+int(l):]
		if v.Kind == valueRendered {
			return append(dst, v.Text...), p, false, nil
		}
	default:
		return dst, p, false, errElement
	}
	return format.AppendValue(dst, &v, format.BinaryHex), p, false, nil
}
