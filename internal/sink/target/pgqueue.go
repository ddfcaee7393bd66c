package target

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgQueue collects a transaction's statements and sends them to
// PostgreSQL in one pipeline (BEGIN, the batch, the position, COMMIT): one
// round trip a transaction instead of one a statement.
type pgQueue struct {
	conn   *pgx.Conn
	b      *pgx.Batch
	wrap   []func(error) error
	stages map[string]int // staging tables used in the transaction, by columns (pgcopy.go)
}

// use returns how many times the transaction used the staging tables of
// this name before, and counts one more.
func (q *pgQueue) use(name string) int {
	if q.stages == nil {
		q.stages = map[string]int{}
	}
	n := q.stages[name]
	q.stages[name] = n + 1
	return n
}

// copy sends what is queued, then runs the statements before (no
// results) and COPY … FROM STDIN statement copy with data, in one round
// trip: the COPY's data follows its query without waiting (pgconn), and
// queued statements without arguments (BEGIN, LOCK TABLE) go along in the
// same query when nothing else is queued.
func (q *pgQueue) copy(ctx context.Context, before, copy string, data []byte, wrap func(error) error) error {
	sql := before + "; " + copy
	if q.b != nil && q.plain() {
		var all []string
		for _, qq := range q.b.QueuedQueries {
			all = append(all, qq.SQL)
		}
		sql = strings.Join(append(all, sql), "; ")
		q.b, q.wrap = nil, nil
	}
	if err := q.flush(ctx); err != nil {
		return err
	}
	if err := copyFrom(ctx, q.conn.PgConn(), data, sql); err != nil {
		return wrap(err)
	}
	return nil
}

// plain reports whether every queued statement is one without arguments
// nor an error of its own to explain (BEGIN, LOCK TABLE): those can go
// in the COPY's query.
func (q *pgQueue) plain() bool {
	for i, qq := range q.b.QueuedQueries {
		if len(qq.Arguments) > 0 || q.wrap[i] != nil {
			return false
		}
	}
	return true
}

// copyFrom runs pgconn's CopyFrom, which panics ("close of closed
// channel") when the connection breaks during the COPY
// (github.com/jackc/pgx/issues/2364): the panic is the connection lost,
// a transient error; the connection is closed by then, and database/sql
// discards it.
func copyFrom(ctx context.Context, pc *pgconn.PgConn, data []byte, sql string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			pc.Conn().Close()
			err = fmt.Errorf("COPY: the server closed the connection (pgconn: %v)", r)
		}
	}()
	_, err = pc.CopyFrom(ctx, bytes.NewReader(data), sql)
	return err
}

func (q *pgQueue) exec(_ context.Context, sql string, wrap func(error) error, args ...any) error {
	if q.b == nil {
		q.b = &pgx.Batch{}
	}
	q.b.Queue(sql, args...)
	q.wrap = append(q.wrap, wrap)
	return nil
}

// flush sends what is queued and reads the results. A schema change is
// flushed at once: the statements after it are prepared against the
// changed table.
func (q *pgQueue) flush(ctx context.Context) error {
	if q.b == nil || q.b.Len() == 0 {
		return nil
	}
	br := q.conn.SendBatch(ctx, q.b)
	wraps := q.wrap
	q.b, q.wrap = nil, nil
	for i := range wraps {
		if _, err := br.Exec(); err != nil {
			br.Close()
			if wraps[i] != nil {
				return wraps[i](err)
			}
			return err
		}
	}
	return br.Close()
}

// pgApplyOnce commits w on one connection in one pipeline.
func (t *Destination) pgApplyOnce(ctx context.Context, w work) error {
	conn, err := t.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("target %s: unexpected driver connection %T", t.name, dc)
		}
		pc := sc.Conn()
		q := &pgQueue{conn: pc}
		q.exec(ctx, "BEGIN", nil)
		err := t.transaction(ctx, q, w)
		if err == nil {
			q.exec(ctx, "COMMIT", nil)
			err = q.flush(ctx)
		}
		if err != nil && !pc.IsClosed() {
			_, _ = pc.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		return err
	})
}
