package files

import (
	"time"

	"github.com/bintap/bintap/internal/change"
)

// Record is one change row of a file: its metadata and the table's columns
// (Row, in the column order of the file's table version). A TRUNCATE
// ('t') has a Row of NULLs.
type Record struct {
	change.Meta
	Row []change.Value
}

// Entry is one line of the manifest (DIR/_manifest.jsonl): a closed file.
type Entry struct {
	// File is the file's path relative to DIR, with '/' separators.
	File        string    `json:"file"`
	Database    string    `json:"database"`
	Table       string    `json:"table"`
	Version     int       `json:"version"` // the table's schema version
	Format      string    `json:"format"`  // jsonl, csv or parquet
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Rows        int64     `json:"rows"`
	Bytes       int64     `json:"bytes"`
	// FirstPosition and LastPosition are the binlog positions of the first
	// and last change: "FILE:POS#EVENT" ("FILE:POS#rEVENT" for snapshot reads).
	FirstPosition string `json:"first_position"`
	LastPosition  string `json:"last_position"`
	// MinOrder and MaxOrder bound the file's __transaction_order.
	MinOrder int64  `json:"min_order"`
	MaxOrder int64  `json:"max_order"`
	CRC32C   string `json:"crc32c"` // CRC-32C (Castagnoli) of the file's bytes, 8 hex digits
	// Definition is the table version the rows follow, so a reader knows
	// every column's type.
	Definition *change.Table `json:"definition"`
	// TimeZone is the zone TIMESTAMP values are written in (text formats);
	// Binary is how binary values are written in text formats (hex, base64).
	TimeZone string `json:"time_zone"`
	Binary   string `json:"binary_format"`
}
