package index

import (
	"context"
	"database/sql"
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
	var maxTx sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(tx_id) FROM transactions WHERE commit_time < ?`, cutoff.Unix()).Scan(&maxTx); err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	if !maxTx.Valid {
		return 0, nil
	}
	var total int64
	for ctx.Err() == nil {
		n, more, err := s.deleteBatch(ctx, maxTx.Int64, batch)
		total += n
		if err != nil {
			return total, err
		}
		if !more {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return total, err
	}
	// Transactions without changes left (and the rest of the range).
	for ctx.Err() == nil {
		res, err := s.db.ExecContext(ctx, `DELETE FROM transactions WHERE tx_id IN (
			SELECT tx_id FROM transactions WHERE tx_id <= ?
			AND tx_id < coalesce((SELECT tx_id FROM changes ORDER BY change_id LIMIT 1), ?) ORDER BY tx_id LIMIT ?)`,
			maxTx.Int64, maxTx.Int64+1, batch)
		if err != nil {
			return total, fmt.Errorf("retention: %w", err)
		}
		if n, _ := res.RowsAffected(); n < int64(batch) {
			break
		}
	}
	if err := s.SetMeta("covered_since", strconv.FormatInt(cutoff.Unix(), 10)); err != nil {
		return total, err
	}
	return total, ctx.Err()
}

// deleteBatch deletes up to batch of the oldest changes whose transaction is
// at most maxTx. Change ids grow with transaction ids, so the oldest changes
// are the ones to go and the scan stops at the first one to keep.
func (s *Store) deleteBatch(ctx context.Context, maxTx int64, batch int) (int64, bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT change_id, tx_id FROM changes ORDER BY change_id LIMIT ?`, batch)
	if err != nil {
		return 0, false, fmt.Errorf("retention: %w", err)
	}
	var last int64 = -1
	n, seen := int64(0), 0
	for rows.Next() {
		var id, tx int64
		if err := rows.Scan(&id, &tx); err != nil {
			rows.Close()
			return 0, false, err
		}
		seen++
		if tx > maxTx {
			break
		}
		last, n = id, n+1
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	if last < 0 {
		return 0, false, nil
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM changes WHERE change_id <= ?`, last); err != nil {
		return 0, false, fmt.Errorf("retention: %w", err)
	}
	return n, n == int64(batch) && seen == batch, nil
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
