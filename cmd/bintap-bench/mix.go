package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/bintap/bintap/internal/testutil"
)

// The mixed workload of rows m and n: -mix-changes row changes (1,000,000)
// over a fifth as many keys of bench.m (200,000), in transactions of 1 to
// 20 changes, generated from a fixed seed. Each change picks a key at
// random: a key without a row is inserted; a key with one is deleted one
// time in five and updated otherwise (ver+1, qty, price, updated). The
// transactions go round-robin to mixWriters partitions of the keys (key mod
// mixWriters), so the connections that load them into MariaDB in parallel
// touch disjoint rows and the table ends the same whatever order their
// commits take in the binlog. Row n replays the same sequence from the
// generator (the harness knows the workload; it does not read bintap).

const createMixTable = `CREATE TABLE bench.m (
  id      BIGINT NOT NULL PRIMARY KEY,
  ver     INT NOT NULL,
  qty     INT NOT NULL,
  name    VARCHAR(64) NOT NULL,
  price   DECIMAL(12,2) NOT NULL,
  updated DATETIME(6) NOT NULL,
  note    TEXT
) ENGINE=InnoDB`

// createMixCopy is row n's table in PostgreSQL: the same columns.
const createMixCopy = `CREATE TABLE m (
  id      bigint PRIMARY KEY,
  ver     integer NOT NULL,
  qty     integer NOT NULL,
  name    varchar(64) NOT NULL,
  price   numeric(12,2) NOT NULL,
  updated timestamp(6) NOT NULL,
  note    text
)`

const (
	mixWriters     = 4   // partitions of the keys, and connections loading them
	mixMaxTx       = 20  // changes per transaction: 1 to mixMaxTx
	mixDeletePct   = 20  // of the changes to a key that has a row
	mixNullNotePct = 10  // of the inserts
	mixBatch       = 500 // row n: changes per PostgreSQL transaction
)

type mixOp uint8

const (
	mixInsert mixOp = iota
	mixUpdate
	mixDelete
)

var mixOpNames = [...]string{mixInsert: "insert", mixUpdate: "update", mixDelete: "delete"}

// mixChange is one change of the mixed workload. An update sets ver, qty,
// price and updated; a delete needs only id.
type mixChange struct {
	op      mixOp
	id      int64
	ver     int32
	qty     int32
	cents   int64 // price in cents
	updated time.Time
	name    string
	note    string // inserts; "" with noteNull
	noNote  bool   // note is NULL
}

// mixGen generates the mixed workload, one transaction at a time; the same
// changes and keys give the same sequence.
type mixGen struct {
	rng     *rand.Rand
	keys    int
	total   int // changes to generate
	done    int
	txs     int
	live    []bool // by id-1: the key has a row
	ver     []int32
	base    time.Time
	counts  [3]int // by mixOp
	tx      []mixChange
	scratch []byte
}

func newMixGen(changes, keys int) *mixGen {
	return &mixGen{
		rng:   rand.New(rand.NewPCG(20261128, 7)),
		keys:  keys,
		total: changes,
		live:  make([]bool, keys),
		ver:   make([]int32, keys),
		base:  time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
	}
}

// mixKeys is how many keys a workload of changes touches: a fifth as many,
// so that each key sees about five changes.
func mixKeys(changes int) int { return max(changes/5, mixWriters) }

// next returns the next transaction (valid until the next call) and the
// partition its keys are in, or nil when the workload is complete.
func (g *mixGen) next() ([]mixChange, int) {
	if g.done >= g.total {
		return nil, 0
	}
	part := g.txs % mixWriters
	g.txs++
	n := min(1+g.rng.IntN(mixMaxTx), g.total-g.done)
	inPart := (g.keys - part + mixWriters - 1) / mixWriters // keys k < g.keys with k%mixWriters == part
	g.tx = g.tx[:0]
	for range n {
		k := part + mixWriters*g.rng.IntN(inPart)
		c := mixChange{id: int64(k) + 1}
		switch {
		case !g.live[k]:
			c.op = mixInsert
			g.live[k] = true
			g.ver[k] = 1
			g.scratch = testutil.AppendBenchWords(g.scratch[:0], g.rng, 1+g.rng.IntN(4), 64)
			c.name = string(g.scratch)
			if g.rng.IntN(100) < mixNullNotePct {
				c.noNote = true
			} else {
				g.scratch = testutil.AppendBenchWords(g.scratch[:0], g.rng, 6+g.rng.IntN(8), 120)
				c.note = string(g.scratch)
			}
		case g.rng.IntN(100) < mixDeletePct:
			c.op = mixDelete
			g.live[k] = false
		default:
			c.op = mixUpdate
			g.ver[k]++
		}
		if c.op != mixDelete {
			c.ver = g.ver[k]
			c.qty = g.rng.Int32N(1_000_000)
			c.cents = g.rng.Int64N(10_000_000_00) - 1_000_000_00
			c.updated = g.base.Add(time.Duration(g.done)*time.Second + time.Duration(g.rng.IntN(1_000_000))*time.Microsecond)
		}
		g.counts[c.op]++
		g.done++
		g.tx = append(g.tx, c)
	}
	return g.tx, part
}

