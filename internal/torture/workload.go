package torture

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"strings"
	"sync/atomic"
	"time"
)

// The workload's tables in database w. Every change has an identity a
// checker can find in any output:
//
//	ev   insert-only, one column added by DDL every so often   ev:i:ID
//	acc  50 rows, each update adds 1 to n                      acc:i:ID, acc:u:ID:N
//	del  inserted, deleted in a later transaction              del:i:ID, del:d:ID
//	dlog the ids of del deleted, in the deleting transaction   dlog:i:ID
//
// What the source holds at the end is the truth: a transaction whose
// COMMIT was cut by a server restart counts exactly when it is there.
var setupSQL = []string{
	"CREATE DATABASE w",
	"CREATE TABLE w.ev (id BIGINT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, s VARCHAR(64))",
	"CREATE TABLE w.acc (id INT PRIMARY KEY, n INT NOT NULL)",
	"CREATE TABLE w.del (id BIGINT PRIMARY KEY, s VARCHAR(32))",
	"CREATE TABLE w.dlog (id BIGINT PRIMARY KEY)",
}

const accRows = 50

// Workload writes transactions until stop closes or target changes are
// reached.
type Workload struct {
	DB      *sql.DB
	Rng     *rand.Rand
	Target  int64         // row changes to write at least (about)
	Pace    time.Duration // a pause between transactions
	DDLEach int64         // a DDL after this many changes

	Changes, Txs, DDLs, Errors atomic.Int64
	// Paused slows the workload to a transaction every 400 ms while set.
	Paused  atomic.Bool
	nextDel int64
}

// Setup creates the tables (and acc's rows).
func (w *Workload) Setup(ctx context.Context) error {
	for _, q := range setupSQL {
		if _, err := w.DB.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	var vals []string
	for i := 1; i <= accRows; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 0)", i))
	}
	_, err := w.DB.ExecContext(ctx, "INSERT INTO w.acc VALUES "+strings.Join(vals, ","))
	return err
}

// Run writes until stop closes; errors (a server restarting) are counted
// and retried. Target paces it: a change every so often, so that the
// faults are spread over the run.
func (w *Workload) Run(ctx context.Context, stop <-chan struct{}) {
	lastDDL := int64(0)
	col := 0
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		paused := w.Paused.Load()
		if paused {
			// A trickle: a later change closes the files output's
			// time window, and heartbeats alone take longer.
			time.Sleep(400 * time.Millisecond)
		} else if w.DDLEach > 0 && w.Changes.Load()-lastDDL >= w.DDLEach {
			col++
			if _, err := w.DB.ExecContext(ctx, fmt.Sprintf("ALTER TABLE w.ev ADD COLUMN c%d INT NULL", col)); err != nil {
				// a restart may have cut it after it was done
				if !strings.Contains(err.Error(), "Duplicate column") {
					w.Errors.Add(1)
					col--
					time.Sleep(200 * time.Millisecond)
					continue
				}
			}
			w.DDLs.Add(1)
			lastDDL = w.Changes.Load()
		}
		if w.Pace > 0 && !paused {
			time.Sleep(w.Pace)
		}
		n, err := w.tx(ctx)
		if err != nil {
			w.Errors.Add(1)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		w.Changes.Add(n)
		w.Txs.Add(1)
	}
}

func (w *Workload) tx(ctx context.Context) (int64, error) {
	tx, err := w.DB.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var n int64
	rows := 1 + w.Rng.Intn(60)
	var vals []string
	for i := 0; i < rows; i++ {
		vals = append(vals, fmt.Sprintf("(%d, 'r%d')", w.Rng.Intn(1000000), w.Rng.Int63()))
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO w.ev (k, s) VALUES "+strings.Join(vals, ",")); err != nil {
		return 0, err
	}
	n += int64(rows)
	for i := w.Rng.Intn(4); i > 0; i-- {
		if _, err := tx.ExecContext(ctx, "UPDATE w.acc SET n = n + 1 WHERE id = ?", 1+w.Rng.Intn(accRows)); err != nil {
			return 0, err
		}
		n++
	}
	if w.Rng.Intn(3) == 0 {
		w.nextDel++
		id := time.Now().UnixNano()/1000*1000 + w.nextDel%1000
		if _, err := tx.ExecContext(ctx, "INSERT INTO w.del VALUES (?, 'x')", id); err != nil {
			return 0, err
		}
		n++
	}
	if w.Rng.Intn(3) == 0 {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM w.del ORDER BY id LIMIT 1").Scan(&id)
		if err == nil {
			if _, err := tx.ExecContext(ctx, "DELETE FROM w.del WHERE id = ?", id); err != nil {
				return 0, err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO w.dlog VALUES (?)", id); err != nil {
				return 0, err
			}
			n += 2
		} else if err != sql.ErrNoRows {
			return 0, err
		}
	}
	return n, tx.Commit()
}

// Expected reads the identities of every change the source committed.
func Expected(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	want := map[string]bool{}
	add := func(q string, f func(a, b int64)) error {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		defer rows.Close()
		for rows.Next() {
			var a, b int64
			if err := rows.Scan(&a, &b); err != nil {
				return err
			}
			f(a, b)
		}
		return rows.Err()
	}
	err := add("SELECT id, 0 FROM w.ev", func(id, _ int64) { want[fmt.Sprintf("ev:i:%d", id)] = true })
	if err == nil {
		err = add("SELECT id, n FROM w.acc", func(id, n int64) {
			want[fmt.Sprintf("acc:i:%d", id)] = true
			for i := int64(1); i <= n; i++ {
				want[fmt.Sprintf("acc:u:%d:%d", id, i)] = true
			}
		})
	}
	if err == nil {
		err = add("SELECT id, 0 FROM w.del", func(id, _ int64) { want[fmt.Sprintf("del:i:%d", id)] = true })
	}
	if err == nil {
		err = add("SELECT id, 0 FROM w.dlog", func(id, _ int64) {
			want[fmt.Sprintf("del:i:%d", id)] = true
			want[fmt.Sprintf("del:d:%d", id)] = true
			want[fmt.Sprintf("dlog:i:%d", id)] = true
		})
	}
	return want, err
}

// Identity names a change from its table, its type (insert, update_after,
// delete; "" for others) and its id and n values; "" for changes that are
// not the workload's (update_before images among them).
func Identity(table, typ string, id, n int64) string {
	switch {
	case typ == "insert" && (table == "ev" || table == "acc" || table == "del" || table == "dlog"):
		return fmt.Sprintf("%s:i:%d", table, id)
	case typ == "update_after" && table == "acc":
		return fmt.Sprintf("acc:u:%d:%d", id, n)
	case typ == "delete" && table == "del":
		return fmt.Sprintf("del:d:%d", id)
	}
	return ""
}

// Tally counts the changes an output holds.
type Tally struct {
	Name        string
	ExactlyOnce bool
	Seen        map[string]int
}

// Result compares a tally with the expected changes.
type Result struct {
	Missing, Repeats, Extra int
	MissingSample           []string
}

func (t *Tally) Compare(want map[string]bool) Result {
	var r Result
	for k := range want {
		if t.Seen[k] == 0 {
			r.Missing++
			if len(r.MissingSample) < 5 {
				r.MissingSample = append(r.MissingSample, k)
			}
		}
	}
	for k, c := range t.Seen {
		if !want[k] {
			r.Extra++
		}
		if c > 1 {
			r.Repeats += c - 1
		}
	}
	return r
}
