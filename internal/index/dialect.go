package index

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect is the SQL database an index lives in: the embedded SQLite file,
// or a MySQL/MariaDB or PostgreSQL server shared by several readers. The
// layout is the same in all three; the SQL differs in types, placeholders,
// upserts, batched deletes and locking.
type dialect int

const (
	sqliteDB dialect = iota
	mysqlDB
	postgresDB
)

func (d dialect) String() string {
	return [...]string{"sqlite", "mysql", "postgres"}[d]
}

// rebind turns the ? placeholders of q into PostgreSQL's $1, $2, ...
// (bintap's statements hold no ? inside literals).
func (d dialect) rebind(q string) string {
	if d != postgresDB || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// upsert is an INSERT of cols into table that, when a row with the same
// key column exists, sets update to the new values (or, with no update
// columns, keeps the row).
func (d dialect) upsert(table, key string, cols, update []string) string {
	q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(cols)-1) + ")"
	if d == mysqlDB {
		if len(update) == 0 {
			return "INSERT IGNORE" + strings.TrimPrefix(q, "INSERT")
		}
		sets := make([]string, len(update))
		for i, c := range update {
			sets[i] = c + " = VALUES(" + c + ")"
		}
		return q + " ON DUPLICATE KEY UPDATE " + strings.Join(sets, ", ")
	}
	if len(update) == 0 {
		return q + " ON CONFLICT (" + key + ") DO NOTHING"
	}
	sets := make([]string, len(update))
	for i, c := range update {
		sets[i] = c + " = excluded." + c
	}
	return q + " ON CONFLICT (" + key + ") DO UPDATE SET " + strings.Join(sets, ", ")
}

// deleteFirst deletes at most ? (the second argument) rows of table whose
// col is <= ? (the first), lowest first.
func (d dialect) deleteFirst(table, col string) string {
	if d == mysqlDB {
		return "DELETE FROM " + table + " WHERE " + col + " <= ? ORDER BY " + col + " LIMIT ?"
	}
	return "DELETE FROM " + table + " WHERE " + col + " IN (SELECT " + col + " FROM " + table + " WHERE " + col + " <= ? ORDER BY " + col + " LIMIT ?)"
}

// begin starts the writer's transaction: SQLite takes the write lock at
// once rather than at the first write.
func (d dialect) begin() string {
	if d == sqliteDB {
		return "BEGIN IMMEDIATE"
	}
	return "BEGIN"
}

// ddl is the schema in this dialect (see sqliteDDL for what it holds).
func (d dialect) ddl() []string {
	switch d {
	case mysqlDB:
		return mysqlDDL
	case postgresDB:
		return postgresDDL
	}
	return sqliteDDL
}

// Names compare byte for byte and keys are bytes: utf8mb4_bin tables, BLOB
// keys with a prefix index (a key can be longer than an index entry).
const mysqlTable = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

var mysqlDDL = []string{
	`CREATE TABLE IF NOT EXISTS meta (name VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)` + mysqlTable,
	`CREATE TABLE IF NOT EXISTS stream_state (
		id INT PRIMARY KEY, flavor VARCHAR(16) NOT NULL, binlog_file VARCHAR(255) NOT NULL, binlog_pos BIGINT NOT NULL,
		skip BIGINT NOT NULL, gtid TEXT NOT NULL, gtid_state TEXT NOT NULL, updated_at VARCHAR(64) NOT NULL)` + mysqlTable,
	`CREATE TABLE IF NOT EXISTS tables (table_id BIGINT PRIMARY KEY, schema_name VARCHAR(64) NOT NULL, table_name VARCHAR(64) NOT NULL,
		UNIQUE KEY tables_by_name (schema_name, table_name))` + mysqlTable,
	`CREATE TABLE IF NOT EXISTS table_versions (definition_id BIGINT PRIMARY KEY, table_id BIGINT NOT NULL, version INT NOT NULL,
		definition LONGTEXT NOT NULL)` + mysqlTable,
	`CREATE TABLE IF NOT EXISTS transactions (tx_id BIGINT PRIMARY KEY, gtid VARCHAR(255), binlog_file VARCHAR(255) NOT NULL,
		binlog_pos BIGINT NOT NULL, commit_time BIGINT NOT NULL, first_change BIGINT NOT NULL, last_change BIGINT NOT NULL,
		KEY transactions_by_gtid (gtid), KEY transactions_by_time (commit_time))` + mysqlTable,
	`CREATE TABLE IF NOT EXISTS change_blocks (first_change BIGINT PRIMARY KEY, last_change BIGINT NOT NULL, table_ids TEXT NOT NULL,
		changes LONGBLOB NOT NULL, offsets LONGBLOB NOT NULL)` + mysqlTable,
	`CREATE TABLE IF NOT EXISTS change_keys (change_id BIGINT PRIMARY KEY, table_id BIGINT NOT NULL, pk BLOB NOT NULL,
		KEY change_keys_by_pk (table_id, pk(255)))` + mysqlTable,
	`CREATE TABLE IF NOT EXISTS change_old_keys (change_id BIGINT PRIMARY KEY, table_id BIGINT NOT NULL, old_pk BLOB NOT NULL,
		KEY change_old_keys_by_pk (table_id, old_pk(255)))` + mysqlTable,
	`CREATE TABLE IF NOT EXISTS change_key_runs (first_change BIGINT PRIMARY KEY, table_id BIGINT NOT NULL, first_key BIGINT NOT NULL, n INT NOT NULL,
		KEY change_key_runs_by_key (table_id, first_key))` + mysqlTable,
}

