package target

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/dburl"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/sink"
	"github.com/bintap/bintap/internal/testutil"
	"github.com/jackc/pgx/v5/stdlib"
)

// TestTableStatuses: a table goes waiting_for_migration → migrating →
// streaming, in the state table and in the status; the position is stored
// with the rows.
func TestTableStatuses(t *testing.T) {
	p := testutil.NewPostgres(t)
	u, err := dburl.Parse(p.DSN(testutil.PostgresTestDB), "target URL")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := output{url: u, opt: Options{Table: "{database}.{table}", BatchSize: 100}}
	dest, err := o.Open(ctx, sink.Env{})
	if err != nil {
		t.Fatal(err)
	}
	d := dest.(*Destination)
	status := func() string {
		var s string
		if err := p.DB.QueryRow("SELECT status FROM bintap.tables WHERE target_table = 'w.a'").Scan(&s); err != nil {
			t.Fatal(err)
		}
		if mem := d.Status().(map[string]any)["tables"].(map[string]string)["w.a"]; mem != s {
			t.Errorf("status %q in the target, %q in /status", s, mem)
		}
		return s
	}
	if err := d.SnapshotPlanned(ctx, []string{"w.a"}); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != statusWaiting {
		t.Fatalf("planned: %s", s)
	}
	tbl := &change.Table{Schema: "w", Name: "a", Version: 1, Columns: []change.Column{{Name: "id", Type: "int"}}, PrimaryKey: []int{0}}
	snap := &change.Tx{File: "bin.000001", Pos: 400}
	row := []change.Value{{Kind: change.KindInt, Int: 1}}
	if err := d.Write(ctx, []change.Event{{Op: change.OpRead, Table: tbl, Tx: snap, EventNumber: 1, After: row, Snapshot: true}}, position.Checkpoint{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != statusMigrating {
		t.Fatalf("snapshot rows in: %s", s)
	}
	tx := &change.Tx{File: "bin.000001", Pos: 500, GTID: "0-1-9"}
	cp := position.Checkpoint{File: "bin.000001", Pos: 600}
	row2 := []change.Value{{Kind: change.KindInt, Int: 2}}
	if err := d.Write(ctx, []change.Event{{Op: change.OpInsert, Table: tbl, Tx: tx, EventNumber: 1, After: row2}}, cp); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != statusStreaming {
		t.Fatalf("streaming: %s", s)
	}
	got, err := d.Position(ctx)
	if err != nil || got == nil || got.Pos != 600 {
		t.Fatalf("position %v, %v", got, err)
	}
	var order, n int64
	if err := p.DB.QueryRow("SELECT count(*), max(__transaction_order) FROM w.a").Scan(&n, &order); err != nil || n != 2 || order != 1<<32|500 {
		t.Errorf("rows %d, max order %d (%v)", n, order, err)
	}
	var _ pipeline.SnapshotListener = d
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Hard deletes remove rows by key, a composite one with bytes in it.
	o.opt.HardDeletes, o.opt.Table = true, "hard.{table}"
	if dest, err = o.Open(ctx, sink.Env{}); err != nil {
		t.Fatal(err)
	}
	d = dest.(*Destination)
	kt := &change.Table{Schema: "w", Name: "k", Version: 1, Columns: []change.Column{{Name: "a", Type: "int"}, {Name: "b", Type: "varbinary", Length: 4}}, PrimaryKey: []int{0, 1}}
	key := func(a int64, b string) []change.Value {
		return []change.Value{{Kind: change.KindInt, Int: a}, {Kind: change.KindBytes, Text: []byte(b)}}
	}
	tx2 := &change.Tx{File: "bin.000001", Pos: 700}
	evs := []change.Event{
		{Op: change.OpInsert, Table: kt, Tx: tx2, EventNumber: 1, After: key(1, "\x00\"")},
		{Op: change.OpInsert, Table: kt, Tx: tx2, EventNumber: 2, After: key(2, "b")},
		{Op: change.OpInsert, Table: kt, Tx: tx2, EventNumber: 3, After: key(3, "c")},
	}
	if err := d.Write(ctx, evs, position.Checkpoint{File: "bin.000001", Pos: 800}); err != nil {
		t.Fatal(err)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tx3 := &change.Tx{File: "bin.000001", Pos: 900}
	evs = []change.Event{
		{Op: change.OpDelete, Table: kt, Tx: tx3, EventNumber: 1, Before: key(1, "\x00\"")},
		{Op: change.OpDelete, Table: kt, Tx: tx3, EventNumber: 2, Before: key(3, "c")},
		// In the same transaction: the deletes and this insert each go
		// through a staging table of the same columns.
		{Op: change.OpInsert, Table: kt, Tx: tx3, EventNumber: 3, After: key(4, "d")},
	}
	if err := d.Write(ctx, evs, position.Checkpoint{File: "bin.000001", Pos: 1000}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var left string
	if err := p.DB.QueryRow("SELECT string_agg(a::text || ':' || encode(b, 'hex'), ',' ORDER BY a) FROM hard.k").Scan(&left); err != nil || left != "2:62,4:64" {
		t.Errorf("rows left after hard deletes: %q (%v), want 2:62,4:64", left, err)
	}

	// A table without a primary key is append-only: one row per change.
	o.opt.Table = "nokey.{table}"
	if dest, err = o.Open(ctx, sink.Env{}); err != nil {
		t.Fatal(err)
	}
	d = dest.(*Destination)
	nk := &change.Table{Schema: "w", Name: "n", Version: 1, Columns: []change.Column{{Name: "v", Type: "int"}}}
	one := []change.Value{{Kind: change.KindInt, Int: 1}}
	tx4 := &change.Tx{File: "bin.000001", Pos: 1100}
	evs = []change.Event{
		{Op: change.OpInsert, Table: nk, Tx: tx4, EventNumber: 1, After: one},
		{Op: change.OpInsert, Table: nk, Tx: tx4, EventNumber: 2, After: one},
		{Op: change.OpDelete, Table: nk, Tx: tx4, EventNumber: 3, Before: one},
	}
	if err := d.Write(ctx, evs, position.Checkpoint{File: "bin.000001", Pos: 1200}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var ops string
	if err := p.DB.QueryRow("SELECT string_agg(__op || v::text || __deleted::text || __event_number::text, ',' ORDER BY __event_number) FROM nokey.n").Scan(&ops); err != nil || ops != "c1false1,c1false2,d1true3" {
		t.Errorf("append-only rows %q (%v)", ops, err)
	}
}

// TestPositionWaitsForAnInFlightCommit: a killed bintap's last transaction
// may still be committing in its server session when the next bintap
// reads the position; the read waits for it, else the changes of that
// transaction come again (twice in the _log tables; found by the torture
// test under kill -9). On PostgreSQL and on MariaDB.
func TestPositionWaitsForAnInFlightCommit(t *testing.T) {
	p := testutil.NewPostgres(t)
	m := testutil.NewMariaDB(t)
	m.Exec("CREATE DATABASE mirror")
	for _, tc := range []struct {
		name, spec string
		db         *sql.DB
		// begin starts the "old" writer's transaction as every writing
		// transaction does (PostgreSQL: the positions table locked first).
		begin  []string
		upsert string
	}{
		{"postgres", p.DSN(testutil.PostgresTestDB), p.DB, []string{"LOCK TABLE bintap.positions IN ROW EXCLUSIVE MODE"},
			`INSERT INTO bintap.positions (stream, position, updated_at) VALUES ($1, '{"file":"%s","pos":4}', '2026-11-28T00:00:00Z') ON CONFLICT (stream) DO UPDATE SET position = EXCLUDED.position`},
		{"mariadb", m.URL() + "/mirror", m.DB, nil,
			`INSERT INTO bintap.positions (stream, position, updated_at) VALUES (?, '{"file":"%s","pos":4}', '2026-11-28T00:00:00Z') ON DUPLICATE KEY UPDATE position = VALUES(position)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := dburl.Parse(tc.spec, "target URL")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			dest, err := output{url: u, opt: Options{Table: "{database}.{table}", BatchSize: 100}}.Open(ctx, sink.Env{})
			if err != nil {
				t.Fatal(err)
			}
			d := dest.(*Destination)
			defer d.Close(ctx)
			// First no position is stored yet, then one is replaced.
			for _, file := range []string{"bin.000002", "bin.000003"} {
				old, err := tc.db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, q := range tc.begin {
					if _, err := old.Exec(q); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := old.Exec(fmt.Sprintf(tc.upsert, file), d.stream); err != nil {
					t.Fatal(err)
				}
				got := make(chan *position.Checkpoint, 1)
				go func() {
					cp, err := d.Position(ctx)
					if err != nil {
						t.Error(err)
					}
					got <- cp
				}()
				select {
				case cp := <-got:
					t.Fatalf("the position was read (%v) while a transaction storing one was in flight", cp)
				case <-time.After(time.Second):
				}
				if err := old.Commit(); err != nil {
					t.Fatal(err)
				}
				select {
				case cp := <-got:
					if cp == nil || cp.File != file {
						t.Fatalf("position %v, want the one just committed", cp)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("the position read does not end after the commit")
				}
			}
		})
	}
}

// TestCopyConnectionLost ends the server's backend in the middle of a
// COPY: the copy fails with a transient error (retried), never a panic
// (pgconn's CopyFrom may panic when the connection breaks).
func TestCopyConnectionLost(t *testing.T) {
	p := testutil.NewPostgres(t)
	ctx := context.Background()
	conn, err := p.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		var pid int
		if err := pc.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			return err
		}
		go func() {
			// End the backend once its COPY is under way.
			for i := 0; i < 500; i++ {
				var n int
				_ = p.DB.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%COPY%'", pid).Scan(&n)
				if n > 0 {
					_, _ = p.DB.Exec("SELECT pg_terminate_backend($1)", pid)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		// Rows of one text column, 100 MB in all: the COPY outlasts the poll.
		row := append([]byte{0, 1, 0, 0, 0x10, 0}, bytes.Repeat([]byte("x"), 0x1000)...)
		data := append([]byte("PGCOPY\n\xff\r\n\x00"), make([]byte, 8)...)
		for i := 0; i < 25000; i++ {
			data = append(data, row...)
		}
		data = append(data, 0xff, 0xff)
		err := copyFrom(ctx, pc.PgConn(), data, "CREATE TEMPORARY TABLE c (t text); COPY c FROM STDIN (FORMAT binary)")
		if err == nil || !transient(err) {
			t.Errorf("COPY on a connection ended under it: %v, want a transient error", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
