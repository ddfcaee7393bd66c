// Package index owns bintap's change index: an embedded SQLite database (a
// file in the state dir, opened through the cgo driver mattn/go-sqlite3)
// holding every row change with its table, key, images and position, and the
// stream checkpoint in the same transaction as the changes it covers. On top
// of the store it answers queries, writes the SQL that reverts changes
// (recover) and rebuilds a row as it was at a point in time (reconstruct).
package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/position"

	_ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3" (cgo)
)

// FileName is the index file inside the state dir.
const FileName = "index.db"

// formatVersion is the schema version of the index; an index of another
// version is refused rather than misread. Version 1 (bintap before
// 2026-11-21) kept one SQL row per change. Version 3 (2026-11-28) adds
// change_key_runs and elements in the binary layout (see sqliteDDL): an
// index of version 2 is read as it is (it has no runs, and its elements are
// all JSON) and upgraded when opened for writing; bintap before version 3
// refuses an upgraded index, which it would misread.
const formatVersion = "3"

// readsVersion reports whether this bintap reads (and upgrades) an index of
// format version v.
func readsVersion(v string) bool { return v == formatVersion || v == "2" }

// ddl creates the index.
//
// Changes are stored in blocks: each change_blocks row holds the changes
// first_change..last_change (their ids follow binlog order; at most 1024
// changes (256 before format version 3) or 64 KiB of elements) as one array compressed with S2 (github.com/klauspost/compress/s2, a faster
// Snappy), written with one INSERT, and change_keys holds one small row per
// change of a table with a primary key — (table, key) → change id — which is
// all the per-change indexing ingest pays for; changes of consecutive
// integer keys in change order (rows inserted in key order) are one
// change_key_runs row per block instead (format version 3). A change row with its own
// index entry cost twice as much to insert (SQLite's per-row and per-column
// work), and compression cuts the bytes the write-ahead log and its
// checkpoints copy (and the file's size) several times over.
// An update that changes the key is also listed under its old key in
// change_old_keys. A block is "[", its elements separated by ",", and "]".
// An element of format version 2 is a JSON object
//
//	{"tx":T,"n":EVENT,"t":TABLE_ID,"d":DEFINITION_ID,"type":"insert|update|delete",
//	 "pk":"[key]","old_pk":"[key]","before":{..},"after":{..},"changed":[..]}
//
// with the fields in that order and absent ones left out; version 3 writes
// the same in a binary layout (elemBinary, in encode.go: no column names,
// values by kind), and reads both. offsets holds the
// byte offset of each element in the uncompressed array (little-endian
// uint32s) so a lookup slices one element out without parsing the block.
// table_ids lists the tables a block holds changes of (a JSON array), so a
// scan of one table skips the other tables' blocks. Tables, table
// definitions and transactions are stored once each; a transaction records
// the range of its change ids, so time and GTID windows go through the
// transactions' indexes and then read a range of changes. The tables other
// than change_blocks are plain SQL; bintap query reads the changes.
var sqliteDDL = []string{
	`CREATE TABLE IF NOT EXISTS meta (
		name  TEXT PRIMARY KEY,
		value TEXT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS stream_state (
		id          INTEGER PRIMARY KEY CHECK (id = 1),
		flavor      TEXT NOT NULL,
		binlog_file TEXT NOT NULL,
		binlog_pos  INTEGER NOT NULL,
		skip        INTEGER NOT NULL,
		gtid        TEXT NOT NULL,
		gtid_state  TEXT NOT NULL,
		updated_at  TEXT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS tables (
		table_id    INTEGER PRIMARY KEY,
		schema_name TEXT NOT NULL,
		table_name  TEXT NOT NULL,
		UNIQUE (schema_name, table_name)
	)`,
	`CREATE TABLE IF NOT EXISTS table_versions (
		definition_id INTEGER PRIMARY KEY,
		table_id      INTEGER NOT NULL REFERENCES tables,
		version       INTEGER NOT NULL,
		definition    TEXT NOT NULL,
		UNIQUE (table_id, version, definition)
	)`,
	`CREATE TABLE IF NOT EXISTS transactions (
		tx_id       INTEGER PRIMARY KEY,
		gtid        TEXT,
		binlog_file TEXT NOT NULL,
		binlog_pos  INTEGER NOT NULL,
		commit_time INTEGER NOT NULL,
		first_change INTEGER NOT NULL,
		last_change  INTEGER NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS transactions_by_gtid ON transactions (gtid)`,
	`CREATE INDEX IF NOT EXISTS transactions_by_time ON transactions (commit_time)`,
	`CREATE TABLE IF NOT EXISTS change_blocks (
		first_change INTEGER PRIMARY KEY,
		last_change  INTEGER NOT NULL,
		table_ids    TEXT NOT NULL,
		changes      BLOB NOT NULL,
		offsets      BLOB NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS change_keys (
		change_id INTEGER PRIMARY KEY,
		table_id  INTEGER NOT NULL,
		pk        TEXT NOT NULL
	)`,
	// Keys are indexed by length, then text: the keys of rows inserted in
	// key order ([9], [10], ... [100]) then land at the end of the index,
	// as their change ids do, instead of all over it, as in text order
	// ("[100]" sorts between "[10]" and "[11]"). In text order every few
	// keys dirtied another page of the index, and the writer needed a page
	// cache as large as the index to keep up (make bench: 106,000 rows/s
	// and 204 MB peak RSS with a 128 MiB cache; 278,000 rows/s and 75 MB
	// with length first and a 16 MiB cache; see writerCacheKiB). A key lookup names the length
	// (length(pk) = length(?)) so that it uses the index.
	`CREATE INDEX IF NOT EXISTS change_keys_by_key ON change_keys (table_id, length(pk), pk)`,
	`CREATE TABLE IF NOT EXISTS change_old_keys (
		change_id INTEGER PRIMARY KEY,
		table_id  INTEGER NOT NULL,
		old_pk    TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS change_old_keys_by_key ON change_old_keys (table_id, length(old_pk), old_pk)`,
	// A run stands for the change_keys rows of changes first_change ..
	// first_change+n-1 of a table, whose keys are the integers first_key ..
	// first_key+n-1 ("[42]" is 42): rows inserted or updated in key order.
	// A run lies within one block and n <= maxRunChanges (1024), so the
	// runs that may hold key K are those with first_key between K-1023 and
	// K, one range of the index (see sqlKeyRuns).
	`CREATE TABLE IF NOT EXISTS change_key_runs (
		first_change INTEGER PRIMARY KEY,
		table_id     INTEGER NOT NULL,
		first_key    INTEGER NOT NULL,
		n            INTEGER NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS change_key_runs_by_key ON change_key_runs (table_id, first_key)`,
}