var postgresDDL = []string{
	`CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS stream_state (
		id INT PRIMARY KEY CHECK (id = 1), flavor TEXT NOT NULL, binlog_file TEXT NOT NULL, binlog_pos BIGINT NOT NULL,
		skip BIGINT NOT NULL, gtid TEXT NOT NULL, gtid_state TEXT NOT NULL, updated_at TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS tables (table_id BIGINT PRIMARY KEY, schema_name TEXT NOT NULL, table_name TEXT NOT NULL,
		UNIQUE (schema_name, table_name))`,
	`CREATE TABLE IF NOT EXISTS table_versions (definition_id BIGINT PRIMARY KEY, table_id BIGINT NOT NULL, version INT NOT NULL,
		definition TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS transactions (tx_id BIGINT PRIMARY KEY, gtid TEXT, binlog_file TEXT NOT NULL,
		binlog_pos BIGINT NOT NULL, commit_time BIGINT NOT NULL, first_change BIGINT NOT NULL, last_change BIGINT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS transactions_by_gtid ON transactions (gtid)`,
	`CREATE INDEX IF NOT EXISTS transactions_by_time ON transactions (commit_time)`,
	`CREATE TABLE IF NOT EXISTS change_blocks (first_change BIGINT PRIMARY KEY, last_change BIGINT NOT NULL, table_ids TEXT NOT NULL,
		changes BYTEA NOT NULL, offsets BYTEA NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS change_keys (change_id BIGINT PRIMARY KEY, table_id BIGINT NOT NULL, pk TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS change_keys_by_pk ON change_keys (table_id, pk)`,
	`CREATE TABLE IF NOT EXISTS change_old_keys (change_id BIGINT PRIMARY KEY, table_id BIGINT NOT NULL, old_pk TEXT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS change_old_keys_by_pk ON change_old_keys (table_id, old_pk)`,
	`CREATE TABLE IF NOT EXISTS change_key_runs (first_change BIGINT PRIMARY KEY, table_id BIGINT NOT NULL, first_key BIGINT NOT NULL, n INT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS change_key_runs_by_key ON change_key_runs (table_id, first_key)`,
}

// lockWaitTimeout is how long lockWriter waits for the writer lock: the
// session of a writer that was killed holds it until the server notices
// the connection is gone, which can take a moment under load.
const lockWaitTimeout = 15 * time.Second

// lockWriter makes sure one writer at a time writes an index on a server
// (SQLite files are locked by the stream's state dir and SQLite itself):
// a session lock on conn, held until the connection closes.
func (d dialect) lockWriter(ctx context.Context, conn *sql.Conn) error {
	if d != mysqlDB && d != postgresDB {
		return nil
	}
	deadline := time.Now().Add(lockWaitTimeout)
	for {
		var got bool
		var err error
		switch d {
		case mysqlDB:
			var n sql.NullInt64
			err = conn.QueryRowContext(ctx, `SELECT GET_LOCK(CONCAT('bintap-index:', DATABASE()), 0)`).Scan(&n)
			got = n.Int64 == 1
		case postgresDB:
			err = conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext('bintap-index:' || current_database()))`).Scan(&got)
		}
		switch {
		case err != nil:
			return fmt.Errorf("lock the change index for writing: %w", err)
		case got:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("another bintap stream is writing this change index (one stream writes an index; any number may query it)")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// dbq is a database handle that rebinds the placeholders of its statements.
type dbq struct {
	*sql.DB
	d dialect
}

func (q dbq) QueryContext(ctx context.Context, s string, args ...any) (*sql.Rows, error) {
	return q.DB.QueryContext(ctx, q.d.rebind(s), args...)
}

func (q dbq) QueryRowContext(ctx context.Context, s string, args ...any) *sql.Row {
	return q.DB.QueryRowContext(ctx, q.d.rebind(s), args...)
}

func (q dbq) ExecContext(ctx context.Context, s string, args ...any) (sql.Result, error) {
	return q.DB.ExecContext(ctx, q.d.rebind(s), args...)
}

// connq is dbq for one connection.
type connq struct {
	*sql.Conn
	d dialect
}

func (q connq) QueryContext(ctx context.Context, s string, args ...any) (*sql.Rows, error) {
	return q.Conn.QueryContext(ctx, q.d.rebind(s), args...)
}

func (q connq) QueryRowContext(ctx context.Context, s string, args ...any) *sql.Row {
	return q.Conn.QueryRowContext(ctx, q.d.rebind(s), args...)
}

func (q connq) ExecContext(ctx context.Context, s string, args ...any) (sql.Result, error) {
	return q.Conn.ExecContext(ctx, q.d.rebind(s), args...)
}

func (q connq) PrepareContext(ctx context.Context, s string) (*sql.Stmt, error) {
	return q.Conn.PrepareContext(ctx, q.d.rebind(s))
}
