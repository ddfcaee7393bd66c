package format

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/bintap/bintap/internal/change"
)

// The Debezium format writes change events the way Debezium's MySQL and
// MariaDB connectors do (debezium-connector-binlog, serialised by Kafka
// Connect's JsonConverter): a key holding the primary key columns and a value
// holding the envelope {before, after, source, op, ts_ms, ts_us, ts_ns,
// transaction}, with or without the embedded Connect schema. Value
// representations follow BinlogValueConverters / JdbcValueConverters; the
// comments at each type name the Debezium class they follow.
//
// Differences from Debezium that come from what bintap captures are listed
// in README.md ("Debezium format"): source.thread and source.query are null
// where the binlog lacks them (query also unless --debezium-include-query),
// source.pos is the transaction's first event and source.row the row image
// number inside the transaction, column defaults are not in the schema.

// DebeziumOptions configure the Debezium encoder. The zero value of each
// mode is Debezium's default.
type DebeziumOptions struct {
	// TopicPrefix is Debezium's topic.prefix: source.name and the first part
	// of the schema names ({prefix}.{db}.{table}.Value).
	TopicPrefix string
	// Connector is "mysql" or "mariadb" (source.connector and the Source
	// schema name). Empty: taken from each transaction's GTID shape
	// ("uuid:n" is MySQL, "d-s-n" MariaDB), "mysql" without a GTID.
	Connector string
	// Version is written as source.version.
	Version string
	// DecimalHandling is decimal.handling.mode: precise (default), double or string.
	DecimalHandling string
	// BinaryHandling is binary.handling.mode: bytes (default), base64,
	// base64-url-safe or hex.
	BinaryHandling string
	// BigIntUnsignedHandling is bigint.unsigned.handling.mode: long (default) or precise.
	BigIntUnsignedHandling string
	// TimePrecision is time.precision.mode: adaptive_time_microseconds
	// (default) or connect.
	TimePrecision string
	// Tombstones is tombstones.on.delete: a delete is followed by a keyed
	// message with a null value (keyed outputs only).
	Tombstones bool
	// Schemas is the JsonConverter's schemas.enable: key and value are
	// {"schema":...,"payload":...}.
	Schemas bool
	// TransactionMetadata is provide.transaction.metadata: the transaction
	// block in each value, and BEGIN/END records (MessageTransaction).
	TransactionMetadata bool
	// Now is the processing clock for ts_ms/ts_us/ts_ns; time.Now when nil.
	Now func() time.Time
}

const (
	decimalPrecise = iota
	decimalDouble
	decimalString
)

const (
	binaryBytes = iota
	binaryBase64
	binaryBase64URL
	binaryHex
)

// Debezium encodes events as Debezium change events. It keeps per-table
// schemas and the open transaction's counters, so one Debezium serves one
// ordered stream.
type Debezium struct {
	opts     DebeziumOptions
	decimal  int
	binary   int
	precise  bool // bigint.unsigned.handling.mode=precise
	connect  bool // time.precision.mode=connect
	now      func() time.Time
	tables   map[*change.Table]*dbzTable
	tx       dbzTx
	scratch  []byte
	messages []Message
}

// dbzTable is what is computed once per table version.
type dbzTable struct {
	collection string    // "db.table", Debezium's data collection id
	keySchema  []byte    // the key's Connect schema (Schemas on)
	envSchema  [2][]byte // the value's Connect schema per connector (mysql, mariadb), built on first use
}

// dbzTx tracks the open transaction for transaction metadata.
type dbzTx struct {
	open     bool
	ptr      *change.Tx
	file     string
	pos      uint32
	gtid     string
	id       string
	tsMs     int64
	total    uint64
	counts   map[string]uint64
	order    []string // data collections in first-seen order
	snapshot bool
}

