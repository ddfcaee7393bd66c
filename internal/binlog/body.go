// Package binlog decodes the rows of MySQL and MariaDB row events into typed
// change.Values: the hot path of bintap. go-mysql parses the protocol and every
// other event; this package replaces its generic []any row decoding with a
// typed decoder that allocates (almost) nothing per row.
//
// Use HeaderOnly as the rows-event decode function of go-mysql's
// BinlogSyncer (BinlogSyncerConfig.RowsEventDecodeFunc) or BinlogParser
// (SetRowsEventDecodeFunc). It decodes only the event header and keeps the
// undecoded rows body in the event; the parser that go-mysql clones for the
// events inside a MySQL TRANSACTION_PAYLOAD inherits it. Then decode the body
// with a TableDecoder built for the table version:
//
//	dec, err := binlog.NewTableDecoder(re.Table, table, binlog.Options{})
//	err = dec.DecodeRows(ev.Header.EventType, re, func(before, after []change.Value) error { ... })
//
// DecodeRows hands out rows in the decoder's own buffers, reused row after
// row; DecodeBodyInto decodes each row into storage the caller gives (the
// stream's batches), so that nothing has to be copied to keep it.
package binlog

import (
	"errors"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// stash holds the undecoded rows body inside RowsEvent.Rows with a single
// allocation: Rows = [[*[]byte]].
type stash struct {
	rows [1][]any
	row  [1]any
	body []byte
}

// HeaderOnly is a go-mysql rows-event decode function: it decodes the header
// of a rows event (table id, flags, column bitmaps; it binds re.Table) and
// keeps the rest of the event, the rows body, undecoded in the event for Body
// and TableDecoder.DecodeRows. It costs one small allocation per event.
//
// The body of a MariaDB compressed rows event (log_bin_compress) is kept as it
// is, compressed: go-mysql does not expose the event type inside the decode
// function, so Body, which is given the type, inflates it.
func HeaderOnly(re *replication.RowsEvent, data []byte) (err error) {
	// go-mysql's header decoder indexes the data without checking its
	// length: a truncated event must be an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rows event of %d bytes is malformed: %v", len(data), r)
		}
	}()
	pos, err := re.DecodeHeader(data)
	if err != nil {
		return err
	}
	if pos > len(data) {
		return fmt.Errorf("rows event of %d bytes is malformed: its header ends at %d", len(data), pos)
	}
	s := &stash{body: data[pos:]}
	s.row[0] = &s.body
	s.rows[0] = s.row[:]
	re.Rows = s.rows[:]
	return nil
}

// RawBody returns the rows body HeaderOnly kept in re (still compressed for a
// MariaDB compressed event), or nil when re was not decoded by HeaderOnly.
func RawBody(re *replication.RowsEvent) []byte {
	if len(re.Rows) != 1 || len(re.Rows[0]) != 1 {
		return nil
	}
	p, ok := re.Rows[0][0].(*[]byte)
	if !ok {
		return nil
	}
	return *p
}

// ErrNoBody means the rows event was not decoded by HeaderOnly.
var ErrNoBody = errors.New("rows event has no undecoded body: set binlog.HeaderOnly as the rows event decode function")

// Body returns the rows body of re, which HeaderOnly kept, ready for decoding:
// for a MariaDB compressed rows event (eventType
// MARIADB_*_ROWS_COMPRESSED_EVENT_V1) it is inflated into a new buffer.
func Body(re *replication.RowsEvent, eventType replication.EventType) ([]byte, error) {
	if len(re.Rows) != 1 || len(re.Rows[0]) != 1 {
		return nil, ErrNoBody
	}
	p, ok := re.Rows[0][0].(*[]byte)
	if !ok {
		return nil, ErrNoBody
	}
	body := *p
	if IsCompressed(eventType) {
		if len(body) == 0 {
			return body, nil
		}
		out, err := mysql.DecompressMariadbData(body)
		if err != nil {
			return nil, fmt.Errorf("inflate %s: %w", eventType, err)
		}
		return out, nil
	}
	return body, nil
}

// IsCompressed reports whether t is a MariaDB compressed rows event type.
func IsCompressed(t replication.EventType) bool {
	switch t {
	case replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1,
		replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		return true
	}
	return false
}

// imageKind says which row images an event type carries.
type imageKind uint8

const (
	imagesAfter   imageKind = iota + 1 // write
	imagesBefore                       // delete
	imagesBoth                         // update
	imagesPartial                      // MySQL PARTIAL_UPDATE_ROWS
)

func imagesOf(t replication.EventType) (imageKind, error) {
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2,
		replication.MARIADB_WRITE_ROWS_COMPRESSED_EVENT_V1:
		return imagesAfter, nil
	case replication.DELETE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2,
		replication.MARIADB_DELETE_ROWS_COMPRESSED_EVENT_V1:
		return imagesBefore, nil
	case replication.UPDATE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2,
		replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
		return imagesBoth, nil
	case replication.PARTIAL_UPDATE_ROWS_EVENT:
		return imagesPartial, nil
	}
	return 0, fmt.Errorf("%s is not a rows event", t)
}
