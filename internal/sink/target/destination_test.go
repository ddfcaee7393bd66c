package target

import (
	"context"
	"testing"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/dburl"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/sink"
	"github.com/bintap/bintap/internal/testutil"
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
}