// liveRows counts the keys that have a row.
func (g *mixGen) liveRows() int {
	n := 0
	for _, l := range g.live {
		if l {
			n++
		}
	}
	return n
}

// appendMixSQL appends the MariaDB statement of c, with its values inline.
func appendMixSQL(b []byte, c *mixChange) []byte {
	switch c.op {
	case mixInsert:
		b = append(b, "INSERT INTO bench.m (id,ver,qty,name,price,updated,note) VALUES ("...)
		b = strconv.AppendInt(b, c.id, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(c.ver), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(c.qty), 10)
		b = append(b, ",'"...)
		b = append(b, c.name...) // words need no escaping
		b = append(b, "',"...)
		b = appendCents(b, c.cents)
		b = append(b, ",'"...)
		b = c.updated.AppendFormat(b, "2006-01-02 15:04:05.000000")
		if c.noNote {
			return append(b, "',NULL)"...)
		}
		b = append(b, "','"...)
		b = append(b, c.note...)
		return append(b, "')"...)
	case mixUpdate:
		b = append(b, "UPDATE bench.m SET ver="...)
		b = strconv.AppendInt(b, int64(c.ver), 10)
		b = append(b, ",qty="...)
		b = strconv.AppendInt(b, int64(c.qty), 10)
		b = append(b, ",price="...)
		b = appendCents(b, c.cents)
		b = append(b, ",updated='"...)
		b = c.updated.AppendFormat(b, "2006-01-02 15:04:05.000000")
		b = append(b, "' WHERE id="...)
		return strconv.AppendInt(b, c.id, 10)
	default:
		b = append(b, "DELETE FROM bench.m WHERE id="...)
		return strconv.AppendInt(b, c.id, 10)
	}
}

// appendCents appends cents as a decimal number with two digits of scale.
func appendCents(b []byte, cents int64) []byte {
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	return append(b, '.', byte('0'+cents%100/10), byte('0'+cents%10))
}

// mixStats describe the loaded mixed workload.
type mixStats struct {
	keys, txs, live int
	counts          [3]int
	duration        time.Duration
}

// loadMix creates bench.m in a binlog file of its own and loads the mixed
// workload into it, each transaction one multi-statement round trip, from
// mixWriters connections (one per key partition). The workload it returns
// starts at that file's position after the flush and ends in the file the
// final flush opens.
func loadMix(ctx context.Context, db *sql.DB, changes int, out io.Writer) (*workload, mixStats, error) {
	keys := mixKeys(changes)
	fmt.Fprintf(out, "loading the mixed workload of rows m and n: %d changes over %d keys of bench.m\n", changes, keys)
	if _, err := db.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
		return nil, mixStats{}, fmt.Errorf("flush binary logs: %w", err)
	}
	start, err := binlogEnd(ctx, db)
	if err != nil {
		return nil, mixStats{}, err
	}
	for _, q := range []string{"CREATE DATABASE IF NOT EXISTS bench", createMixTable} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, mixStats{}, fmt.Errorf("create bench.m: %w", err)
		}
	}
	t0 := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	queues := make([]chan []byte, mixWriters)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan []byte, 64)
		q := queues[i]
		wg.Go(func() {
			conn, err := db.Conn(ctx)
			if err != nil {
				cancel(err)
				return
			}
			defer conn.Close()
			for stmts := range q {
				if ctx.Err() != nil {
					continue // drain
				}
				if _, err := conn.ExecContext(ctx, string(stmts)); err != nil {
					cancel(fmt.Errorf("load bench.m: %w", err))
				}
			}
		})
	}
	g := newMixGen(changes, keys)
	for ctx.Err() == nil {
		tx, part := g.next()
		if tx == nil {
			break
		}
		b := append(make([]byte, 0, 256*len(tx)), "BEGIN;"...)
		for i := range tx {
			b = appendMixSQL(b, &tx[i])
			b = append(b, ';')
		}
		queues[part] <- append(b, "COMMIT"...)
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, mixStats{}, err
	}
	st := mixStats{keys: keys, txs: g.txs, live: g.liveRows(), counts: g.counts, duration: time.Since(t0)}
	if _, err := db.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
		return nil, mixStats{}, fmt.Errorf("flush binary logs: %w", err)
	}
	var rows int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM bench.m").Scan(&rows); err != nil {
		return nil, mixStats{}, fmt.Errorf("count bench.m: %w", err)
	}
	if rows != st.live {
		return nil, mixStats{}, fmt.Errorf("bench.m holds %d rows after the load, the workload leaves %d", rows, st.live)
	}
	w, err := binlogFiles(ctx, db, start.Name)
	if err != nil {
		return nil, mixStats{}, err
	}
	w.rows = changes
	w.start = fmt.Sprintf("%s:%d", start.Name, start.Pos)
	fmt.Fprintf(out, "loaded %d changes in %d transactions in %.2fs (%.0f changes/s); binlog %s in %d file(s) from %s\n\n",
		changes, st.txs, st.duration.Seconds(), float64(changes)/st.duration.Seconds(), humanBytes(w.bytes), len(w.files), w.start)
	return w, st, nil
}