// Store is an open change index.
type Store struct {
	db      dbq
	path    string // the file, or the server's URL without its password
	dialect dialect
	// keyRuns: the index has change_key_runs (format version 3; not an
	// index of version 2 opened read only).
	keyRuns bool
}

// Path is the index file of a state dir.
func Path(stateDir string) string { return filepath.Join(stateDir, FileName) }

// dsn builds the driver's connection string; the driver applies its
// settings to every connection it opens, so each pooled connection has them.
// WAL lets queries read while the stream writes. synchronous=NORMAL does not
// fsync the WAL at every commit: a process crash (kill -9) loses nothing, a
// power loss may roll back the newest commits — data and checkpoint
// together, since they share each transaction — and the stream then re-reads
// them from the older position. busy_timeout makes the stream and the
// retention job wait for each other instead of failing.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", "30000")
	q.Set("_foreign_keys", "0")
	if readOnly {
		q.Set("mode", "ro")
	} else {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL")
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// driverName is the database/sql name of the cgo SQLite driver.
const driverName = "sqlite3"

// Open opens (creating it when missing) the index at path for writing.
func Open(path string) (*Store, error) {
	if errNoCgo != nil {
		return nil, errNoCgo
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("change index %s: %w", path, err)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := create(path); err != nil {
			return nil, fmt.Errorf("change index %s: %w", path, err)
		}
	}
	db, err := sql.Open(driverName, dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("change index %s: %w", path, err)
	}
	s := &Store{db: dbq{db, sqliteDB}, path: path}
	if err := s.init(); err != nil {
		db.Close()
		if msg := err.Error(); strings.Contains(msg, "not a database") || strings.Contains(msg, "malformed") {
			return nil, fmt.Errorf("change index %s is damaged (%v): restore it from a backup, or move it away and start over with --reset", path, err)
		}
		return nil, fmt.Errorf("change index %s: %w", path, err)
	}
	return s, nil
}

// pageSize is the page size of a new index file. Against SQLite's 4 KiB,
// 8 KiB pages halve the write system calls of a commit and of the
// checkpoints (ingest of new keys 5-15% faster in make bench) while changes
// of random keys, which dirty one key-index page each, stay as fast
// (BenchmarkDestinationRandomKeys); 16 KiB made those 17% slower.
const pageSize = 8192

// create makes a new, empty index file with its page size; the page size
// of a file in WAL mode is fixed once it exists. The file is created 0600
// first (it holds every change and their positions; SQLite would create it
// 0644), and SQLite gives its -wal and -shm files the same mode.
func create(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	db, err := sql.Open(driverName, "file:"+path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(fmt.Sprintf("PRAGMA page_size = %d; PRAGMA journal_mode = WAL", pageSize))
	return err
}

// errNoCgo is set when bintap was built without the SQLite driver (nocgo.go).
var errNoCgo error

// OpenReadOnly opens an existing index for queries.
func OpenReadOnly(path string) (*Store, error) {
	if errNoCgo != nil {
		return nil, errNoCgo
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no change index at %s: run 'bintap stream --output index' first, or name the file with --index", path)
		}
		return nil, fmt.Errorf("change index %s: %w", path, err)
	}
	db, err := sql.Open(driverName, dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("change index %s: %w", path, err)
	}
	s := &Store{db: dbq{db, sqliteDB}, path: path}
	if err := s.checkVersion(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// checkVersion refuses an index of another format version.
func (s *Store) checkVersion() error {
	var v string
	if err := s.db.QueryRowContext(context.Background(), `SELECT value FROM meta WHERE name = 'format_version'`).Scan(&v); err != nil {
		return fmt.Errorf("%s is not a bintap change index: %w", s.path, err)
	}
	if !readsVersion(v) {
		return fmt.Errorf("change index %s has format version %s; this bintap reads version %s", s.path, v, formatVersion)
	}
	s.keyRuns = v == formatVersion
	return nil
}

func (s *Store) init() error {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The version first: another version's tables must not be mixed with
	// this one's. (MySQL commits DDL at once; its CREATE ... IF NOT EXISTS
	// makes a repeated attempt harmless.)
	ddl := s.dialect.ddl()
	if _, err := tx.ExecContext(ctx, ddl[0]); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	var v string
	err = tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'format_version'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, s.dialect.rebind(`INSERT INTO meta (name, value) VALUES ('format_version', ?), ('created_at', ?)`),
			formatVersion, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return err
		}
	case err != nil:
		return err
	case !readsVersion(v):
		return fmt.Errorf("the index has format version %s; this bintap writes version %s: move it away (or delete it) and index again from the binlog with --start", v, formatVersion)
	case v != formatVersion:
		// An older version this bintap upgrades: the statements below add
		// what it lacks.
		if _, err := tx.ExecContext(ctx, s.dialect.rebind(`UPDATE meta SET value = ? WHERE name = 'format_version'`), formatVersion); err != nil {
			return fmt.Errorf("upgrade the index from format version %s: %w", v, err)
		}
	}
	for _, q := range ddl[1:] {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if s.dialect == sqliteDB {
		// Files written before 2026-11-28 index keys in text order
		// (change_keys_by_pk); the statements above built the indexes in
		// length-then-text order, which replace them.
		for _, q := range []string{`DROP INDEX IF EXISTS change_keys_by_pk`, `DROP INDEX IF EXISTS change_old_keys_by_pk`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("replace the key indexes: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.keyRuns = true
	return nil
}

// Path is the index file, or the server's URL without its password.
func (s *Store) Path() string { return s.path }

// DB is the underlying database, for tests and tools.
func (s *Store) DB() *sql.DB { return s.db.DB }

// Close closes the index.
func (s *Store) Close() error { return s.db.Close() }

// SetMeta records a setting the index depends on (such as the time zone
// TIMESTAMP values are written in).
func (s *Store) SetMeta(key, value string) error {
	_, err := s.db.ExecContext(context.Background(), s.dialect.upsert("meta", "name", []string{"name", "value"}, []string{"value"}), key, value)
	return err
}

// Meta returns a setting, "" when unset.
func (s *Store) Meta(key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(context.Background(), `SELECT value FROM meta WHERE name = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// Position returns the checkpoint stored with the indexed changes, or nil.
func (s *Store) Position() (*position.Checkpoint, error) {
	var c position.Checkpoint
	var written string
	err := s.db.QueryRowContext(context.Background(), `SELECT flavor, binlog_file, binlog_pos, skip, gtid, gtid_state, updated_at FROM stream_state WHERE id = 1`).
		Scan(&c.Flavor, &c.File, &c.Pos, &c.Skip, &c.GTID, &c.GTIDState, &written)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stream_state: %w", err)
	}
	c.Written, _ = time.Parse(time.RFC3339Nano, written)
	return &c, nil
}

// Reset deletes every change and the stored checkpoint (bintap stream --reset).
func (s *Store) Reset() error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	qs := []string{`DELETE FROM change_blocks`, `DELETE FROM change_keys`, `DELETE FROM change_old_keys`, `DELETE FROM transactions`, `DELETE FROM stream_state`, `DELETE FROM meta WHERE name = 'covered_since'`}
	if s.keyRuns {
		qs = append(qs, `DELETE FROM change_key_runs`)
	}
	for _, q := range qs {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Count returns the number of changes the index holds.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT coalesce(sum(last_change - first_change + 1), 0) FROM change_blocks`).Scan(&n)
	return n, err
}

// Stats describe the index for status output and logs.
type Stats struct {
	Path         string    `json:"path"`
	Bytes        int64     `json:"bytes"` // SQLite: the file plus its write-ahead log; a server: the index's tables
	OldestChange time.Time `json:"oldest_change"`
	NewestChange time.Time `json:"newest_change"`
}

// Stats reads the index size and the commit times of its oldest and newest
// transactions (zero when empty).
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Path: s.path}
	switch s.dialect {
	case sqliteDB:
		for _, p := range []string{s.path, s.path + "-wal"} {
			if fi, err := os.Stat(p); err == nil {
				st.Bytes += fi.Size()
			}
		}
	case mysqlDB:
		s.db.QueryRowContext(ctx, `SELECT coalesce(sum(data_length + index_length), 0) FROM information_schema.tables
			WHERE table_schema = DATABASE() AND table_name IN ('meta', 'stream_state', 'tables', 'table_versions', 'transactions', 'change_blocks', 'change_keys', 'change_old_keys', 'change_key_runs')`).Scan(&st.Bytes)
	case postgresDB:
		s.db.QueryRowContext(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
			WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
			AND c.relname IN ('meta', 'stream_state', 'tables', 'table_versions', 'transactions', 'change_blocks', 'change_keys', 'change_old_keys', 'change_key_runs')`).Scan(&st.Bytes)
	}
	var oldest, newest sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT commit_time FROM transactions ORDER BY tx_id LIMIT 1),
		(SELECT commit_time FROM transactions ORDER BY tx_id DESC LIMIT 1)`).Scan(&oldest, &newest)
	if err != nil {
		return st, err
	}
	if oldest.Valid {
		st.OldestChange = time.Unix(oldest.Int64, 0).UTC()
	}
	if newest.Valid {
		st.NewestChange = time.Unix(newest.Int64, 0).UTC()
	}
	return st, nil
}

// definitionJSON is how a table definition is stored.
func definitionJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// walLimitPages is the write-ahead log size (in pages) past which the
// writer's own commit finishes the checkpoint (SQLite's autocheckpoint on
// the writer's connection), so that the log starts over instead of
// growing: 256 MiB of 8 KiB pages.
const walLimitPages = 32768

// checkpointLoop copies the write-ahead log into the database file ten
// times a second without blocking the writer (PASSIVE), so that the
// writer's autocheckpoint has little left to copy when the log passes its
// limit, and the closing connection little at the end of a stream (it
// copies and fsyncs the rest: 74 - 210 ms after 1,000,000 narrow rows when
// this ran twice a second, 38 - 66 ms at ten times; a PASSIVE checkpoint
// with nothing new to copy does no I/O). A
// blocking mode here (TRUNCATE) would stall the writer for seconds under
// steady ingest: it waits for the writer's transaction to end, then holds
// the write lock while it copies the whole backlog.
func (s *Store) checkpointLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)") // best effort: the next round retries
	}
}
