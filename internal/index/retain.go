package index

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/klauspost/compress/s2"
)

// DeleteBefore removes the changes of transactions committed before cutoff,
// in SQLite transactions of at most batch changes (keys) or a few blocks,
// so that the stream's writer never waits long for the lock. It returns how
// many changes it removed. Afterwards the index covers changes from cutoff
// on.
func (s *Store) DeleteBefore(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	// Change ids follow transaction ids: everything up to the last change
	// of the newest old transaction goes.
	var maxTx, maxChange sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT tx_id, last_change FROM transactions WHERE tx_id = (SELECT max(tx_id) FROM transactions WHERE commit_time < ?)`,
		cutoff.Unix()).Scan(&maxTx, &maxChange)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("retention: %w", err)
	}
	if !maxTx.Valid {
		return 0, nil
	}
	x := maxChange.Int64
	d := s.dialect
	if s.keyRuns {
		// The run that holds x and later changes keeps the later ones; the
		// runs before it go with the keys.
		var first, n int64
		err := s.db.QueryRowContext(ctx, `SELECT first_change, n FROM change_key_runs WHERE first_change <= ? ORDER BY first_change DESC LIMIT 1`, x).Scan(&first, &n)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("retention: %w", err)
		}
		if err == nil && first+n-1 > x {
			cut := x + 1 - first
			if _, err := s.db.ExecContext(ctx, `UPDATE change_key_runs SET first_change = ?, first_key = first_key + ?, n = ? WHERE first_change = ?`, x+1, cut, n-cut, first); err != nil {
				return 0, fmt.Errorf("retention: %w", err)
			}
		}
	}
	qs := []string{d.deleteFirst("change_keys", "change_id"), d.deleteFirst("change_old_keys", "change_id")}
	if s.keyRuns {
		qs = append(qs, d.deleteFirst("change_key_runs", "first_change"))
	}
	for _, q := range qs {
		if _, err := s.deleteUpTo(ctx, q, x, batch); err != nil {
			return 0, err
		}
	}
	// Whole blocks up to x go (blocks hold consecutive changes, so they are
	// the blocks up to the last one that ends by x); the one holding x and
	// later changes is cut below.
	var total int64
	var cut sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(sum(last_change - first_change + 1), 0), max(first_change) FROM change_blocks WHERE last_change <= ?`, x).Scan(&total, &cut); err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	if _, err := s.deleteUpTo(ctx, d.deleteFirst("change_blocks", "first_change"), cut.Int64, max(1, batch/blockMaxChanges)); err != nil {
		return 0, err
	}
	n, err := s.trimBlock(ctx, x)
	if err != nil {
		return total, err
	}
	total += n
	if _, err := s.deleteUpTo(ctx, d.deleteFirst("transactions", "tx_id"), maxTx.Int64, batch); err != nil {
		return total, err
	}
	// Only moved forward: older changes existed, so the index began before cutoff.
	if err := s.SetMeta("covered_since", strconv.FormatInt(cutoff.Unix(), 10)); err != nil {
		return total, err
	}
	return total, nil
}

// trimBlock removes the changes up to x from the block that holds x and
// later changes, returning how many it removed.
func (s *Store) trimBlock(ctx context.Context, x int64) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	defer tx.Rollback()
	var b storedBlock
	var tables string
	var z []byte
	err = tx.QueryRowContext(ctx, s.dialect.rebind(`SELECT first_change, last_change, table_ids, changes, offsets FROM change_blocks WHERE first_change <= ? AND last_change > ?`), x, x).
		Scan(&b.first, &b.last, &tables, &z, &b.offsets)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err == nil {
		b.text, err = s2.Decode(nil, z)
	}
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	k := int(x + 1 - b.first) // elements to drop
	if 4*k >= len(b.offsets) {
		return 0, fmt.Errorf("retention: block %d: %w", b.first, errElement)
	}
	cut := int(binary.LittleEndian.Uint32(b.offsets[4*k:])) // the kept part starts here
	text := append([]byte{'['}, b.text[cut:]...)
	offsets := make([]byte, 0, len(b.offsets)-4*k)
	for i := 4 * k; i < len(b.offsets); i += 4 {
		offsets = binary.LittleEndian.AppendUint32(offsets, binary.LittleEndian.Uint32(b.offsets[i:])-uint32(cut)+1)
	}
	if _, err := tx.ExecContext(ctx, s.dialect.rebind(`DELETE FROM change_blocks WHERE first_change = ?`), b.first); err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.dialect.rebind(`INSERT INTO change_blocks (first_change, last_change, table_ids, changes, offsets) VALUES (?, ?, ?, ?, ?)`),
		x+1, b.last, tables, s2.Encode(nil, text), offsets); err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	return int64(k), nil
}

// deleteUpTo runs a batched DELETE (bound and batch as its arguments) until
// a batch comes back short, each batch its own short transaction.
func (s *Store) deleteUpTo(ctx context.Context, q string, bound int64, batch int) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res, err := s.db.ExecContext(ctx, q, bound, batch)
		if err != nil {
			return total, fmt.Errorf("retention: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}

// RetainLoop runs retention every interval until ctx ends: changes older
// than retain are deleted, and the index size and oldest change are logged.
// A retain of 0 only logs.
func (s *Store) RetainLoop(ctx context.Context, retain, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if retain > 0 {
			n, err := s.DeleteBefore(ctx, time.Now().Add(-retain), 5000)
			if err != nil && ctx.Err() == nil {
				log.Warn("change index retention failed; retrying later", "err", err)
			} else if n > 0 {
				log.Info("change index retention", "deleted_changes", n, "older_than", retain.String())
			}
		}
		if st, err := s.Stats(ctx); err == nil {
			log.Info("change index", "path", st.Path, "bytes", st.Bytes, "oldest_change", fmtTime(st.OldestChange), "newest_change", fmtTime(st.NewestChange))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.Format(time.RFC3339)
}
