package format

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/bintap/bintap/internal/change"
)

// MaxScale encodes events as MaxScale KafkaCDC JSON: a schema record before
// the first row of each table version, then one record per row image. Unlike
// MaxScale's own router, values are exact (DESIGN.md).
type MaxScale struct {
	binary     BinaryEncoding
	sendSchema bool
	// sent holds the table versions whose schema record was written;
	// lastSent is one of them (or nil).
	sent     map[*change.Table]bool
	lastSent *change.Table
	// keys holds each table version's names and column keys, escaped once.
	keys      map[*change.Table]*maxScaleKeys
	lastTable *change.Table
	lastKeys  *maxScaleKeys
	// head is the record's start up to "event_number": for the transaction
	// headTx (its fields, compared by value: a Tx may be reused).
	head   []byte
	headTx change.Tx
	// mid is from "timestamp" to the last column key's start, for midKey.
	mid    []byte
	midKey midKey
}

// midKey is what the middle part of a row record depends on.
type midKey struct {
	ts       uint32
	typ      string
	table    *change.Table
	snapshot bool
}

// maxScaleKeys are the parts of a row record that depend only on the table
// version, already JSON-escaped.
type maxScaleKeys struct {
	names []byte   // ,"table_schema":"db","table_name":"t"
	cols  [][]byte // ,"col": for each column
	// short holds cols as two little-endian words each, when every one is
	// at most 16 bytes (most names): row stores them whole at the end of
	// its output and advances by their length, without a copy call.
	short []shortKey
}

// shortKey is a column key of at most 16 bytes, zero-padded.
type shortKey struct {
	lo, hi uint64
	n      int
}

func (m *MaxScale) keysOf(t *change.Table) *maxScaleKeys {
	if t == m.lastTable {
		return m.lastKeys
	}
	k := m.keys[t]
	if k == nil {
		k = &maxScaleKeys{cols: make([][]byte, len(t.Columns))}
		k.names = append(k.names, `,"table_schema":`...)
		k.names = appendStringS(k.names, t.Schema)
		k.names = append(k.names, `,"table_name":`...)
		k.names = appendStringS(k.names, t.Name)
		for i := range t.Columns {
			c := append([]byte{','}, appendStringS(nil, t.Columns[i].Name)...)
			k.cols[i] = append(c, ':')
		}
		k.short = make([]shortKey, len(k.cols))
		for i, c := range k.cols {
			if len(c) > 16 {
				k.short = nil
				break
			}
			var b [16]byte
			copy(b[:], c)
			k.short[i] = shortKey{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:]), len(c)}
		}
		if m.keys == nil {
			m.keys = map[*change.Table]*maxScaleKeys{}
		}
		m.keys[t] = k
	}
	m.lastTable, m.lastKeys = t, k
	return k
}

// NewMaxScale returns an encoder. binary is "hex" or "base64".
func NewMaxScale(binary string, sendSchema bool) *MaxScale {
	return &MaxScale{binary: ParseBinaryEncoding(binary), sendSchema: sendSchema, sent: map[*change.Table]bool{}}
}

// Append appends the records of ev, each terminated by '\n'.
func (m *MaxScale) Append(dst []byte, ev *change.Event) []byte {
	switch ev.Op {
	case change.OpInsert, change.OpRead:
		dst = m.schemaOnce(dst, ev.Table)
		dst = m.row(dst, ev, "insert", ev.EventNumber, ev.After)
	case change.OpUpdate:
		dst = m.schemaOnce(dst, ev.Table)
		dst = m.row(dst, ev, "update_before", ev.EventNumber, ev.Before)
		dst = m.row(dst, ev, "update_after", ev.EventNumber+1, ev.After)
	case change.OpDelete:
		dst = m.schemaOnce(dst, ev.Table)
		dst = m.row(dst, ev, "delete", ev.EventNumber, ev.Before)
	case change.OpSchema:
		dst = m.schemaOnce(dst, ev.Table)
	}
	return dst
}

// Fork returns an encoder for another goroutine that writes the records of
// the events Independent accepts exactly as m does (pipeline.Forker).
func (m *MaxScale) Fork() interface {
	Append(dst []byte, ev *change.Event) []byte
} {
	return &MaxScale{binary: m.binary} // no schema records: Independent events need none
}

// Independent reports whether the records of ev depend on no earlier event:
// its table's schema record is written already, or none is sent.
func (m *MaxScale) Independent(ev *change.Event) bool {
	if !m.sendSchema || ev.Table == nil || ev.Table == m.lastSent {
		return true
	}
	if m.sent[ev.Table] {
		m.lastSent = ev.Table // asked for every event of a batch: one map lookup per run of a table
		return true
	}
	return false
}

func (m *MaxScale) schemaOnce(dst []byte, t *change.Table) []byte {
	if !m.sendSchema || t == m.lastSent {
		return dst
	}
	if m.sent[t] {
		m.lastSent = t
		return dst
	}
	m.sent[t] = true
	return AppendMaxScaleSchema(dst, t)
}

