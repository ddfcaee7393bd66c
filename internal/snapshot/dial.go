package snapshot

import (
	"database/sql"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/source"
)

// openDB opens the snapshot's handle on the source: the same way, server
// and TLS setting as every other source connection (source.OpenDBWith), with
// no read timeout (a snapshot connection waits while the outputs apply
// back-pressure) and a large read buffer: the driver reads 4 KiB at a time;
// an incremental snapshot's chunk can be large, and one read system call per
// 256 KiB instead of per 4 KiB is a measurable share of its CPU time. (The
// initial snapshot reads its rows through viewConn.)
func openDB(src config.Source, conns int) (*sql.DB, error) {
	db, err := source.OpenDBWith(src, source.DBOptions{ReadBuffer: 256 << 10})
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	return db, nil
}
