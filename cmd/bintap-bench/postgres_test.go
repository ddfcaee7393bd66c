package main

import (
	"context"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/testutil"
)

// TestSameRows checks that the comparison behind every PostgreSQL row's
// verification notices each kind of difference, on a private PostgreSQL.
func TestSameRows(t *testing.T) {
	pg := testutil.NewPostgres(t)
	pg.Exec(
		"CREATE SCHEMA bench",
		"CREATE TABLE bench.m (id bigint PRIMARY KEY, note text, __deleted boolean)",
		"INSERT INTO bench.m VALUES (1, 'a', false), (2, NULL, NULL), (10, 'c', false), (3, 'gone', true)",
	)
	ctx := context.Background()
	table, err := findTable(ctx, pg.DB, "m")
	if err != nil || table != `"bench"."m"` {
		t.Fatalf("findTable = %q, %v", table, err)
	}
	where, err := liveRows(ctx, pg.DB, table)
	if err != nil || where == "" {
		t.Fatalf("liveRows = %q, %v: want a filter on __deleted", where, err)
	}
	copyRows := "SELECT t.id::text, t.note FROM " + table + " AS t" + where + " ORDER BY t.id"
	for _, tc := range []struct {
		name, source, wantErr string
	}{
		{"same", "SELECT * FROM (VALUES (1, 'a'), (2, NULL), (10, 'c')) AS s(id, note) ORDER BY id", ""},
		{"value", "SELECT * FROM (VALUES (1, 'a'), (2, NULL), (10, 'x')) AS s(id, note) ORDER BY id", "row 3 differs"},
		{"null", "SELECT * FROM (VALUES (1, 'a'), (2, ''), (10, 'c')) AS s(id, note) ORDER BY id", "row 2 differs"},
		{"missing", "SELECT * FROM (VALUES (1, 'a'), (2, NULL), (10, 'c'), (11, 'd')) AS s(id, note) ORDER BY id", "first missing (id=\"11\""},
		{"extra", "SELECT * FROM (VALUES (1, 'a'), (2, NULL)) AS s(id, note) ORDER BY id", "first extra (id=\"10\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := sameRows(ctx, pg.DB, tc.source, pg.DB, copyRows)
			switch {
			case tc.wantErr == "" && (err != nil || n != 3):
				t.Errorf("sameRows = %d, %v; want 3 rows, no error", n, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("sameRows error = %v; want one containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := findTable(ctx, pg.DB, "items"); err == nil || !strings.Contains(err.Error(), "bench.m") {
		t.Errorf("findTable of a missing table: %v; want an error listing bench.m", err)
	}
}
