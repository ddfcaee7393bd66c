// Package change is bintap's shared vocabulary: a row change (Event), its
// operation (Op), typed column values (Value), table definitions (Table,
// Column) and transaction positions (Tx). Every other package imports it; it
// imports nothing of bintap's own.
package change

import "strconv"

// Op is what an Event does.
type Op uint8

const (
	OpInsert    Op = iota + 1 // After holds the new row
	OpUpdate                  // Before and After hold the row before and after
	OpDelete                  // Before holds the removed row
	OpRead                    // a snapshot read: After holds the row
	OpSchema                  // a new table version: Table is the new definition
	OpHeartbeat               // no data; carries a position only
	OpTruncate                // TRUNCATE TABLE: every row of Table is gone
)

func (o Op) String() string {
	switch o {
	case OpInsert:
		return "insert"
	case OpUpdate:
		return "update"
	case OpDelete:
		return "delete"
	case OpRead:
		return "read"
	case OpSchema:
		return "schema"
	case OpHeartbeat:
		return "heartbeat"
	case OpTruncate:
		return "truncate"
	}
	return "unknown"
}

// Tx identifies the transaction an event belongs to. One Tx is shared by all
// events of a transaction.
type Tx struct {
	// GTID as the server prints it: "0-1-42" (MariaDB) or "uuid:42" (MySQL).
	// Empty when the server does not use GTIDs.
	GTID     string
	Domain   uint32 // MariaDB GTID domain; 0 for MySQL
	ServerID uint32 // server that wrote the transaction
	Sequence uint64 // MariaDB GTID sequence number, or the MySQL GTID's transaction number

	// File and Pos locate the first event of the transaction (its GTID or
	// BEGIN event): replication restarted there replays this transaction.
	File string
	Pos  uint32

	// Timestamp is the commit time in UNIX seconds (from the event header).
	Timestamp uint32

	// Thread is the id of the server thread (connection) that ran the
	// transaction, when HasThread: the binlog carries it in the QUERY
	// event that begins a MySQL transaction and in DDL statements;
	// MariaDB writes no such event for its row transactions.
	Thread    uint32
	HasThread bool
}

// Event is one row change (or a schema/heartbeat marker) with its position.
type Event struct {
	Op    Op
	Table *Table
	// Before and After are row images in table column order; nil when the
	// operation has no such image.
	Before, After []Value
	Tx            *Tx
	// EventNumber is the 1-based index of this row image group inside its
	// transaction. An update counts as two row images (update_before and
	// update_after) and takes the number of its before image.
	EventNumber uint64
	Snapshot    bool
	// Query is the SQL statement that made this row change, when asked
	// for (Debezium's include.query) and the binlog carries it (MariaDB
	// Annotate_rows, MySQL Rows_query events); "" otherwise.
	Query string
}

// Kind says how a Value is held and rendered.
type Kind uint8

const (
	KindNull      Kind = iota
	KindInt            // Int: signed integer types
	KindUint           // Uint: unsigned integer types, BIT
	KindFloat          // Float: FLOAT (a float32 widened to float64)
	KindDouble         // Float: DOUBLE
	KindDecimal        // Text: exact decimal digits as the server prints them
	KindString         // Text: UTF-8 text
	KindBytes          // Text: raw bytes (BINARY, VARBINARY, BLOB)
	KindBit            // Uint: BIT(n)
	KindYear           // Int: YEAR (0 for 0000)
	KindDate           // Text: "YYYY-MM-DD"
	KindTime           // Text: "[-]HH:MM:SS[.f]"
	KindDateTime       // Text: "YYYY-MM-DD HH:MM:SS[.f]"
	KindTimestamp      // Text: like DateTime, in the configured zone (UTC by default); Int = UNIX seconds, Uint = microseconds
	KindEnum           // Text: the member name; Int = 1-based index (0 = the empty error value)
	KindSet            // Text: members joined by ","; Uint = bitmask
	KindJSON           // Text: JSON text
	KindGeometry       // Text: WKT as ST_AsText prints it; Int = SRID (0 when unknown)
	KindUUID           // Text: as the server prints it
	KindInet           // Text: INET4/INET6 as the server prints it
	// KindMissing marks a column absent from a MINIMAL/NOBLOB row image:
	// its value is unknown, which is not the same as NULL.
	KindMissing
)

// Value is one typed column value. Text points into a buffer owned by the
// decoder that produced it: a Value is valid until its batch is released.
type Value struct {
	Kind  Kind
	Int   int64
	Uint  uint64
	Float float64
	Text  []byte
}

// IsNull reports whether the value is SQL NULL.
func (v Value) IsNull() bool { return v.Kind == KindNull }

