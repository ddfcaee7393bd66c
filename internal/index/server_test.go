package index

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/testutil"
)

// serverIndexes are the index URLs of a private MariaDB and a private
// PostgreSQL, each with an empty database.
func serverIndexes(t *testing.T) map[string]string {
	m := testutil.NewMariaDB(t)
	m.Exec("CREATE DATABASE changes")
	p := testutil.NewPostgres(t)
	return map[string]string{
		"mariadb":  fmt.Sprintf("index+mysql://root@127.0.0.1:%d/changes", m.Port),
		"postgres": fmt.Sprintf("index+postgres://%s@127.0.0.1:%d/%s?sslmode=disable", testutil.PostgresSuperuser, p.Port, testutil.PostgresTestDB),
	}
}

// TestServerIndexes runs the block, key, retention and checkpoint checks
// of the SQLite index on MariaDB and PostgreSQL, and the one-writer lock.
func TestServerIndexes(t *testing.T) {
	for name, url := range serverIndexes(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s, err := OpenServer(url, false)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// The fixture's workload answers as the SQLite index of format
			// version 2 did.
			w, err := s.NewWriter(ctx)
			if err != nil {
				t.Fatal(err)
			}
			compatWorkload(t, w)
			w.Close()
			checkCompat(t, name, s, compatWant(t))
			if err := s.Reset(); err != nil {
				t.Fatal(err)
			}
			checkBlocks(t, s)
			// The checkpoint is stored with the changes; a second writer
			// is refused while the first holds the index.
			w, err = s.NewWriter(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cp := writeTx(t, w, 10, 1_700_100_000, 100, 3)
			if err := w.Commit(cp); err != nil {
				t.Fatal(err)
			}
			if _, err := s.NewWriter(ctx); err == nil || !strings.Contains(err.Error(), "another bintap stream") {
				t.Errorf("second writer: %v, want refused", err)
			}
			w.Close()
			ro, err := OpenServer(url, true)
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			got, err := ro.Position()
			if err != nil || got == nil || got.File != cp.File || got.Pos != cp.Pos || got.GTIDState != cp.GTIDState {
				t.Errorf("position %+v, %v; want %+v", got, err, cp)
			}
			if err := ro.SetMeta("timezone", "UTC"); err != nil {
				t.Fatal(err)
			}
			if err := ro.SetMeta("timezone", "Europe/Paris"); err != nil {
				t.Fatal(err)
			}
			if z, err := ro.Meta("timezone"); err != nil || z != "Europe/Paris" {
				t.Errorf("meta timezone %q, %v", z, err)
			}
			st, err := ro.Stats(ctx)
			if err != nil || st.Bytes == 0 || st.NewestChange.Unix() != 1_700_100_000 || strings.Contains(st.Path, "password") {
				t.Errorf("stats %+v, %v", st, err)
			}
			if err := s.Reset(); err != nil {
				t.Fatal(err)
			}
			if n, err := ro.Count(ctx); err != nil || n != 0 {
				t.Errorf("%d changes after reset, %v", n, err)
			}
			if p, _ := ro.Position(); p != nil {
				t.Errorf("position after reset: %+v", p)
			}
			// An index of format version 2 (no change_key_runs): read as it
			// is, upgraded by a writer.
			for _, q := range []string{`DROP TABLE change_key_runs`, `UPDATE meta SET value = '2' WHERE name = 'format_version'`} {
				if _, err := s.db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			// (The writers' lock stays with their sessions in the pool.)
			s.Close()
			ro.Close()
			old, err := OpenServer(url, true)
			if err != nil {
				t.Fatalf("version 2 index, read only: %v", err)
			}
			defer old.Close()
			if old.keyRuns {
				t.Error("a version 2 index has no key runs")
			}
			up, err := OpenServer(url, false)
			if err != nil {
				t.Fatalf("version 2 index, opened for writing: %v", err)
			}
			defer up.Close()
			if v, err := up.Meta("format_version"); err != nil || v != formatVersion {
				t.Errorf("format version after the upgrade %q, %v", v, err)
			}
			w, err = up.NewWriter(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(writeTx(t, w, 20, 1_700_200_000, 1000, 50)); err != nil {
				t.Fatal(err)
			}
			w.Close()
			var runs int
			up.db.QueryRowContext(ctx, `SELECT count(*) FROM change_key_runs`).Scan(&runs)
			hist, err := up.Query(ctx, Filter{Schema: "s", Table: "t", PK: []string{"1025"}})
			if err != nil || runs != 1 || len(hist) != 1 || hist[0].PK != "[1025]" {
				t.Errorf("upgraded index: %d runs, key 1025: %+v, %v", runs, hist, err)
			}
		})
	}
}

func TestParseServerURL(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"index+mysql://u:secret@h/db", ""},
		{"index+mariadb://u@h:3307/db?tls=true", ""},
		{"index+postgres://u:secret@h:5433/db?sslmode=require", ""},
		{"index+postgresql://u@h/db", ""},
		{"index+mysql://h/db", "a user, a host and a database are required"},
		{"index+mysql://u@h/", "a user, a host and a database are required"},
		{"index+mysql://u@h/db?tls=maybe", `tls="maybe": accepted are true, false, skip-verify, preferred`},
		{"index+mysql://u@h/db?charset=latin1", `unknown parameter "charset"`},
		{"index+postgres://u@h/db?pool=3", `unknown parameter "pool"`},
		{"index+oracle://u@h/db", `unknown database "oracle"`},
	} {
		su, err := ParseServerURL(c.url)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.url, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.url, err, c.want)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("%s: the error shows the password: %v", c.url, err)
		case err == nil && strings.Contains(su.Redacted, "secret"):
			t.Errorf("%s: redacted %q shows the password", c.url, su.Redacted)
		}
	}
}
