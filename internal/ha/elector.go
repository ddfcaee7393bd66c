// Package ha decides which instance of a group streams (--ha-group): the
// active one holds a named lock on the source server (GET_LOCK, on MariaDB
// and MySQL, also on a read-only replica), on a connection whose liveness
// the server enforces. The others are standby: connected, asking for the
// lock every second, reading nothing.
//
// The lock connection's wait_timeout is the lease (--ha-lease, 10 s by
// default): the server ends the session of a holder that sends nothing for
// that long, and the lock goes with it. A crashed holder's socket closes at
// once (takeover within about a second); a hung (SIGSTOP) or partitioned
// holder loses the lock when the lease runs out on the server. The holder
// renews every quarter lease and counts itself active only until its last
// renewal was sent plus the lease minus a margin: it stops writing before
// the server can give the lock to another instance. Outputs check that
// (Lease.Valid) before each send, and fence a deposed writer with an epoch
// of their own (Kafka transactional ids, the epoch stored with the
// position), so an instance that wakes up after its lease writes nothing.
package ha

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/source"
)

// Roles.
const (
	RoleActive  = "active"
	RoleStandby = "standby"
)

// Options configure an Elector.
type Options struct {
	Group string
	// Instance names this process in logs and in the outputs' epoch
	// records (default host name and process id).
	Instance string
	Lease    time.Duration
	Source   config.Source
	Log      *slog.Logger
}

// Status is the group as this instance sees it.
type Status struct {
	Group  string    `json:"group"`
	Role   string    `json:"role"`
	Since  time.Time `json:"since"`
	Holder string    `json:"holder,omitempty"` // who holds the lock (connection and client address)
	Lock   string    `json:"lock"`
	Lease  string    `json:"lease"`
	// Epoch is the epoch this instance writes with while active.
	Epoch     uint64 `json:"epoch,omitempty"`
	Instance  string `json:"instance"`
	LastError string `json:"last_error,omitempty"`
}

// Elector takes and keeps the group's lock.
type Elector struct {
	o    Options
	lock string
	log  *slog.Logger

	mu      sync.Mutex
	role    string
	since   time.Time
	holder  string
	epoch   uint64
	lastErr string
	// validUntil is when this instance stops counting itself active: the
	// send time of its last confirmed renewal plus lease minus margin
	// (monotonic clock: it runs on while the process is stopped).
	validUntil time.Time
	lost       chan struct{}
	db         *sql.DB
	conn       *sql.Conn
	stopRenew  context.CancelFunc
	renewDone  chan struct{}
}

// LockName is the server lock of a group: "bintap." and the group, or a hash
// of it when that is longer than the server's 64 characters.
func LockName(group string) string {
	name := "bintap." + group
	if len(name) > 64 {
		sum := sha256.Sum256([]byte(group))
		name = "bintap." + hex.EncodeToString(sum[:20])
	}
	return name
}

// New returns an elector; it connects on Acquire.
func New(o Options) *Elector {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Elector{o: o, lock: LockName(o.Group), log: o.Log.With("ha_group", o.Group), role: RoleStandby, since: time.Now()}
}

// margin is how much before the server's end of the lease the holder stops
// counting itself active.
func (e *Elector) margin() time.Duration { return max(e.o.Lease/5, 500*time.Millisecond) }

// Status returns the group as this instance sees it.
func (e *Elector) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Status{Group: e.o.Group, Role: e.role, Since: e.since, Holder: e.holder, Lock: e.lock, Lease: e.o.Lease.String(),
		Epoch: e.epoch, Instance: e.o.Instance, LastError: e.lastErr}
}

// SetEpoch records the epoch the outputs gave this instance.
func (e *Elector) SetEpoch(n uint64) {
	e.mu.Lock()
	e.epoch = max(e.epoch, n)
	e.mu.Unlock()
}

// Instance is this process's name in the group.
func (e *Elector) Instance() string { return e.o.Instance }

