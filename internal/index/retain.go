package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// DeleteBefore removes the changes of transactions committed before cutoff,
// in SQLite transactions of at most batch changes so that the stream's
// writer never waits long for the lock. It returns how many changes it
// removed. Afterwards the index covers changes from cutoff on.
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
	total, err := s.deleteUpTo(ctx, `DELETE FROM changes WHERE change_id IN (SELECT change_id FROM changes WHERE change_id <= ? ORDER BY change_id LIMIT ?)`, maxChange.Int64, batch)
	if err != nil {
		return total, err
	}
	if _, err := s.deleteUpTo(ctx, `DELETE FROM transactions WHERE tx_id IN (SELECT tx_id FROM transactions WHERE tx_id <= ? ORDER BY tx_id LIMIT ?)`, maxTx.Int64, batch); err != nil {
		return total, err
	}
	// Only moved forward: older changes existed, so the index began before cutoff.
	if err := s.SetMeta("covered_since", strconv.FormatInt(cutoff.Unix(), 10)); err != nil {
		return total, err
	}
	return total, nil
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
