package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/bintap/bintap/internal/testutil"
)

// The benchmark table: one column of each type family the hot path decodes.
const createTable = `CREATE TABLE bench.items (
  id      BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  qty     INT NOT NULL,
  name    VARCHAR(64) NOT NULL,
  price   DECIMAL(12,2) NOT NULL,
  created DATETIME(6) NOT NULL,
  score   DOUBLE NOT NULL,
  note    TEXT,
  attrs   JSON
) ENGINE=InnoDB`

// createNarrowTable is the table of -narrow: the first five columns of
// bench.items (no DOUBLE, TEXT or JSON), about a quarter of the bytes per row.
const createNarrowTable = `CREATE TABLE bench.items (
  id      BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  qty     INT NOT NULL,
  name    VARCHAR(64) NOT NULL,
  price   DECIMAL(12,2) NOT NULL,
  created DATETIME(6) NOT NULL
) ENGINE=InnoDB`

const (
	rowsPerStatement  = 1000
	rowsPerTransation = 10000
)

// loadStats is what loading the workload produced.
type loadStats struct {
	rows     int
	duration time.Duration
}

// loadRows creates the table (the narrow one with narrow) and inserts n
// rows with multi-row INSERTs of rowsPerStatement rows in transactions of
// rowsPerTransation rows. Values are varied but deterministic (fixed seed)
// so runs compare.
func loadRows(ctx context.Context, db *sql.DB, n int, narrow bool) (loadStats, error) {
	start := time.Now()
	create, columns := createTable, "qty,name,price,created,score,note,attrs"
	if narrow {
		create, columns = createNarrowTable, "qty,name,price,created"
	}
	for _, q := range []string{"CREATE DATABASE bench", create} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return loadStats{}, fmt.Errorf("create table: %w", err)
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return loadStats{}, err
	}
	defer conn.Close()

	rng := rand.New(rand.NewPCG(42, 4243))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	buf := make([]byte, 0, 512*rowsPerStatement)
	inTx := 0
	for done := 0; done < n; {
		if inTx == 0 {
			if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
				return loadStats{}, fmt.Errorf("begin: %w", err)
			}
		}
		k := min(rowsPerStatement, n-done, rowsPerTransation-inTx)
		buf = append(append(append(buf[:0], "INSERT INTO bench.items ("...), columns...), ") VALUES "...)
		for i := 0; i < k; i++ {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendRow(buf, rng, base, done+i, narrow)
		}
		if _, err := conn.ExecContext(ctx, string(buf)); err != nil {
			return loadStats{}, fmt.Errorf("insert rows %d..%d: %w", done+1, done+k, err)
		}
		done += k
		inTx += k
		if inTx == rowsPerTransation || done == n {
			if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
				return loadStats{}, fmt.Errorf("commit: %w", err)
			}
			inTx = 0
		}
	}
	return loadStats{rows: n, duration: time.Since(start)}, nil
}

// appendRow appends one "(...)" value tuple (of the narrow table's columns
// with narrow: the same values as the wide table's first columns).
func appendRow(b []byte, rng *rand.Rand, base time.Time, i int, narrow bool) []byte {
	b = append(b, '(')
	b = strconv.AppendInt(b, int64(rng.Int32N(2_000_000)-1_000_000), 10)
	b = append(b, ",'"...)
	b = testutil.AppendBenchWords(b, rng, 1+rng.IntN(4), 64)
	b = append(b, "',"...)
	cents := rng.Int64N(1_000_000_00) - 10_000_00
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	b = append(b, '.', byte('0'+cents%100/10), byte('0'+cents%10))
	b = append(b, ",'"...)
	t := base.Add(time.Duration(i) * time.Second).Add(time.Duration(rng.IntN(1_000_000)) * time.Microsecond)
	b = t.AppendFormat(b, "2006-01-02 15:04:05.000000")
	if narrow {
		return append(b, "')"...)
	}
	b = append(b, "',"...)
	b = strconv.AppendFloat(b, rng.NormFloat64()*1000, 'g', -1, 64)
	if i%50 == 0 { // some NULLs
		b = append(b, ",NULL,NULL)"...)
		return b
	}
	b = append(b, ",'"...)
	b = testutil.AppendBenchWords(b, rng, 14+rng.IntN(6), 200) // ~100 bytes
	b = append(b, "','"...)
	b = testutil.AppendBenchAttrs(b, rng, i+1)
	return append(b, "')"...)
}
