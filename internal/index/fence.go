package index

// Fencing for the instances of an HA group that write one change index on
// a server (bintap stream --ha-group): the instance that becomes active
// ends the session of the writer that held the index (a deposed instance
// may be stopped or cut off while it holds the writer lock and an open
// transaction), then stores a new epoch in meta. Every commit checks, in
// its own transaction and with the row locked, that the epoch is still the
// writer's: a deposed writer that wakes up commits nothing.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// ErrEpoch is what a commit fails with once another writer stored a newer
// epoch.
var ErrEpoch = errors.New("the change index was taken over by another writer (a newer epoch)")

// TakeOverServer ends the session that holds the writer lock of the index
// at raw (index+mysql:// or index+postgres://), if any: a deposed writer
// may be stopped or cut off with its transaction open, which would hold up
// even opening the index. Call it before OpenServer. It returns the session
// ended (0: none).
func TakeOverServer(ctx context.Context, raw string) (int64, error) {
	su, err := ParseServerURL(raw)
	if err != nil {
		return 0, err
	}
	db, err := sql.Open(su.driver, su.dsn)
	if err != nil {
		return 0, fmt.Errorf("change index %s: %w", su.Redacted, err)
	}
	defer db.Close()
	if db.PingContext(ctx) != nil {
		return 0, nil // no database yet (OpenServer creates it) or none reachable: OpenServer says why
	}
	s := &Store{db: dbq{db, su.dialect}, path: su.Redacted, dialect: su.dialect}
	return s.TakeOver(ctx)
}

// TakeOver ends the session that holds the index's writer lock, if any
// (see TakeOverServer).
func (s *Store) TakeOver(ctx context.Context) (int64, error) {
	var holder sql.NullInt64
	var err error
	switch s.dialect {
	case mysqlDB:
		err = s.db.QueryRowContext(ctx, `SELECT IS_USED_LOCK(CONCAT('bintap-index:', DATABASE()))`).Scan(&holder)
	case postgresDB:
		err = s.db.QueryRowContext(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
			AND ((classid::bigint << 32) | objid::bigint) = hashtext('bintap-index:' || current_database())::bigint
			AND pid <> pg_backend_pid() LIMIT 1`).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
	default:
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find the index's writer: %w", err)
	}
	if !holder.Valid || holder.Int64 == 0 {
		return 0, nil
	}
	switch s.dialect {
	case mysqlDB:
		_, err = s.db.ExecContext(ctx, "KILL "+strconv.FormatInt(holder.Int64, 10))
	case postgresDB:
		_, err = s.db.ExecContext(ctx, "SELECT pg_terminate_backend(?)", holder.Int64)
	}
	if err != nil {
		return 0, fmt.Errorf("end the session %d of the index's previous writer: %w", holder.Int64, err)
	}
	return holder.Int64, nil
}

// Fence stores the next epoch (and the holder's name) in meta and returns
// it; a writer with an older epoch commits nothing from then on.
func (s *Store) Fence(ctx context.Context, holder string) (uint64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	q := `SELECT value FROM meta WHERE name = 'ha_epoch'`
	if s.dialect != sqliteDB {
		q += ` FOR UPDATE`
	}
	var v string
	if err := tx.QueryRowContext(ctx, s.dialect.rebind(q)).Scan(&v); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read the index's epoch: %w", err)
	}
	cur, _ := strconv.ParseUint(v, 10, 64)
	next := cur + 1
	up := s.dialect.rebind(s.dialect.upsert("meta", "name", []string{"name", "value"}, []string{"value"}))
	if _, err := tx.ExecContext(ctx, up, "ha_epoch", strconv.FormatUint(next, 10)); err != nil {
		return 0, fmt.Errorf("store the index's epoch: %w", err)
	}
	if _, err := tx.ExecContext(ctx, up, "ha_holder", holder); err != nil {
		return 0, fmt.Errorf("store the index's holder: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return next, nil
}

// SetEpoch makes every later commit check that the index's epoch is still
// n (0: no check). Call it before the writer's first commit.
func (w *Writer) SetEpoch(n uint64) { w.epoch = n }

// checkEpoch is the check inside a commit's transaction, the meta row
// locked until the commit.
func (w *Writer) checkEpoch() error {
	if w.epoch == 0 {
		return nil
	}
	q := `SELECT value FROM meta WHERE name = 'ha_epoch'`
	if w.s.dialect != sqliteDB {
		q += ` FOR UPDATE`
	}
	var v string
	if err := w.conn.QueryRowContext(context.Background(), q).Scan(&v); err != nil {
		return fmt.Errorf("read the index's epoch: %w", err)
	}
	if cur, _ := strconv.ParseUint(v, 10, 64); cur != w.epoch {
		var holder string
		_ = w.conn.QueryRowContext(context.Background(), `SELECT value FROM meta WHERE name = 'ha_holder'`).Scan(&holder)
		return fmt.Errorf("%w: epoch %d of %s, this writer's is %d", ErrEpoch, cur, holder, w.epoch)
	}
	return nil
}