// bintapPostgresMerge measures bintap merging the mixed workload from the
// binlog into an empty PostgreSQL database (--output postgres://..., its
// defaults: soft deletes).
func bintapPostgresMerge(binary string, pg *pgEnv, row string, serverID int) func(ctx context.Context, w *workload) result {
	return bintapIntoPostgres(binary, pg, row, serverID, mixCopy, func(w *workload) []string {
		return []string{"--start", w.start, "--stop-at-end", "--snapshot", "never", "--tables", "bench.m"}
	})
}

// pgxStatements measures what a JDBC-style sink does with the same
// changes: one INSERT, UPDATE or DELETE by key per change, each its own
// round trip (pgx's cached prepared statements, no pipelining), committed
// every mixBatch changes, into a new table in the same PostgreSQL. The
// changes come from the generator, not from the binlog.
func pgxStatements(pg *pgEnv) func(ctx context.Context, w *workload) result {
	return func(ctx context.Context, w *workload) result {
		name, db, cleanup, err := pg.freshDB(ctx, "n")
		if err != nil {
			return result{err: err}
		}
		defer cleanup()
		if _, err := db.ExecContext(ctx, createMixCopy); err != nil {
			return result{err: fmt.Errorf("create table: %w", err)}
		}
		conn, err := pgx.Connect(ctx, pg.srv.DSN(name))
		if err != nil {
			return result{err: err}
		}
		defer conn.Close(context.Background())
		pg0 := pg.cpu()
		elapsed, err := applyStatements(ctx, conn, w.rows)
		if err != nil {
			return result{err: err}
		}
		pgCPU := pg.cpuSince(pg0)
		if err := mixCopy.verify(ctx, w.db, db); err != nil {
			return result{err: err}
		}
		return result{rows: int64(w.rows), elapsed: elapsed, serverCPU: pgCPU}
	}
}

// applyStatements applies the mixed workload of changes to table m through
// conn and returns the time it took.
func applyStatements(ctx context.Context, conn *pgx.Conn, changes int) (time.Duration, error) {
	const (
		insert = "INSERT INTO m (id, ver, qty, name, price, updated, note) VALUES ($1, $2, $3, $4, $5, $6, $7)"
		update = "UPDATE m SET ver = $2, qty = $3, price = $4, updated = $5 WHERE id = $1"
		del    = "DELETE FROM m WHERE id = $1"
	)
	g := newMixGen(changes, mixKeys(changes))
	start := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }() // after Commit, a no-op
	n := 0
	for {
		changes, _ := g.next()
		if changes == nil {
			break
		}
		for i := range changes {
			c := &changes[i]
			price := pgtype.Numeric{Int: big.NewInt(c.cents), Exp: -2, Valid: true}
			switch c.op {
			case mixInsert:
				note := pgtype.Text{String: c.note, Valid: !c.noNote}
				_, err = tx.Exec(ctx, insert, c.id, c.ver, c.qty, c.name, price, c.updated, note)
			case mixUpdate:
				_, err = tx.Exec(ctx, update, c.id, c.ver, c.qty, price, c.updated)
			default:
				_, err = tx.Exec(ctx, del, c.id)
			}
			if err != nil {
				return 0, fmt.Errorf("change %d (%s of id %d): %w", n+1, mixOpNames[c.op], c.id, err)
			}
			if n++; n%mixBatch == 0 {
				if err := tx.Commit(ctx); err != nil {
					return 0, err
				}
				if tx, err = conn.Begin(ctx); err != nil {
					return 0, err
				}
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
