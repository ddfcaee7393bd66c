package target

// Fencing for the instances of an HA group writing one database target
// (bintap stream --ha-group): the instance that becomes active stores the
// next epoch of its stream in bintap.epochs; every transaction checks, with
// that row locked and before it stores its position, that the epoch is
// still its own, and checks its lease first. A deposed instance that wakes
// up commits nothing.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/sink"
)

// fencing is what a Destination keeps for an HA group.
type fencing struct {
	lease sink.Lease
	epoch uint64 // 0: not fenced, no check
}

// SharedPosition: a target on a server is read by every instance of an HA
// group; a DuckDB file is not (sink.Shared).
func (o output) SharedPosition() error {
	if o.url.Driver == "" {
		return errors.New("a DuckDB file is on this host only")
	}
	return nil
}

func epochsDDL(d dialect) string {
	return "CREATE TABLE IF NOT EXISTS " + stateTable(d, "epochs") + " (stream VARCHAR(255) PRIMARY KEY, epoch BIGINT NOT NULL, holder VARCHAR(255) NOT NULL, updated_at VARCHAR(40) NOT NULL)"
}

// Fence stores the next epoch of this stream and makes every later
// transaction check it (pipeline.Fencer).
func (t *Destination) Fence(ctx context.Context) (uint64, error) {
	if _, err := t.db.ExecContext(ctx, epochsDDL(t.d)); err != nil {
		return 0, fmt.Errorf("target %s: create %s: %w", t.name, stateTable(t.d, "epochs"), err)
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var cur uint64
	err = tx.QueryRowContext(ctx, "SELECT epoch FROM "+stateTable(t.d, "epochs")+" WHERE stream = "+t.ph(1)+" FOR UPDATE", t.stream).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("target %s: read the epoch: %w", t.name, err)
	}
	holder := ""
	if t.fence.lease != nil {
		holder = t.fence.lease.Instance()
	}
	q := t.upsertSQL(stateTable(t.d, "epochs"), []string{"stream", "epoch", "holder", "updated_at"}, []string{"stream"}, 1, nil)
	if _, err := tx.ExecContext(ctx, q, t.stream, cur+1, holder, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return 0, fmt.Errorf("target %s: store the epoch: %w", t.name, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("target %s: store the epoch: %w", t.name, err)
	}
	t.fence.epoch = cur + 1 // before any work reaches the writer goroutine
	return cur + 1, nil
}

// epochMark is in the error PostgreSQL raises when the epoch moved on.
const epochMark = "bintap-epoch-"

// checkFence is the check inside each transaction, before the position is
// stored: the lease, then the epoch with its row locked until the commit.
func (t *Destination) checkFence(ctx context.Context, x execer) error {
	if t.fence.lease != nil && !t.fence.lease.Valid() {
		return fmt.Errorf("target %s: %w (its lease ran out)", t.name, pipeline.ErrDeposed)
	}
	if t.fence.epoch == 0 {
		return nil
	}
	deposed := func(now string) error {
		return fmt.Errorf("target %s: %w: the target's epoch is %s, this writer's %d (another instance took it over)", t.name, pipeline.ErrDeposed, now, t.fence.epoch)
	}
	if tx, ok := x.(sqlTx); ok {
		var cur uint64
		err := tx.tx.QueryRowContext(ctx, "SELECT epoch FROM "+stateTable(t.d, "epochs")+" WHERE stream = "+t.ph(1)+" FOR UPDATE", t.stream).Scan(&cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return deposed("gone")
		case err != nil:
			return err
		case cur != t.fence.epoch:
			return deposed(fmt.Sprint(cur))
		}
		return nil
	}
	// PostgreSQL's pipeline: a statement that fails unless the epoch is ours.
	q := "SELECT CASE WHEN epoch = " + t.ph(2) + " THEN 1 ELSE CAST('" + epochMark + "' || epoch AS INT) END FROM " +
		stateTable(t.d, "epochs") + " WHERE stream = " + t.ph(1) + " FOR UPDATE"
	wrap := func(err error) error {
		if msg := err.Error(); strings.Contains(msg, epochMark) {
			now := msg[strings.Index(msg, epochMark)+len(epochMark):]
			return deposed(strings.TrimRight(now, `"' )`))
		}
		return err
	}
	return x.exec(ctx, q, wrap, t.stream, int64(t.fence.epoch))
}
