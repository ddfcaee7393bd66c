// Package testutil starts private servers for tests, benchmarks and the demo:
// a MariaDB with its own data directory, a free TCP port and the binary log on,
// and a PostgreSQL (postgres.go) made the same way.
// Nothing here touches a server the machine already runs.
package testutil

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver for the private server
)

// MariaDB is a running private MariaDB server. Its root user has no password
// and may connect over TCP from 127.0.0.1.
type MariaDB struct {
	Port    int
	DataDir string
	Socket  string
	cmd     *exec.Cmd
	done    chan error
	logPath string
	path    string   // mariadbd
	args    []string // its arguments, for Restart
}

// Options tune a private server.
type Options struct {
	// Args are extra mariadbd arguments, such as "--binlog-row-metadata=FULL".
	Args []string
	// Dir is where the data directory goes; a new temporary directory when empty.
	Dir string
}

// EnsureInstalled installs mariadb-server with apt-get when mariadbd is missing.
func EnsureInstalled() error {
	if _, err := findBinary("mariadbd"); err == nil {
		return nil
	}
	return errors.New("mariadbd not found: install it with 'apt-get install -y mariadb-server' (make test does this)")
}

func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// templateDir returns a freshly initialised data directory, made once per
// machine and copied for each server: mariadb-install-db takes seconds.
func templateDir() (string, error) {
	base := filepath.Join(os.TempDir(), "bintap-mariadb-template")
	ready := filepath.Join(base, "ready")
	if _, err := os.Stat(ready); err == nil {
		return filepath.Join(base, "data"), nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(base, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck
	if _, err := os.Stat(ready); err == nil {
		return filepath.Join(base, "data"), nil
	}
	data := filepath.Join(base, "data")
	os.RemoveAll(data)
	installer, err := findBinary("mariadb-install-db")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(installer, "--no-defaults", "--datadir="+data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--user="+currentUser())
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		return "", err
	}
	return data, nil
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if os.Geteuid() == 0 {
		return "root"
	}
	return strconv.Itoa(os.Geteuid())
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartMariaDB starts a private server and waits until it accepts connections.
func StartMariaDB(ctx context.Context, opt Options) (*MariaDB, error) {
	if err := EnsureInstalled(); err != nil {
		return nil, err
	}
	tmpl, err := templateDir()
	if err != nil {
		return nil, err
	}
	dir := opt.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bintap-mariadb-"); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("cp", "-a", tmpl, data).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy data dir: %v: %s", err, out)
	}
	mariadbd, err := findBinary("mariadbd")
	if err != nil {
		return nil, err
	}
	m := &MariaDB{DataDir: data, Socket: filepath.Join(dir, "mysqld.sock"), logPath: filepath.Join(dir, "error.log"), done: make(chan error, 1)}
	for attempt := 0; attempt < 5; attempt++ {
		if m.Port, err = FreePort(); err != nil {
			return nil, err
		}
		args := []string{
			"--no-defaults",
			"--datadir=" + data,
			"--socket=" + m.Socket,
			"--port=" + strconv.Itoa(m.Port),
			"--bind-address=127.0.0.1",
			"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
			"--log-error=" + m.logPath,
			"--user=" + currentUser(),
			"--server-id=1",
			"--log-bin=" + filepath.Join(data, "mysql-bin"),
			"--binlog-format=ROW",
			"--binlog-row-image=FULL",
			"--innodb-buffer-pool-size=64M",
			"--innodb-log-file-size=64M",
			"--innodb-flush-log-at-trx-commit=2",
			"--sync-binlog=0",
			"--skip-name-resolve",
			"--max-connections=200",
			"--character-set-server=utf8mb4",
			"--collation-server=utf8mb4_general_ci",
		}
		m.path, m.args = mariadbd, append(args, opt.Args...)
		if err = m.start(ctx); err == nil {
			return m, nil
		}
		m.Stop()
	}
	return nil, err
}

func (m *MariaDB) start(ctx context.Context) error {
	m.cmd = exec.Command(m.path, m.args...)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("start mariadbd: %w", err)
	}
	m.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(m.cmd, m.done)
	return m.waitReady(ctx)
}

// Restart starts a stopped server again on the same data dir and port.
func (m *MariaDB) Restart(ctx context.Context) error {
	if m.cmd != nil {
		return errors.New("the server is running")
	}
	return m.start(ctx)
}

func (m *MariaDB) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-m.done:
			m.done <- err
			log, _ := os.ReadFile(m.logPath)
			return fmt.Errorf("mariadbd exited: %v\n%s", err, tail(string(log), 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		db, err := sql.Open("mysql", m.DSN(""))
		if err != nil {
			return err
		}
		err = db.PingContext(ctx)
		db.Close()
		if err == nil {
			return nil
		}
	}
	log, _ := os.ReadFile(m.logPath)
	return fmt.Errorf("mariadbd did not become ready in 60s\n%s", tail(string(log), 2000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// DSN is a go-sql-driver DSN for the root user and the given database.
func (m *MariaDB) DSN(db string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s?multiStatements=true&parseTime=false&interpolateParams=true", m.Port, db)
}

// URL is the bintap source URL for the root user.
func (m *MariaDB) URL() string { return fmt.Sprintf("mysql://root@127.0.0.1:%d", m.Port) }

// Open returns a database/sql handle on the server.
func (m *MariaDB) Open(db string) (*sql.DB, error) { return sql.Open("mysql", m.DSN(db)) }

// Stop kills the server and removes nothing (the caller owns the directory).
func (m *MariaDB) Stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (m *MariaDB) Kill() {
	if m.cmd != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
		<-m.done
		m.cmd = nil
	}
}

// Log returns the server's error log.
func (m *MariaDB) Log() string {
	b, _ := os.ReadFile(m.logPath)
	return string(b)
}

// Server is a private MariaDB bound to a test: it stops when the test ends.
type Server struct {
	*MariaDB
	DB *sql.DB
	t  testing.TB
}

// NewMariaDB starts a private server for a test. Extra mariadbd arguments may
// be given, such as "--binlog-row-metadata=FULL".
func NewMariaDB(t testing.TB, args ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	m, err := StartMariaDB(context.Background(), Options{Args: args, Dir: dir})
	if err != nil {
		t.Fatalf("start private MariaDB: %v", err)
	}
	db, err := m.Open("")
	if err != nil {
		m.Stop()
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	s := &Server{MariaDB: m, DB: db, t: t}
	t.Cleanup(func() {
		db.Close()
		m.Stop()
	})
	return s
}

// RestartServer starts the stopped or killed server again and gives s a
// new connection pool to it (the old one is closed), failing the test on
// error.
func (s *Server) RestartServer() {
	s.t.Helper()
	if err := s.Restart(context.Background()); err != nil {
		s.t.Fatalf("restart private MariaDB: %v", err)
	}
	db, err := s.Open("")
	if err != nil {
		s.t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	s.DB.Close()
	s.DB = db
	s.t.Cleanup(func() { db.Close() })
}

// Exec runs statements (separated by ";" is allowed) and fails the test on error.
func (s *Server) Exec(stmts ...string) {
	s.t.Helper()
	execAll(s.t, s.DB, stmts)
}

// execAll runs statements, skipping empty ones, and fails the test on error.
func execAll(t testing.TB, db *sql.DB, stmts []string) {
	t.Helper()
	for _, q := range stmts {
		if strings.TrimSpace(q) == "" {
			continue
		}
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("exec %q: %v", q, err)
		}
	}
}
