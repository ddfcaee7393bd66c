package format

import "github.com/bintap/bintap/internal/change"

// MessageKind says which stream a keyed message belongs to; a destination
// maps it to a topic.
type MessageKind uint8

const (
	// MessageData is a row change: it goes to the table's topic.
	MessageData MessageKind = iota
	// MessageSchema is a table's schema record: same topic, keyed by table.
	MessageSchema
	// MessageTransaction is a transaction BEGIN/END record (Debezium's
	// transaction metadata topic).
	MessageTransaction
)

// Message is one record for a keyed destination such as Kafka.
type Message struct {
	Kind  MessageKind
	Table *change.Table // the table it belongs to; nil for MessageTransaction
	// Key is the message key; nil means the destination derives it from the
	// event with its configured key mode (MaxScale style), unless NullKey.
	Key []byte
	// NullKey says the record has no key at all (a Kafka null key): the
	// destination must not derive one. Debezium sends null keys for rows of
	// tables without a primary key (and their tombstones).
	NullKey bool
	// Value is the record; nil is a tombstone.
	Value []byte
}

// MessageEncoder turns one event into keyed messages. Key and Value of the
// messages appended to out are sub-slices of the returned buf, valid until
// the caller reuses buf.
type MessageEncoder interface {
	AppendMessages(buf []byte, out []Message, ev *change.Event) ([]byte, []Message)
}

// TransactionEnder is an encoder that writes records at the end of a
// transaction (Debezium's transaction metadata END). It sees rows only, so
// a destination calls EndTransaction when a batch's checkpoint lies at a
// commit (position.Checkpoint with File set and Skip == 0); the messages it
// appends follow the same rules as AppendMessages'.
type TransactionEnder interface {
	EndTransaction(buf []byte, out []Message) ([]byte, []Message)
}

// Encoder is what every format provides: records for byte outputs (stdout,
// files) and keyed messages for keyed outputs (Kafka).
type Encoder interface {
	// Append appends the records of one event to dst.
	Append(dst []byte, ev *change.Event) []byte
	MessageEncoder
}