// Column is one column of a table definition.
type Column struct {
	Name string `json:"name"`
	// Type is the base SQL type in lower case without arguments: "int",
	// "varchar", "decimal", "enum", "uuid", ...
	Type string `json:"type"`
	// SQLType is the full column type as SHOW CREATE TABLE prints it, such as
	// "decimal(10,2) unsigned" or "enum('a','b')".
	SQLType   string   `json:"sql_type,omitempty"`
	Length    int      `json:"length"` // declared length (chars for text, bits for BIT), -1 when none
	Precision int      `json:"precision,omitempty"`
	Scale     int      `json:"scale,omitempty"` // DECIMAL scale or fractional seconds digits
	Unsigned  bool     `json:"unsigned,omitempty"`
	Nullable  bool     `json:"nullable,omitempty"`
	Charset   string   `json:"charset,omitempty"` // e.g. "utf8mb4", "latin1", "binary"
	Members   []string `json:"members,omitempty"` // ENUM and SET members in definition order
	Generated bool     `json:"generated,omitempty"`
	// Default is the column's DEFAULT when it is a literal (a number or a
	// string), as the column's value reads; nil for none, NULL or an
	// expression. A target adds a column with it, so existing rows read as
	// they do on the source.
	Default *string `json:"default,omitempty"`
	// Was is the column's name in the table's previous version when the
	// DDL that made this version renamed it (RENAME COLUMN, CHANGE).
	Was string `json:"was,omitempty"`
}

// Table is one version of a table definition.
type Table struct {
	Schema  string   `json:"schema"`
	Name    string   `json:"name"`
	Version int      `json:"version"`        // 1-based, only increases
	GTID    string   `json:"gtid,omitempty"` // transaction that created this version
	Columns []Column `json:"columns"`
	// PrimaryKey lists the column indexes of the primary key, in key order.
	// Empty when the table has none.
	PrimaryKey []int `json:"primary_key,omitempty"`
	// Was is "schema.table" when this version was made by renaming that
	// table (RENAME TABLE, ALTER TABLE ... RENAME TO).
	Was string `json:"was,omitempty"`
}

// FullName is "schema.table".
func (t *Table) FullName() string { return t.Schema + "." + t.Name }

// AppendKey appends the values of row's key columns to dst, unambiguously:
// two keys append the same bytes only when their values are the same.
// Map keys of rows (the collapse of a batch, the rows an incremental
// snapshot saw change) are built with it.
func AppendKey(dst []byte, row []Value, key []int) []byte {
	for _, i := range key {
		v := &row[i]
		dst = append(dst, byte(v.Kind))
		dst = strconv.AppendInt(dst, v.Int, 10)
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, v.Uint, 10)
		dst = append(dst, ':')
		dst = strconv.AppendFloat(dst, v.Float, 'g', -1, 64)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(len(v.Text)), 10)
		dst = append(dst, ':')
		dst = append(dst, v.Text...)
	}
	return dst
}

// Meta is the metadata of one change row in a database target or a change
// file (DESIGN.md, "Change rows in databases and files").
type Meta struct {
	// Op is 'c' (insert), 'u' (update), 'd' (delete), 'r' (snapshot read)
	// or 't' (TRUNCATE TABLE).
	Op      byte
	Deleted bool
	TsMs    int64  // commit time, ms
	TxID    string // GTID, or file:pos without GTIDs
	Order   int64  // __transaction_order
	Event   uint64 // __event_number
}

// TransactionOrder orders transactions by their binlog coordinates: the
// binlog file's number in the high 32 bits, the transaction's start position
// in the low 32. It strictly increases with commit order and is the same on
// every re-run.
func TransactionOrder(file string, pos uint32) int64 {
	seq := int64(0)
	if i := lastDot(file); i >= 0 {
		if n, err := strconv.ParseUint(file[i+1:], 10, 31); err == nil {
			seq = int64(n)
		}
	}
	return seq<<32 | int64(pos)
}

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// Rows expands a row event into change rows, calling fn for each: one, or
// two for an update that changes the primary key (a delete of the before
// image, then an insert of the after image with the next event number). A
// TRUNCATE is one row 't' with a nil image; schema changes and heartbeats
// have none. A snapshot read holds the table as of its position, just
// before the transaction that starts there: its order is one less.
func Rows(ev *Event, fn func(m Meta, row []Value) error) error {
	tx := ev.Tx
	if tx == nil || ev.Table == nil {
		return nil
	}
	m := Meta{TsMs: int64(tx.Timestamp) * 1000, Order: TransactionOrder(tx.File, tx.Pos), Event: ev.EventNumber, TxID: tx.GTID}
	if m.TxID == "" {
		m.TxID = tx.File + ":" + strconv.FormatUint(uint64(tx.Pos), 10)
	}
	switch ev.Op {
	case OpInsert:
		m.Op = 'c'
		return fn(m, ev.After)
	case OpRead:
		m.Op = 'r'
		m.Order--
		return fn(m, ev.After)
	case OpDelete:
		m.Op, m.Deleted = 'd', true
		return fn(m, ev.Before)
	case OpTruncate:
		m.Op, m.Deleted = 't', true
		return fn(m, nil)
	case OpUpdate:
		if key := ev.Table.PrimaryKey; len(key) > 0 && !sameKey(key, ev.Before, ev.After) {
			m.Op, m.Deleted = 'd', true
			if err := fn(m, ev.Before); err != nil {
				return err
			}
			m.Op, m.Deleted = 'c', false
			m.Event++
			return fn(m, ev.After)
		}
		m.Op = 'u'
		return fn(m, ev.After)
	}
	return nil
}

func sameKey(key []int, a, b []Value) bool {
	for _, i := range key {
		x, y := &a[i], &b[i]
		if x.Kind != y.Kind || x.Int != y.Int || x.Uint != y.Uint || x.Float != y.Float || string(x.Text) != string(y.Text) {
			return false
		}
	}
	return true
}
