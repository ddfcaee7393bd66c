// Command bintap-demo shows bintap's main job end to end: it starts a
// throwaway MariaDB (own data dir and port, binlog on), runs `bintap stream`
// against it, applies a small workload and lets the change events stream to
// standard output. Everything it started is stopped and removed at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/bintap/bintap/internal/testutil"
)

func main() {
	bintap := flag.String("bintap", "bin/bintap", "bintap binary to run")
	flag.Parse()
	if err := run(*bintap); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "\n\033[1m== "+format+"\033[0m\n", args...)
}

func run(bintap string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bintap-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	say("starting a throwaway MariaDB in %s", dir)
	m, err := testutil.StartMariaDB(ctx, testutil.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer m.Stop()
	db, err := m.Open("")
	if err != nil {
		return err
	}
	defer db.Close()
	exec1 := func(q string) error {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		return nil
	}
	if err := exec1("CREATE DATABASE shop"); err != nil {
		return err
	}
	if err := exec1(`CREATE TABLE shop.orders (
		id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
		customer VARCHAR(64) NOT NULL,
		amount DECIMAL(10,2) NOT NULL,
		status ENUM('new','paid','shipped') NOT NULL DEFAULT 'new',
		created DATETIME(6) NOT NULL,
		tags JSON)`); err != nil {
		return err
	}

	say("running: %s stream --source %s --start oldest --output -", bintap, m.URL())
	cmd := exec.Command(bintap, "stream", "--source", m.URL(), "--start", "oldest",
		"--state-dir", dir+"/state", "--output", "-", "--checkpoint-interval", "1s")
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start bintap (run make build first): %w", err)
	}
	defer cmd.Process.Kill()
	time.Sleep(1500 * time.Millisecond)

	steps := []struct{ title, sql string }{
		{"INSERT two orders", `INSERT INTO shop.orders (customer, amount, created, tags) VALUES
			('Zoë', 19.90, '2026-11-21 10:00:00.123456', '{"gift": true}'),
			('Ahmed', 1250.00, '2026-11-21 10:01:00', NULL)`},
		{"UPDATE: Zoë paid", `UPDATE shop.orders SET status='paid' WHERE customer='Zoë'`},
		{"a transaction touching two rows", `BEGIN; UPDATE shop.orders SET status='shipped' WHERE id=1; DELETE FROM shop.orders WHERE id=2; COMMIT`},
		{"ALTER TABLE: add a column (a new table version)", `ALTER TABLE shop.orders ADD COLUMN note VARCHAR(100) NULL AFTER customer`},
		{"INSERT with the new column", `INSERT INTO shop.orders (customer, note, amount, created) VALUES ('Ling', 'rush', 7.05, NOW(6))`},
	}
	for _, st := range steps {
		say("%s", st.title)
		if err := exec1(st.sql); err != nil {
			return err
		}
		time.Sleep(1200 * time.Millisecond)
	}
	say("stopping bintap (SIGTERM): it flushes, writes its checkpoint and exits 0")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("bintap exited with %v", err)
	}
	ck, _ := os.ReadFile(dir + "/state/checkpoint.json")
	say("checkpoint written:\n%s", ck)
	return nil
}