func (m *MaxScale) row(dst []byte, ev *change.Event, typ string, number uint64, row []change.Value) []byte {
	tx := ev.Tx
	// The parts that are the same for every row of a transaction and table
	// are rendered once.
	if m.head == nil || tx.Domain != m.headTx.Domain || tx.ServerID != m.headTx.ServerID ||
		tx.Sequence != m.headTx.Sequence || tx.GTID != m.headTx.GTID {
		m.headTx = change.Tx{Domain: tx.Domain, ServerID: tx.ServerID, Sequence: tx.Sequence, GTID: tx.GTID}
		h := append(m.head[:0], `{"domain":`...)
		h = strconv.AppendUint(h, uint64(tx.Domain), 10)
		h = append(h, `,"server_id":`...)
		h = strconv.AppendUint(h, uint64(tx.ServerID), 10)
		h = append(h, `,"sequence":`...)
		h = strconv.AppendUint(h, tx.Sequence, 10)
		if tx.Domain == 0 && isMySQLGTID(tx.GTID) {
			h = append(h, `,"gtid":`...)
			h = appendStringS(h, tx.GTID)
		}
		m.head = append(h, `,"event_number":`...)
	}
	dst = append(dst, m.head...)
	dst = AppendUint(dst, number)
	k := m.keysOf(ev.Table)
	if mk := (midKey{tx.Timestamp, typ, ev.Table, ev.Snapshot}); m.mid == nil || mk != m.midKey {
		m.midKey = mk
		h := append(m.mid[:0], `,"timestamp":`...)
		h = strconv.AppendUint(h, uint64(tx.Timestamp), 10)
		h = append(h, `,"event_type":"`...)
		h = append(h, typ...)
		h = append(h, '"')
		h = append(h, k.names...)
		if ev.Snapshot {
			h = append(h, `,"snapshot":true`...)
		}
		m.mid = h
	}
	dst = append(dst, m.mid...)
	if short := k.short; len(short) >= len(row) {
		short = short[:len(row)]
		for i := range row {
			if cap(dst)-len(dst) < 16 {
				dst = grow(dst, 16)
			}
			n := len(dst)
			b := dst[n : n+16]
			binary.LittleEndian.PutUint64(b, short[i].lo)
			binary.LittleEndian.PutUint64(b[8:], short[i].hi)
			dst = dst[:n+short[i].n]
			dst = appendValue(dst, &row[i], m.binary)
		}
		return append(dst, '}', '\n')
	}
	for i := range row {
		dst = append(dst, k.cols[i]...)
		dst = appendValue(dst, &row[i], m.binary)
	}
	return append(dst, '}', '\n')
}

// isMySQLGTID reports whether g looks like "uuid:n" rather than MariaDB's "d-s-n".
func isMySQLGTID(g string) bool {
	for i := 0; i < len(g); i++ {
		if g[i] == ':' {
			return true
		}
	}
	return false
}

// AppendMaxScaleSchema appends the schema record of one table version.
func AppendMaxScaleSchema(dst []byte, t *change.Table) []byte {
	dst = append(dst, `{"namespace":"MaxScaleChangeDataSchema.avro","type":"record","name":"ChangeRecord","table":`...)
	dst = appendStringS(dst, t.Name)
	dst = append(dst, `,"database":`...)
	dst = appendStringS(dst, t.Schema)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, int64(t.Version), 10)
	dst = append(dst, `,"gtid":`...)
	dst = appendStringS(dst, t.GTID)
	dst = append(dst, `,"fields":[`...)
	dst = append(dst, `{"name":"domain","type":"int"},{"name":"server_id","type":"int"},{"name":"sequence","type":"int"},`...)
	dst = append(dst, `{"name":"event_number","type":"int"},{"name":"timestamp","type":"int"},`...)
	dst = append(dst, `{"name":"event_type","type":{"type":"enum","name":"EVENT_TYPES","symbols":["insert","update_before","update_after","delete"]}}`...)
	for i := range t.Columns {
		c := &t.Columns[i]
		dst = append(dst, `,{"name":`...)
		dst = appendStringS(dst, c.Name)
		dst = append(dst, `,"type":["null",`...)
		dst = appendStringS(dst, avroType(c))
		dst = append(dst, `],"real_type":`...)
		dst = appendStringS(dst, c.Type)
		dst = append(dst, `,"length":`...)
		dst = strconv.AppendInt(dst, int64(c.Length), 10)
		dst = append(dst, `,"unsigned":`...)
		dst = strconv.AppendBool(dst, c.Unsigned)
		if c.Type == "decimal" {
			dst = append(dst, `,"precision":`...)
			dst = strconv.AppendInt(dst, int64(c.Precision), 10)
			dst = append(dst, `,"scale":`...)
			dst = strconv.AppendInt(dst, int64(c.Scale), 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}\n"...)
}

// avroType is the Avro primitive a column's JSON value fits.
func avroType(c *change.Column) string {
	switch c.Type {
	case "tinyint", "smallint", "mediumint", "year":
		return "int"
	case "int", "integer":
		if c.Unsigned {
			return "long"
		}
		return "int"
	case "bigint", "bit":
		return "long"
	case "float":
		return "float"
	case "double", "real", "decimal", "numeric":
		return "double"
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return "bytes"
	}
	return "string"
}

// AppendMessages appends the records of ev as messages: the schema record
// (when one is due) as a MessageSchema, then one message per row image,
// with Key nil so the destination applies its key mode.
func (m *MaxScale) AppendMessages(buf []byte, out []Message, ev *change.Event) ([]byte, []Message) {
	if t := ev.Table; t != nil && m.sendSchema && !m.sent[t] {
		m.sent[t] = true
		start := len(buf)
		buf = AppendMaxScaleSchema(buf, t)
		out = append(out, Message{Kind: MessageSchema, Table: t, Value: buf[start : len(buf)-1 : len(buf)-1]})
	}
	start := len(buf)
	buf = m.Append(buf, ev)
	for start < len(buf) {
		end := start + bytes.IndexByte(buf[start:], '\n') // every record ends with one
		out = append(out, Message{Kind: MessageData, Table: ev.Table, Value: buf[start:end:end]})
		start = end + 1
	}
	return buf, out
}