// Valid reports whether this instance may write now: it holds the lock and
// its lease has not run out. Outputs call it before each send.
func (e *Elector) Valid() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.role == RoleActive && time.Now().Before(e.validUntil)
}

// Lost is closed when this instance stops being active (nil while standby).
func (e *Elector) Lost() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lost
}

// Acquire waits as a standby until this instance holds the group's lock, or
// ctx ends. Errors of the source are retried (and shown in Status): a
// standby waits out a source that is down.
func (e *Elector) Acquire(ctx context.Context) error {
	e.setStandby("")
	logged := false
	for {
		ok, err := e.try(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if ok {
			return nil
		}
		e.mu.Lock()
		if err != nil {
			e.lastErr = err.Error()
		} else {
			e.lastErr = ""
		}
		holder := e.holder
		e.mu.Unlock()
		if err != nil {
			e.log.Warn("ha: cannot ask the source for the group lock; retrying", "err", err)
			e.closeConn()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		} else if !logged {
			e.log.Info("ha: standby; another instance is active", "lock", e.lock, "holder", holder)
			logged = true
		}
	}
}

// try asks for the lock once, waiting up to a second for it.
func (e *Elector) try(ctx context.Context) (bool, error) {
	if e.conn == nil {
		if err := e.connect(ctx); err != nil {
			return false, err
		}
	}
	sent := time.Now()
	qctx, cancel := context.WithTimeout(ctx, 1*time.Second+e.o.Lease)
	defer cancel()
	var got sql.NullInt64
	if err := e.conn.QueryRowContext(qctx, "SELECT GET_LOCK(?, 1)", e.lock).Scan(&got); err != nil {
		return false, fmt.Errorf("GET_LOCK(%q): %w", e.lock, err)
	}
	if !got.Valid || got.Int64 != 1 {
		holder := e.holderOf(qctx)
		e.mu.Lock()
		e.holder = holder
		e.mu.Unlock()
		return false, nil
	}
	var id int64
	_ = e.conn.QueryRowContext(qctx, "SELECT CONNECTION_ID()").Scan(&id)
	lost := make(chan struct{})
	e.mu.Lock()
	e.role, e.since, e.lastErr = RoleActive, time.Now(), ""
	e.holder = fmt.Sprintf("%s (connection %d)", e.o.Instance, id)
	e.validUntil = sent.Add(e.o.Lease - e.margin())
	e.lost = lost
	e.mu.Unlock()
	rctx, stop := context.WithCancel(context.Background())
	e.stopRenew, e.renewDone = stop, make(chan struct{})
	go e.renew(rctx, lost)
	e.log.Info("ha: this instance is now active", "lock", e.lock, "lease", e.o.Lease.String())
	return true, nil
}

// holderOf names the connection that holds the lock, with its client
// address when the server shows it.
func (e *Elector) holderOf(ctx context.Context) string {
	var id sql.NullInt64
	if err := e.conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", e.lock).Scan(&id); err != nil || !id.Valid {
		return ""
	}
	var host sql.NullString
	if err := e.conn.QueryRowContext(ctx, "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = ?", id.Int64).Scan(&host); err == nil && host.Valid {
		return fmt.Sprintf("connection %d from %s", id.Int64, host.String)
	}
	return fmt.Sprintf("connection %d", id.Int64)
}

// connect opens the lock connection: one pinned session whose wait_timeout
// is the lease.
func (e *Elector) connect(ctx context.Context) error {
	db, err := source.OpenDBWith(e.o.Source, source.DBOptions{ReadTimeout: e.o.Lease + 2*time.Second})
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	cctx, cancel := context.WithTimeout(ctx, e.o.Source.ConnectTimeout()+e.o.Lease)
	defer cancel()
	conn, err := db.Conn(cctx)
	if err != nil {
		db.Close()
		return err
	}
	secs := int((e.o.Lease + time.Second - 1) / time.Second)
	if _, err := conn.ExecContext(cctx, fmt.Sprintf("SET SESSION wait_timeout = %d", secs)); err != nil {
		conn.Close()
		db.Close()
		return fmt.Errorf("set the lock connection's wait_timeout: %w", err)
	}
	e.db, e.conn = db, conn
	return nil
}

