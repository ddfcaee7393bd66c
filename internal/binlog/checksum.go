package binlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/go-mysql-org/go-mysql/replication"
)

// logEventBinlogInUse is LOG_EVENT_BINLOG_IN_USE_F, the header flag a server
// sets in the FORMAT_DESCRIPTION event of a binlog file it has not closed.
const logEventBinlogInUse = 0x0001

// VerifyCRC32 checks the CRC32 trailer of one whole event (header, body and
// 4-byte checksum). A FORMAT_DESCRIPTION event's checksum is computed with
// the "binlog in use" flag clear, as the server does, so an unclosed binlog
// file verifies; go-mysql's own check rejects it.
func VerifyCRC32(event []byte) error {
	if len(event) < replication.EventHeaderSize+replication.BinlogChecksumLength {
		return fmt.Errorf("event of %d bytes is too short for a checksum", len(event))
	}
	body := event[:len(event)-replication.BinlogChecksumLength]
	want := binary.LittleEndian.Uint32(event[len(body):])
	var got uint32
	flags := binary.LittleEndian.Uint16(event[17:19])
	if replication.EventType(event[4]) == replication.FORMAT_DESCRIPTION_EVENT && flags&logEventBinlogInUse != 0 {
		var hdr [replication.EventHeaderSize]byte
		copy(hdr[:], body)
		binary.LittleEndian.PutUint16(hdr[17:], flags&^logEventBinlogInUse)
		got = crc32.Update(crc32.ChecksumIEEE(hdr[:]), crc32.IEEETable, body[len(hdr):])
	} else {
		got = crc32.ChecksumIEEE(body)
	}
	if got != want {
		return fmt.Errorf("%s event checksum mismatch: stored %08x, computed %08x", replication.EventType(event[4]), want, got)
	}
	return nil
}
