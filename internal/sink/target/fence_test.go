package target

import (
	"context"
	"errors"
	"testing"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/dburl"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/sink"
	"github.com/bintap/bintap/internal/testutil"
)

// TestFenceTargets: on PostgreSQL and MariaDB, two writers of one stream
// (two instances of an HA group): once the second fenced the target, the
// first commits nothing (pipeline.ErrDeposed) and the second writes on; the
// position stored is the second's.
func TestFenceTargets(t *testing.T) {
	p := testutil.NewPostgres(t)
	m := testutil.NewMariaDB(t)
	m.Exec("CREATE DATABASE mirror")
	tbl := &change.Table{Schema: "w", Name: "a", Version: 1, Columns: []change.Column{{Name: "id", Type: "int"}}, PrimaryKey: []int{0}}
	insert := func(t *testing.T, d *Destination, id int64, pos uint32) error {
		tx := &change.Tx{File: "bin.000001", Pos: pos, GTID: "0-1-1"}
		ev := change.Event{Op: change.OpInsert, Table: tbl, Tx: tx, EventNumber: 1, After: []change.Value{{Kind: change.KindInt, Int: id}}}
		if err := d.Write(context.Background(), []change.Event{ev}, position.Checkpoint{File: "bin.000001", Pos: pos + 50}); err != nil {
			return err
		}
		return d.Flush(context.Background())
	}
	for _, tc := range []struct{ name, spec string }{
		{"postgres", p.DSN(testutil.PostgresTestDB)},
		{"mariadb", m.URL() + "/mirror"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			u, err := dburl.Parse(tc.spec, "target URL")
			if err != nil {
				t.Fatal(err)
			}
			o := output{url: u, opt: Options{Table: "{database}.{table}", BatchSize: 1}}
			if err := o.SharedPosition(); err != nil {
				t.Fatal(err)
			}
			open := func() *Destination {
				dest, err := o.Open(ctx, sink.Env{Source: "src:3306"})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { dest.Close(ctx) })
				return dest.(*Destination)
			}
			a := open()
			ea, err := a.Fence(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := insert(t, a, 1, 100); err != nil {
				t.Fatal(err)
			}
			b := open()
			eb, err := b.Fence(ctx)
			if err != nil || eb != ea+1 {
				t.Fatalf("second fence: epoch %d (first %d), %v", eb, ea, err)
			}
			if err := insert(t, a, 2, 200); !errors.Is(err, pipeline.ErrDeposed) {
				t.Fatalf("the fenced writer's commit: %v, want ErrDeposed", err)
			}
			if err := insert(t, b, 3, 300); err != nil {
				t.Fatal(err)
			}
			cp, err := b.Position(ctx)
			if err != nil || cp == nil || cp.Pos != 350 {
				t.Fatalf("position %v, %v: want the second writer's", cp, err)
			}
			var ids []int64
			rows, err := b.db.QueryContext(ctx, "SELECT id FROM "+b.d.quote("w")+"."+b.d.quote("a")+" ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				rows.Scan(&id)
				ids = append(ids, id)
			}
			if len(ids) != 2 || ids[0] != 1 || ids[1] != 3 {
				t.Fatalf("rows %v, want [1 3]: the fenced writer's row must not be there", ids)
			}
		})
	}
	if err := (output{duck: "x.duckdb"}).SharedPosition(); err == nil {
		t.Error("a DuckDB file accepted in a group")
	}
}