// NewDebezium returns a Debezium encoder; it checks the mode names.
func NewDebezium(opts DebeziumOptions) (*Debezium, error) {
	d := &Debezium{opts: opts, now: opts.Now, tables: map[*change.Table]*dbzTable{}}
	if d.now == nil {
		d.now = time.Now
	}
	if d.opts.TopicPrefix == "" {
		d.opts.TopicPrefix = "bintap"
	}
	if d.opts.Version == "" {
		d.opts.Version = "bintap"
	}
	switch opts.DecimalHandling {
	case "", "precise":
		d.decimal = decimalPrecise
	case "double":
		d.decimal = decimalDouble
	case "string":
		d.decimal = decimalString
	default:
		return nil, fmt.Errorf("decimal handling %q: accepted values are precise, double, string", opts.DecimalHandling)
	}
	switch opts.BinaryHandling {
	case "", "bytes":
		d.binary = binaryBytes
	case "base64":
		d.binary = binaryBase64
	case "base64-url-safe":
		d.binary = binaryBase64URL
	case "hex":
		d.binary = binaryHex
	default:
		return nil, fmt.Errorf("binary handling %q: accepted values are bytes, base64, base64-url-safe, hex", opts.BinaryHandling)
	}
	switch opts.BigIntUnsignedHandling {
	case "", "long":
	case "precise":
		d.precise = true
	default:
		return nil, fmt.Errorf("bigint unsigned handling %q: accepted values are long, precise", opts.BigIntUnsignedHandling)
	}
	switch opts.TimePrecision {
	case "", "adaptive_time_microseconds":
	case "connect":
		d.connect = true
	default:
		return nil, fmt.Errorf("time precision %q: accepted values are adaptive_time_microseconds, connect", opts.TimePrecision)
	}
	switch opts.Connector {
	case "", "mysql", "mariadb":
	default:
		return nil, fmt.Errorf("connector %q: accepted values are mysql, mariadb", opts.Connector)
	}
	return d, nil
}

// Append appends one JSON line per record value of ev, for line outputs
// (stdout, files): data records and, with transaction metadata on, the
// BEGIN/END records. Keys and tombstones are not written.
func (d *Debezium) Append(dst []byte, ev *change.Event) []byte {
	d.scratch, d.messages = d.AppendMessages(d.scratch[:0], d.messages[:0], ev)
	return d.appendLines(dst)
}

// AppendTransactionEnd appends the END record of the open transaction as a
// line (see EndTransaction).
func (d *Debezium) AppendTransactionEnd(dst []byte) []byte {
	d.scratch, d.messages = d.EndTransaction(d.scratch[:0], d.messages[:0])
	return d.appendLines(dst)
}

func (d *Debezium) appendLines(dst []byte) []byte {
	for i := range d.messages {
		if v := d.messages[i].Value; v != nil {
			dst = append(dst, v...)
			dst = append(dst, '\n')
		}
	}
	clear(d.messages) // drop references into scratch and tables
	return dst
}

// AppendMessages appends the messages of ev (MessageEncoder):
//   - insert/read: one record, op "c" / "r";
//   - update: one record, op "u"; when the primary key changes, a delete
//     record with the old key, its tombstone (if Tombstones) and a create
//     record with the new key, as Debezium does;
//   - delete: one record, op "d", then a tombstone (if Tombstones);
//   - schema and heartbeat events: nothing.
//
// With TransactionMetadata, the first event of a transaction is preceded
// by the previous transaction's END record (if still open) and the new
// transaction's BEGIN record (MessageTransaction, keyed {"id":...}).
// Tables without a primary key get NullKey messages (Debezium's null key).
func (d *Debezium) AppendMessages(buf []byte, out []Message, ev *change.Event) ([]byte, []Message) {
	var op byte
	switch ev.Op {
	case change.OpInsert:
		op = 'c'
	case change.OpRead:
		op = 'r'
	case change.OpUpdate:
		op = 'u'
	case change.OpDelete:
		op = 'd'
	default:
		return buf, out
	}
	t := d.table(ev.Table)
	if d.opts.TransactionMetadata {
		buf, out = d.trackTx(buf, out, ev)
	}
	switch op {
	case 'c', 'r':
		buf, out = d.record(buf, out, ev, t, op, nil, ev.After)
	case 'd':
		buf, out = d.record(buf, out, ev, t, 'd', ev.Before, nil)
	case 'u':
		if len(ev.Table.PrimaryKey) > 0 && !d.sameKey(ev.Table, ev.Before, ev.After) {
			buf, out = d.record(buf, out, ev, t, 'd', ev.Before, nil)
			buf, out = d.record(buf, out, ev, t, 'c', nil, ev.After)
		} else {
			buf, out = d.record(buf, out, ev, t, 'u', ev.Before, ev.After)
		}
	}
	return buf, out
}

