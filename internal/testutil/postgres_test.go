package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestStartPostgres(t *testing.T) {
	s := NewPostgres(t)
	if s.Port == 5432 {
		t.Fatalf("private server on port 5432, the port of the system's PostgreSQL")
	}
	var user, db, fsync, addr string
	if err := s.DB.QueryRow("SELECT current_user, current_database(), current_setting('fsync'), current_setting('listen_addresses')").
		Scan(&user, &db, &fsync, &addr); err != nil {
		t.Fatal(err)
	}
	if user != PostgresSuperuser || db != PostgresTestDB || fsync != "off" || addr != "127.0.0.1" {
		t.Fatalf("current_user=%s current_database=%s fsync=%s listen_addresses=%s, want %s, %s, off, 127.0.0.1",
			user, db, fsync, addr, PostgresSuperuser, PostgresTestDB)
	}
	var dataDir, sockDir string
	if err := s.DB.QueryRow("SELECT current_setting('data_directory'), current_setting('unix_socket_directories')").
		Scan(&dataDir, &sockDir); err != nil {
		t.Fatal(err)
	}
	if dataDir != s.DataDir || sockDir != s.SocketDir {
		t.Fatalf("server data_directory=%s unix_socket_directories=%s, want %s and %s", dataDir, sockDir, s.DataDir, s.SocketDir)
	}
	if _, err := os.Stat(filepath.Join(s.SocketDir, ".s.PGSQL."+strconv.Itoa(s.Port))); err != nil {
		t.Fatalf("unix socket: %v", err)
	}
	if os.Geteuid() == 0 && s.RunAs != "postgres" {
		t.Fatalf("running as root, server runs as %q, want postgres", s.RunAs)
	}

	s.Exec(`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, doc jsonb, raw bytea)`)
	doc := `{"a": [1, 2.5, "x"], "b": {"c": null}}`
	raw := []byte{0x00, 0xff, 0x10, 'b', 0x00}
	if _, err := s.DB.Exec(`INSERT INTO items VALUES ($1, $2, $3, $4)`, 7, "seven", doc, raw); err != nil {
		t.Fatal(err)
	}
	var (
		id      int64
		name    string
		gotDoc  []byte
		gotRaw  []byte
		docType string
	)
	if err := s.DB.QueryRow(`SELECT id, name, doc, raw, jsonb_typeof(doc->'a') FROM items WHERE id = $1`, 7).
		Scan(&id, &name, &gotDoc, &gotRaw, &docType); err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal([]byte(doc), &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(gotDoc, &got); err != nil {
		t.Fatalf("jsonb read back as %q: %v", gotDoc, err)
	}
	if id != 7 || name != "seven" || !reflect.DeepEqual(got, want) || !bytes.Equal(gotRaw, raw) || docType != "array" {
		t.Fatalf("read back id=%d name=%q doc=%s raw=%x typeof(doc->a)=%s, want 7, seven, %s, %x, array",
			id, name, gotDoc, gotRaw, docType, doc, raw)
	}
}

func TestTwoPostgresServers(t *testing.T) {
	a, b := NewPostgres(t), NewPostgres(t)
	if a.Port == b.Port || a.DataDir == b.DataDir || a.SocketDir == b.SocketDir {
		t.Fatalf("servers share port (%d, %d), data dir (%s, %s) or socket dir (%s, %s)",
			a.Port, b.Port, a.DataDir, b.DataDir, a.SocketDir, b.SocketDir)
	}
	a.Exec(`CREATE TABLE only_a (v int)`, `INSERT INTO only_a VALUES (1), (2)`)
	b.Exec(`CREATE TABLE only_b (v int)`, `INSERT INTO only_b VALUES (3)`)
	count := func(s *PGServer, table string) int {
		t.Helper()
		var n int
		if err := s.DB.QueryRow(`SELECT count(*) FROM pg_tables WHERE tablename = $1`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if ca, cb, xa, xb := count(a, "only_a"), count(b, "only_b"), count(a, "only_b"), count(b, "only_a"); ca != 1 || cb != 1 || xa != 0 || xb != 0 {
		t.Fatalf("only_a in a=%d, only_b in b=%d, only_b in a=%d, only_a in b=%d; want 1, 1, 0, 0", ca, cb, xa, xb)
	}
	var sum int
	if err := a.DB.QueryRow(`SELECT sum(v) FROM only_a`).Scan(&sum); err != nil || sum != 3 {
		t.Fatalf("sum(v) in a = %d, %v; want 3", sum, err)
	}
}

// TestPostgresRestart checks that Stop shuts the server down (no more
// connections), and that the data survives a restart on the same directory,
// after Stop and after Kill.
func TestPostgresRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	p, err := StartPostgres(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p != nil {
			p.Stop()
		}
	})
	exec := func(q string) {
		t.Helper()
		db, err := p.Open(PostgresTestDB)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("exec %q: %v", q, err)
		}
	}
	rows := func() []string {
		t.Helper()
		db, err := p.Open(PostgresTestDB)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		r, err := db.QueryContext(ctx, `SELECT v FROM kept ORDER BY v`)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out []string
		for r.Next() {
			var v string
			if err := r.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	exec(`CREATE TABLE kept (v text)`)
	exec(`INSERT INTO kept VALUES ('a')`)
	p.Stop()
	db, err := p.Open(PostgresTestDB)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err == nil {
		db.Close()
		t.Fatalf("server on port %d still answers after Stop", p.Port)
	}
	db.Close()

	if p, err = StartPostgres(ctx, dir); err != nil {
		t.Fatalf("restart after Stop: %v", err)
	}
	if got := rows(); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("after Stop and restart: rows %q, want [a]", got)
	}
	exec(`INSERT INTO kept VALUES ('b')`)
	p.Kill()
	if p, err = StartPostgres(ctx, dir); err != nil {
		t.Fatalf("restart after Kill: %v", err)
	}
	if got := rows(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("after Kill and restart: rows %q, want [a b]", got)
	}
}

// TestPostgresLongDir checks a directory too deep for a unix socket path
// (108 bytes at most) gets a short socket directory of its own, removed by Stop.
func TestPostgresLongDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := StartPostgres(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			p.Stop()
		}
	})
	if p.SocketDir == dir || len(p.SocketDir)+len("/.s.PGSQL.65535") > 107 {
		t.Fatalf("socket dir %s for data under %s (%d bytes), want a short one of its own", p.SocketDir, dir, len(dir))
	}
	if _, err := os.Stat(filepath.Join(p.SocketDir, ".s.PGSQL."+strconv.Itoa(p.Port))); err != nil {
		t.Fatalf("unix socket: %v", err)
	}
	db, err := p.Open(PostgresTestDB)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Ping()
	db.Close()
	if err != nil {
		t.Fatalf("ping over TCP: %v", err)
	}
	p.Stop()
	stopped = true
	if _, err := os.Stat(p.SocketDir); !os.IsNotExist(err) {
		t.Fatalf("socket dir %s after Stop: %v, want it removed", p.SocketDir, err)
	}
}
