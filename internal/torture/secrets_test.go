package torture

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/testutil"
)

// secrets are the distinctive credentials of a torture run: none may show
// up in anything bintap writes or says.
type secrets struct{ source, kafkaA, kafkaB, target, token string }

func newSecrets() secrets {
	mk := func(what string) string {
		b := make([]byte, 8)
		rand.Read(b)
		return "Tort" + what + "-" + hex.EncodeToString(b)
	}
	return secrets{source: mk("Src"), kafkaA: mk("KafkaPlain"), kafkaB: mk("KafkaScram"), target: mk("Pg"), token: mk("Http")}
}

// list is what the grep looks for: each secret, and its random part alone
// (a secret cut or re-quoted still shows it).
func (s secrets) list() []string {
	var l []string
	for _, v := range []string{s.source, s.kafkaA, s.kafkaB, s.target, s.token} {
		_, r, _ := strings.Cut(v, "-")
		l = append(l, v, r)
	}
	return l
}

// leakLog collects where secrets were found.
type leakLog struct {
	mu         sync.Mutex
	found      []string
	kafkaBytes int64
}

func (l *leakLog) grep(where string, b []byte, secrets []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if strings.HasPrefix(where, "kafka ") {
		l.kafkaBytes += int64(len(b))
	}
	for _, s := range secrets {
		if i := bytes.Index(b, []byte(s)); i >= 0 {
			lo, hi := max(0, i-120), min(len(b), i+len(s)+40)
			l.found = append(l.found, fmt.Sprintf("%s holds %q: …%s…", where, s, b[lo:hi]))
		}
	}
}

func (l *leakLog) hits() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.found...)
}

// grepTree greps every file under the directories; it returns how many
// files and bytes it read.
func (l *leakLog) grepTree(t *testing.T, secrets []string, dirs ...string) (n int, size int64) {
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			n++
			size += int64(len(b))
			l.grep(path, b, secrets)
			return nil
		})
		if err != nil {
			t.Errorf("grep %s: %v", d, err)
		}
	}
	return n, size
}

// pgUserWithPassword creates a PostgreSQL role that logs in with a
// password over TCP (scram-sha-256 in pg_hba.conf, ahead of the test
// server's trust rules), checks that a wrong password is refused, and
// returns a target URL for it.
func pgUserWithPassword(t *testing.T, ctx context.Context, pg *testutil.PGServer, user, password string) string {
	t.Helper()
	pg.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'", user, password))
	hba := filepath.Join(pg.DataDir, "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	rule := fmt.Sprintf("host all %s 127.0.0.1/32 scram-sha-256\nhost all %s ::1/128 scram-sha-256\n", user, user)
	if err := os.WriteFile(hba, append([]byte(rule), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	pg.Exec("SELECT pg_reload_conf()")
	url := func(pw string) string {
		return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", user, pw, pg.Port, testutil.PostgresTestDB)
	}
	// The reload is asynchronous: wait until the wrong password is refused.
	var lastErr error
	for i := 0; ; i++ {
		db, err := sql.Open("pgx", url("wrong"))
		if err != nil {
			t.Fatal(err)
		}
		lastErr = db.PingContext(ctx)
		db.Close()
		if lastErr != nil && strings.Contains(lastErr.Error(), "password authentication failed") {
			break
		}
		if i == 100 {
			t.Fatalf("PostgreSQL does not ask %s for a password (last: %v)", user, lastErr)
		}
		sleepShort()
	}
	db, err := sql.Open("pgx", url(password))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("PostgreSQL refuses %s with the right password: %v", user, err)
	}
	return url(password)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// checkStateModes asserts that each state dir is 0700 and that the files
// in it holding positions (the checkpoint, the change index, the schema
// history, snapshot progress: every regular file there but the empty
// lock) are 0600; it
// returns what it saw.
func checkStateModes(t *testing.T, dirs ...string) string {
	t.Helper()
	var seen []string
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil {
			t.Errorf("state dir: %v", err)
			continue
		}
		seen = append(seen, fmt.Sprintf("%s %04o", filepath.Base(d), st.Mode().Perm()))
		if st.Mode().Perm() != 0o700 {
			t.Errorf("state dir %s is %04o, want 0700", d, st.Mode().Perm())
		}
		if _, err := os.Stat(filepath.Join(d, position.FileName)); err != nil {
			t.Errorf("state dir %s holds no %s: %v", d, position.FileName, err)
		}
		es, _ := os.ReadDir(d)
		sort.Slice(es, func(i, j int) bool { return es[i].Name() < es[j].Name() })
		for _, e := range es {
			// lock is empty: it is held (flock) to keep a second
			// process off the state dir and holds no position.
			if !e.Type().IsRegular() || e.Name() == "lock" {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			seen = append(seen, fmt.Sprintf("%s %04o", e.Name(), info.Mode().Perm()))
			if info.Mode().Perm()&0o077 != 0 {
				t.Errorf("state file %s is %04o, want 0600 (it holds positions)", filepath.Join(d, e.Name()), info.Mode().Perm())
			}
		}
	}
	return strings.Join(seen, ", ")
}

func sleepShort() { time.Sleep(100 * time.Millisecond) }