// EndTransaction appends the END record of the open transaction, if any
// (transaction metadata only). Debezium writes END at the transaction's
// COMMIT; bintap's encoder sees rows only, so a destination calls this when
// a batch ends on a transaction boundary (its checkpoint has Skip == 0).
// Otherwise END is written when the next transaction's first event arrives.
func (d *Debezium) EndTransaction(buf []byte, out []Message) ([]byte, []Message) {
	if !d.opts.TransactionMetadata || !d.tx.open {
		return buf, out
	}
	tx := &d.tx
	tx.open = false
	keyStart := len(buf)
	buf = d.appendTxKey(buf, tx.id)
	keyEnd := len(buf)
	if d.opts.Schemas {
		buf = append(buf, `{"schema":`...)
		buf = appendTxValueSchema(buf)
		buf = append(buf, `,"payload":`...)
	}
	buf = append(buf, `{"status":"END","id":`...)
	buf = appendStringS(buf, tx.id)
	buf = append(buf, `,"event_count":`...)
	buf = strconv.AppendUint(buf, tx.total, 10)
	buf = append(buf, `,"data_collections":[`...)
	for i, c := range tx.order {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"data_collection":`...)
		buf = appendStringS(buf, c)
		buf = append(buf, `,"event_count":`...)
		buf = strconv.AppendUint(buf, tx.counts[c], 10)
		buf = append(buf, '}')
	}
	buf = append(buf, `],"ts_ms":`...)
	buf = strconv.AppendInt(buf, tx.tsMs, 10)
	buf = append(buf, '}')
	if d.opts.Schemas {
		buf = append(buf, '}')
	}
	out = append(out, Message{Kind: MessageTransaction, Key: buf[keyStart:keyEnd:keyEnd], Value: buf[keyEnd:len(buf):len(buf)]})
	return buf, out
}

// trackTx emits END/BEGIN when ev starts a new transaction.
func (d *Debezium) trackTx(buf []byte, out []Message, ev *change.Event) ([]byte, []Message) {
	tx := ev.Tx
	if tx == nil {
		return buf, out
	}
	if d.tx.open && (d.tx.ptr == tx || d.tx.file == tx.File && d.tx.pos == tx.Pos && d.tx.gtid == tx.GTID) {
		d.tx.ptr = tx
		return buf, out
	}
	buf, out = d.EndTransaction(buf, out)
	d.tx = dbzTx{open: true, ptr: tx, file: tx.File, pos: tx.Pos, gtid: tx.GTID, id: txID(tx),
		tsMs: int64(tx.Timestamp) * 1000, counts: d.tx.counts, order: d.tx.order[:0]}
	if d.tx.counts == nil {
		d.tx.counts = map[string]uint64{}
	}
	clear(d.tx.counts)
	keyStart := len(buf)
	buf = d.appendTxKey(buf, d.tx.id)
	keyEnd := len(buf)
	if d.opts.Schemas {
		buf = append(buf, `{"schema":`...)
		buf = appendTxValueSchema(buf)
		buf = append(buf, `,"payload":`...)
	}
	buf = append(buf, `{"status":"BEGIN","id":`...)
	buf = appendStringS(buf, d.tx.id)
	buf = append(buf, `,"event_count":null,"data_collections":null,"ts_ms":`...)
	buf = strconv.AppendInt(buf, d.tx.tsMs, 10)
	buf = append(buf, '}')
	if d.opts.Schemas {
		buf = append(buf, '}')
	}
	out = append(out, Message{Kind: MessageTransaction, Key: buf[keyStart:keyEnd:keyEnd], Value: buf[keyEnd:len(buf):len(buf)]})
	return buf, out
}

// txID is Debezium's transaction id: the GTID, or "file=F,pos=P" of the
// transaction's first event without GTIDs (BinlogOffsetContext).
func txID(tx *change.Tx) string {
	if tx.GTID != "" {
		return tx.GTID
	}
	return "file=" + tx.File + ",pos=" + strconv.FormatUint(uint64(tx.Pos), 10)
}

func (d *Debezium) appendTxKey(buf []byte, id string) []byte {
	if d.opts.Schemas {
		buf = append(buf, `{"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"id"}],"optional":false,"name":"io.debezium.connector.common.TransactionMetadataKey","version":1},"payload":`...)
	}
	buf = append(buf, `{"id":`...)
	buf = appendStringS(buf, id)
	buf = append(buf, '}')
	if d.opts.Schemas {
		buf = append(buf, '}')
	}
	return buf
}

// appendTxValueSchema is SchemaFactory.transactionValueSchema.
func appendTxValueSchema(buf []byte) []byte {
	return append(buf, `{"type":"struct","fields":[{"type":"string","optional":false,"field":"status"},{"type":"string","optional":false,"field":"id"},{"type":"int64","optional":true,"field":"event_count"},{"type":"array","items":{"type":"struct","fields":[{"type":"string","optional":false,"field":"data_collection"},{"type":"int64","optional":false,"field":"event_count"}],"optional":true,"name":"event.collection","version":1},"optional":true,"field":"data_collections"},{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"name":"io.debezium.connector.common.TransactionMetadataValue","version":1}`...)
}

// sameKey reports whether the primary key columns are equal in both images.
func (d *Debezium) sameKey(t *change.Table, before, after []change.Value) bool {
	for _, i := range t.PrimaryKey {
		if i >= len(before) || i >= len(after) {
			return true
		}
		a, b := &before[i], &after[i]
		if a.Kind != b.Kind || a.Int != b.Int || a.Uint != b.Uint || a.Float != b.Float || !bytes.Equal(a.Text, b.Text) {
			return false
		}
	}
	return true
}

// record appends one data record (and its tombstone after a delete).
func (d *Debezium) record(buf []byte, out []Message, ev *change.Event, t *dbzTable, op byte, before, after []change.Value) ([]byte, []Message) {
	tbl := ev.Table
	keyRow := after
	if keyRow == nil {
		keyRow = before
	}
	var key []byte
	nullKey := len(tbl.PrimaryKey) == 0
	if !nullKey {
		start := len(buf)
		if d.opts.Schemas {
			buf = append(buf, `{"schema":`...)
			buf = append(buf, t.keySchema...)
			buf = append(buf, `,"payload":`...)
		}
		buf = append(buf, '{')
		for n, i := range tbl.PrimaryKey {
			if n > 0 {
				buf = append(buf, ',')
			}
			buf = appendStringS(buf, tbl.Columns[i].Name)
			buf = append(buf, ':')
			if i < len(keyRow) {
				buf = d.appendValue(buf, &tbl.Columns[i], &keyRow[i])
			} else {
				buf = append(buf, "null"...)
			}
		}
		buf = append(buf, '}')
		if d.opts.Schemas {
			buf = append(buf, '}')
		}
		key = buf[start:len(buf):len(buf)]
	}

	start := len(buf)
	if d.opts.Schemas {
		conn := d.connector(ev.Tx)
		i := 0
		if conn == "mariadb" {
			i = 1
		}
		if t.envSchema[i] == nil {
			t.envSchema[i] = d.appendEnvelopeSchema(nil, tbl, conn)
		}
		buf = append(buf, `{"schema":`...)
		buf = append(buf, t.envSchema[i]...)
		buf = append(buf, `,"payload":`...)
	}
	buf = append(buf, `{"before":`...)
	buf = d.appendRow(buf, tbl, before)
	buf = append(buf, `,"after":`...)
	buf = d.appendRow(buf, tbl, after)
	buf = append(buf, `,"source":`...)
	buf = d.appendSource(buf, ev)
	buf = append(buf, `,"op":"`...)
	buf = append(buf, op, '"')
	now := d.now()
	buf = append(buf, `,"ts_ms":`...)
	buf = strconv.AppendInt(buf, now.UnixMilli(), 10)
	buf = append(buf, `,"ts_us":`...)
	buf = strconv.AppendInt(buf, now.UnixMicro(), 10)
	buf = append(buf, `,"ts_ns":`...)
	buf = strconv.AppendInt(buf, now.UnixNano(), 10)
	buf = append(buf, `,"transaction":`...)
	if d.opts.TransactionMetadata && d.tx.open && ev.Tx != nil {
		tx := &d.tx
		tx.total++
		n, seen := tx.counts[t.collection]
		if !seen {
			tx.order = append(tx.order, t.collection)
		}
		n++
		tx.counts[t.collection] = n
		buf = append(buf, `{"id":`...)
		buf = appendStringS(buf, tx.id)
		buf = append(buf, `,"total_order":`...)
		buf = strconv.AppendUint(buf, tx.total, 10)
		buf = append(buf, `,"data_collection_order":`...)
		buf = strconv.AppendUint(buf, n, 10)
		buf = append(buf, '}')
	} else {
		buf = append(buf, "null"...)
	}
	buf = append(buf, '}')
	if d.opts.Schemas {
		buf = append(buf, '}')
	}
	out = append(out, Message{Kind: MessageData, Table: tbl, Key: key, NullKey: nullKey, Value: buf[start:len(buf):len(buf)]})
	if op == 'd' && d.opts.Tombstones {
		out = append(out, Message{Kind: MessageData, Table: tbl, Key: key, NullKey: nullKey})
	}
	return buf, out
}

func (d *Debezium) appendRow(buf []byte, t *change.Table, row []change.Value) []byte {
	if row == nil {
		return append(buf, "null"...)
	}
	buf = append(buf, '{')
	for i := range row {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendStringS(buf, t.Columns[i].Name)
		buf = append(buf, ':')
		buf = d.appendValue(buf, &t.Columns[i], &row[i])
	}
	return append(buf, '}')
}

// connector is source.connector for ev's transaction.
func (d *Debezium) connector(tx *change.Tx) string {
	if d.opts.Connector != "" {
		return d.opts.Connector
	}
	if tx != nil && tx.GTID != "" && !isMySQLGTID(tx.GTID) {
		return "mariadb"
	}
	return "mysql"
}

// appendSource writes the source block in the field order of
// BinlogSourceInfoStructMaker's schema.
func (d *Debezium) appendSource(buf []byte, ev *change.Event) []byte {
	tx := ev.Tx
	if tx == nil {
		tx = &change.Tx{}
	}
	sec := int64(tx.Timestamp)
	buf = append(buf, `{"version":`...)
	buf = appendStringS(buf, d.opts.Version)
	buf = append(buf, `,"connector":"`...)
	buf = append(buf, d.connector(tx)...)
	buf = append(buf, `","name":`...)
	buf = appendStringS(buf, d.opts.TopicPrefix)
	buf = append(buf, `,"ts_ms":`...)
	buf = strconv.AppendInt(buf, sec*1000, 10)
	// SnapshotRecord: "true" for snapshot rows, "false" (the schema default)
	// while streaming. bintap does not mark a snapshot's last row.
	if ev.Snapshot {
		buf = append(buf, `,"snapshot":"true","db":`...)
	} else {
		buf = append(buf, `,"snapshot":"false","db":`...)
	}
	buf = appendStringS(buf, ev.Table.Schema)
	buf = append(buf, `,"sequence":null,"ts_us":`...)
	buf = strconv.AppendInt(buf, sec*1000000, 10)
	buf = append(buf, `,"ts_ns":`...)
	buf = strconv.AppendInt(buf, sec*1000000000, 10)
	buf = append(buf, `,"table":`...)
	buf = appendStringS(buf, ev.Table.Name)
	buf = append(buf, `,"server_id":`...)
	buf = strconv.AppendUint(buf, uint64(tx.ServerID), 10)
	buf = append(buf, `,"gtid":`...)
	if tx.GTID != "" {
		buf = appendStringS(buf, tx.GTID)
	} else {
		buf = append(buf, "null"...)
	}
	buf = append(buf, `,"file":`...)
	buf = appendStringS(buf, tx.File)
	buf = append(buf, `,"pos":`...)
	buf = strconv.AppendUint(buf, uint64(tx.Pos), 10)
	buf = append(buf, `,"row":`...)
	row := uint64(0)
	if ev.EventNumber > 0 {
		row = ev.EventNumber - 1
	}
	buf = strconv.AppendUint(buf, row, 10)
	// thread: from the binlog when it has it (MySQL transactions, DDL);
	// query: with include.query, when the binlog has it.
	buf = append(buf, `,"thread":`...)
	if tx.HasThread {
		buf = strconv.AppendUint(buf, uint64(tx.Thread), 10)
	} else {
		buf = append(buf, "null"...)
	}
	buf = append(buf, `,"query":`...)
	if ev.Query != "" {
		buf = appendStringS(buf, ev.Query)
	} else {
		buf = append(buf, "null"...)
	}
	return append(buf, '}')
}

// table returns the cached per-table data, building it on first use.
func (d *Debezium) table(t *change.Table) *dbzTable {
	if dt := d.tables[t]; dt != nil {
		return dt
	}
	dt := &dbzTable{collection: t.Schema + "." + t.Name}
	if d.opts.Schemas {
		dt.keySchema = d.appendKeySchema(nil, t)
	}
	d.tables[t] = dt
	return dt
}

// appendB64 appends b encoded with enc (no quotes).
func appendB64(dst, b []byte, enc *base64.Encoding) []byte {
	n := enc.EncodedLen(len(b))
	dst = grow(dst, n)
	enc.Encode(dst[len(dst):len(dst)+n], b)
	return dst[:len(dst)+n]
}

// appendBytesJSON writes bytes as Kafka Connect's JsonConverter writes a
// BYTES value: a base64 string.
func appendBytesJSON(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = appendB64(dst, b, base64.StdEncoding)
	return append(dst, '"')
}
