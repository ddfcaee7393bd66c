package index

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestFenceServerIndexes: on MariaDB and PostgreSQL, a writer that holds
// the index (its writer lock and an open transaction, as a stopped
// instance of an HA group would) is ended by TakeOver; the new writer
// fences it with a newer epoch and commits; the old one's commit fails with
// ErrEpoch and stores nothing.
func TestFenceServerIndexes(t *testing.T) {
	for name, url := range serverIndexes(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, err := OpenServer(url, false)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			epochA, err := a.Fence(ctx, "host-a")
			if err != nil || epochA != 1 {
				t.Fatalf("first fence: epoch %d, %v", epochA, err)
			}
			wa, err := a.NewWriter(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer wa.Close()
			wa.SetEpoch(epochA)
			if err := wa.Commit(writeTx(t, wa, 1, 1000, 1, 3)); err != nil {
				t.Fatal(err)
			}
			// a is "stopped" in the middle of its next transaction.
			stale := writeTx(t, wa, 2, 1001, 4, 3)
			if err := wa.Store(ptr(wa.asm.Take(true))); err != nil {
				t.Fatal(err)
			}

			killed, err := TakeOverServer(ctx, url)
			if err != nil || killed == 0 {
				t.Fatalf("take over: session %d, %v", killed, err)
			}
			b, err := OpenServer(url, false)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			wb, err := b.NewWriter(wctx)
			if err != nil {
				t.Fatalf("the new writer does not get the index after the take-over: %v", err)
			}
			defer wb.Close()
			epochB, err := b.Fence(ctx, "host-b")
			if err != nil || epochB != 2 {
				t.Fatalf("second fence: epoch %d, %v", epochB, err)
			}
			wb.SetEpoch(epochB)
			if err := wb.Commit(writeTx(t, wb, 2, 1001, 4, 3)); err != nil {
				t.Fatal(err)
			}
			if err := wa.CommitBatch(ptr(wa.asm.Take(true)), stale); err == nil {
				t.Fatal("the deposed writer committed")
			}
			n, err := b.Count(ctx)
			if err != nil || n != 6 {
				t.Fatalf("the index holds %d changes (%v), want 6", n, err)
			}

			// A writer that is not ended but only fenced fails on its epoch.
			c, err := OpenServer(url, false)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Fence(ctx, "host-c"); err != nil {
				t.Fatal(err)
			}
			err = wb.Commit(writeTx(t, wb, 3, 1002, 7, 3))
			if !errors.Is(err, ErrEpoch) {
				t.Fatalf("a fenced writer's commit: %v, want ErrEpoch", err)
			}
			if n, _ := c.Count(ctx); n != 6 {
				t.Fatalf("the index holds %d changes after the fenced commit, want 6", n)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
