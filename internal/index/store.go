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
	"time"

	"github.com/bintap/bintap/internal/position"

	_ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3" (cgo)
)

// FileName is the index file inside the state dir.
const FileName = "index.db"

// formatVersion is the schema version of the index file; a file of another
// version is refused rather than misread.
const formatVersion = "1"

// ddl creates the index. Changes are normalised: a table name and a table
// definition are stored once (tables, table_versions), the position of a
// transaction once (transactions), and each row change refers to them. That
// keeps a change row small and its indexes few, which is what ingest speed
// depends on: a change costs its row and one index entry, (table, key,
// order), for key history. Change ids follow binlog order and each
// transaction records the range of its change ids, so time and GTID windows
// go through the transactions' indexes and then read a range of changes.
// The change_log view joins it all back for people who open the file with
// sqlite3.
var ddl = []string{
	`CREATE TABLE IF NOT EXISTS meta (
		key   TEXT PRIMARY KEY,
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
	`CREATE TABLE IF NOT EXISTS changes (
		change_id       INTEGER PRIMARY KEY,
		tx_id           INTEGER NOT NULL,
		event_number    INTEGER NOT NULL,
		table_id        INTEGER NOT NULL,
		definition_id   INTEGER NOT NULL,
		pk              TEXT,
		old_pk          TEXT,
		event_type      TEXT NOT NULL,
		before_image    TEXT,
		after_image     TEXT,
		changed_columns TEXT
	)`,
	`CREATE INDEX IF NOT EXISTS changes_by_pk ON changes (table_id, pk, change_id)`,
	`CREATE INDEX IF NOT EXISTS changes_by_old_pk ON changes (table_id, old_pk) WHERE old_pk IS NOT NULL`,
	`CREATE VIEW IF NOT EXISTS change_log AS
		SELECT c.change_id, t.schema_name, t.table_name, v.version AS schema_version,
		       c.pk, c.old_pk, c.event_type, c.before_image, c.after_image, c.changed_columns,
		       x.gtid, x.binlog_file, x.binlog_pos, c.event_number, x.commit_time,
		       datetime(x.commit_time, 'unixepoch') AS commit_time_utc
		FROM changes c
		JOIN tables t ON t.table_id = c.table_id
		JOIN table_versions v ON v.definition_id = c.definition_id
		JOIN transactions x ON x.tx_id = c.tx_id`,
}

// Store is an open change index.
type Store struct {
	db   *sql.DB
	path string
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
	db, err := sql.Open(driverName, dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("change index %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("change index %s: %w", path, err)
	}
	return s, nil
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
	s := &Store{db: db, path: path}
	var v string
	if err := db.QueryRow(`SELECT value FROM meta WHERE key = 'format_version'`).Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s is not a bintap change index: %w", path, err)
	}
	if v != formatVersion {
		db.Close()
		return nil, fmt.Errorf("change index %s has format version %s; this bintap reads version %s", path, v, formatVersion)
	}
	return s, nil
}

func (s *Store) init() error {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range ddl {
		if _, err := tx.Exec(q); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	var v string
	err = tx.QueryRow(`SELECT value FROM meta WHERE key = 'format_version'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('format_version', ?), ('created_at', ?)`,
			formatVersion, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return err
		}
	case err != nil:
		return err
	case v != formatVersion:
		return fmt.Errorf("the file has format version %s; this bintap writes version %s", v, formatVersion)
	}
	return tx.Commit()
}

// DB is the underlying database, for tests and tools.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the index.
func (s *Store) Close() error { return s.db.Close() }

// SetMeta records a setting the index depends on (such as the time zone
// TIMESTAMP values are written in).
func (s *Store) SetMeta(key, value string) error {
	_, err := s.db.Exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// Meta returns a setting, "" when unset.
func (s *Store) Meta(key string) (string, error) {
	var v string
	err := s.db.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// Position returns the checkpoint stored with the indexed changes, or nil.
func (s *Store) Position() (*position.Checkpoint, error) {
	var c position.Checkpoint
	var written string
	err := s.db.QueryRow(`SELECT flavor, binlog_file, binlog_pos, skip, gtid, gtid_state, updated_at FROM stream_state WHERE id = 1`).
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
	for _, q := range []string{`DELETE FROM changes`, `DELETE FROM transactions`, `DELETE FROM stream_state`, `DELETE FROM meta WHERE key = 'covered_since'`} {
		if _, err := tx.Exec(q); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Stats describe the index for status output and logs.
type Stats struct {
	Path         string    `json:"path"`
	Bytes        int64     `json:"bytes"` // database file plus its write-ahead log
	OldestChange time.Time `json:"oldest_change"`
	NewestChange time.Time `json:"newest_change"`
}

// Stats reads the index size and the commit times of its oldest and newest
// transactions (zero when empty).
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Path: s.path}
	for _, p := range []string{s.path, s.path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			st.Bytes += fi.Size()
		}
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

// walLimit is the write-ahead log size at which a checkpoint may briefly
// hold up the writer to restart the log; below it checkpoints are passive.
const walLimit = 256 << 20

// checkpointLoop copies the write-ahead log into the database file twice a
// second without blocking the writer (PASSIVE). Should the log still grow
// past walLimit (the writer never pauses long enough for the copy to catch
// up), a TRUNCATE checkpoint waits for the writer's transaction and resets
// the log.
func (s *Store) checkpointLoop(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mode := "PASSIVE"
		if fi, err := os.Stat(s.path + "-wal"); err == nil && fi.Size() > walLimit {
			mode = "TRUNCATE"
		}
		s.db.ExecContext(ctx, "PRAGMA wal_checkpoint("+mode+")") // best effort: the next round retries
	}
}