func (e *Elector) closeConn() {
	if e.conn != nil {
		e.conn.Close()
		e.db.Close()
		e.conn, e.db = nil, nil
	}
}

// renew confirms the lock every quarter lease. When a renewal fails, or the
// lease ran out before one came back, this instance is deposed: Lost closes.
func (e *Elector) renew(ctx context.Context, lost chan struct{}) {
	defer close(e.renewDone)
	every := e.o.Lease / 4
	t := time.NewTicker(every)
	defer t.Stop()
	watch := time.NewTicker(50 * time.Millisecond) // the lease runs out even if a renewal hangs
	defer watch.Stop()
	type result struct {
		sent time.Time
		err  error
	}
	results := make(chan result, 1)
	inflight := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-watch.C:
			e.mu.Lock()
			expired := !time.Now().Before(e.validUntil)
			e.mu.Unlock()
			if expired {
				e.depose(lost, "the lease ran out before a renewal came back (the process was stopped, or the source is unreachable)")
				return
			}
		case <-t.C:
			if inflight {
				continue
			}
			inflight = true
			conn := e.conn
			go func() {
				sent := time.Now()
				qctx, cancel := context.WithTimeout(ctx, e.o.Lease)
				defer cancel()
				var mine sql.NullInt64
				err := conn.QueryRowContext(qctx, "SELECT IS_USED_LOCK(?) = CONNECTION_ID()", e.lock).Scan(&mine)
				if err == nil && (!mine.Valid || mine.Int64 != 1) {
					err = errors.New("the server says another session holds the lock")
				}
				results <- result{sent, err}
			}()
		case r := <-results:
			inflight = false
			if r.err != nil {
				e.depose(lost, "renewal failed: "+r.err.Error())
				return
			}
			e.mu.Lock()
			// A renewal that came back after the lease ran out does not
			// revive it: the watch deposes first.
			if time.Now().Before(e.validUntil) {
				e.validUntil = r.sent.Add(e.o.Lease - e.margin())
			}
			e.mu.Unlock()
		}
	}
}

// depose ends the active role: Valid is false from now on and Lost closes.
func (e *Elector) depose(lost chan struct{}, why string) { e.end(lost, why, true) }

func (e *Elector) end(lost chan struct{}, why string, warn bool) {
	e.mu.Lock()
	if e.lost != lost || e.role != RoleActive {
		e.mu.Unlock()
		return
	}
	e.role, e.since, e.lastErr, e.validUntil = RoleStandby, time.Now(), why, time.Time{}
	e.mu.Unlock()
	close(lost)
	if warn {
		e.log.Warn("ha: deposed; writing nothing more and going back to standby", "why", why)
	}
}

// Depose gives up the active role (an output said another instance took
// over). It is a no-op while standby.
func (e *Elector) Depose(why string) {
	e.mu.Lock()
	lost := e.lost
	e.mu.Unlock()
	if lost != nil {
		e.depose(lost, why)
	}
}

// Release gives the lock up (a clean stop or after being deposed) and
// closes the lock connection; the next Acquire connects again.
func (e *Elector) Release() {
	e.mu.Lock()
	lost := e.lost
	e.mu.Unlock()
	if e.stopRenew != nil {
		e.stopRenew()
		<-e.renewDone
		e.stopRenew = nil
	}
	if lost != nil {
		e.end(lost, "", false)
	}
	if e.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, _ = e.conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", e.lock)
		cancel()
	}
	e.closeConn()
}

func (e *Elector) setStandby(why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.role != RoleStandby {
		e.role, e.since = RoleStandby, time.Now()
	}
	if why != "" {
		e.lastErr = why
	}
}
