package testutil

// A private PostgreSQL server for tests: its own data directory, a free TCP
// port on 127.0.0.1, a unix socket directory of its own, trust
// authentication and durability switched off. It never touches a PostgreSQL
// the machine already runs (Debian's service listens on 5432 with its data in
// /var/lib/postgresql; this one uses neither).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the private server
)

// PostgresSuperuser is the superuser initdb creates (-U), whatever OS user
// the server runs as.
const PostgresSuperuser = "postgres"

// PostgresTestDB is the database StartPostgres creates.
const PostgresTestDB = "bintap_test"

// Postgres is a running private PostgreSQL server. Its superuser
// PostgresSuperuser has no password (trust authentication) and may connect
// over TCP from 127.0.0.1 or over the unix socket in SocketDir.
type Postgres struct {
	Port      int
	DataDir   string
	SocketDir string
	// RunAs is the OS user the server processes run as: the current user,
	// or "postgres" when the tests run as root (PostgreSQL refuses root).
	RunAs string

	cmd        *exec.Cmd
	done       chan error
	logPath    string
	ownSockDir bool // SocketDir was made apart from dir (path too long) and is removed by Stop
	bin        pgBinaries
	id         *pgIdentity
	logFile    *os.File // the server's stdout and stderr while it starts
}

// pgBinaries are the programs of the newest PostgreSQL installed the Debian way.
type pgBinaries struct {
	version string // the directory name under /usr/lib/postgresql, such as "15"
	initdb  string
	server  string
}

// findPostgres picks the newest /usr/lib/postgresql/VERSION/bin that has both
// initdb and postgres.
func findPostgres() (pgBinaries, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	type cand struct {
		num int
		bin pgBinaries
	}
	var found []cand
	for _, initdb := range dirs {
		bin := filepath.Dir(initdb)
		server := filepath.Join(bin, "postgres")
		if _, err := os.Stat(server); err != nil {
			continue
		}
		version := filepath.Base(filepath.Dir(bin))
		num, err := strconv.Atoi(strings.SplitN(version, ".", 2)[0])
		if err != nil {
			continue
		}
		found = append(found, cand{num, pgBinaries{version: version, initdb: initdb, server: server}})
	}
	if len(found) == 0 {
		return pgBinaries{}, errors.New("PostgreSQL not found: no /usr/lib/postgresql/*/bin/initdb with a postgres next to it; " +
			"install it with 'apt-get install -y postgresql' (make setup does this)")
	}
	sort.Slice(found, func(i, j int) bool { return found[i].num > found[j].num })
	return found[0].bin, nil
}

// pgIdentity says which OS user runs initdb and postgres: nil when the tests
// run as an ordinary user (the server runs as that user), the "postgres"
// system user when they run as root.
type pgIdentity struct {
	name     string
	uid, gid int
}

func pgRunAs() (*pgIdentity, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("tests run as root, which PostgreSQL refuses, and the system user \"postgres\" to run it as was not found "+
			"(the postgresql package creates it): %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("user postgres: gid %q: %w", u.Gid, err)
	}
	return &pgIdentity{name: u.Username, uid: uid, gid: gid}, nil
}

func (id *pgIdentity) userName() string {
	if id != nil {
		return id.name
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Geteuid())
}

// command builds an exec.Cmd that runs as id, in its own process group, killed
// if the test process dies, with no PG* variables leaking in from the
// environment.
func (id *pgIdentity) command(dir, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir // the caller's working directory may not be readable by id
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if id != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(id.uid), Gid: uint32(id.gid)}
	}
	return cmd
}

// chown gives path to id (nothing to do when id is nil).
func (id *pgIdentity) chown(path string) error {
	if id == nil {
		return nil
	}
	if err := os.Chown(path, id.uid, id.gid); err != nil {
		return fmt.Errorf("give %s to user %s: %w", path, id.name, err)
	}
	return nil
}

// ensureTraversable makes sure id can reach dir: every directory above it must
// let id search it. Directories under the temporary directory (such as the
// 0700 parent t.TempDir makes) get o+x added; any other blocking directory is
// an error naming it.
func (id *pgIdentity) ensureTraversable(dir string) error {
	if id == nil {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	tmp, _ := filepath.Abs(os.TempDir())
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		ok := mode&0o001 != 0 ||
			(int(st.Uid) == id.uid && mode&0o100 != 0) ||
			(int(st.Gid) == id.gid && mode&0o010 != 0)
		if !ok {
			if !strings.HasPrefix(p, tmp+string(filepath.Separator)) {
				return fmt.Errorf("user %s, who runs the private PostgreSQL, cannot enter %s (mode %v): "+
					"put the test directory elsewhere (TMPDIR) or allow others to search that directory", id.name, p, mode)
			}
			if err := os.Chmod(p, mode|0o001); err != nil {
				return fmt.Errorf("let user %s enter %s: %w", id.name, p, err)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// pgTemplateDir returns a freshly initialised data directory, made once per
// machine, PostgreSQL version and server user, and copied for each server:
// initdb takes more than a second.
func pgTemplateDir(bin pgBinaries, id *pgIdentity) (string, error) {
	base := filepath.Join(os.TempDir(), "bintap-postgres-template-"+bin.version+"-"+id.userName())
	data := filepath.Join(base, "data")
	ready := filepath.Join(base, "ready")
	if _, err := os.Stat(ready); err == nil {
		return data, nil
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
		return data, nil
	}
	os.RemoveAll(data)
	if err := id.ensureTraversable(base); err != nil {
		return "", err
	}
	if err := id.chown(base); err != nil {
		return "", err
	}
	cmd := id.command(base, bin.initdb,
		"-D", data,
		"-U", PostgresSuperuser,
		"--auth=trust",
		"--encoding=UTF8",
		"--no-locale",
		"--no-sync",
		"--no-instructions",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb (%s, as user %s): %v\n%s", bin.initdb, id.userName(), err, tail(string(out), 2000))
	}
	if err := os.WriteFile(ready, nil, 0o644); err != nil {
		return "", err
	}
	return data, nil
}

// maxSocketPath is the room for a unix socket path (sun_path less its NUL).
const maxSocketPath = 107

// StartPostgres starts a private server with its files in dir (a new
// temporary directory when dir is empty), waits until it accepts connections
// and creates the database PostgresTestDB. When dir already holds a data
// directory of an earlier server (stopped or killed), that one starts again,
// on a new port, with its data. The caller stops it with Stop and owns dir.
// Under root the server runs as the system user "postgres": dir is given to
// that user, and directories above it under the temporary directory that it
// could not enter get o+x.
func StartPostgres(ctx context.Context, dir string) (*Postgres, error) {
	bin, err := findPostgres()
	if err != nil {
		return nil, err
	}
	id, err := pgRunAs()
	if err != nil {
		return nil, err
	}
	tmpl, err := pgTemplateDir(bin, id)
	if err != nil {
		return nil, err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "bintap-postgres-"); err != nil {
			return nil, err
		}
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if err := id.ensureTraversable(dir); err != nil {
		return nil, err
	}
	if err := id.chown(dir); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	_, err = os.Stat(filepath.Join(data, "PG_VERSION"))
	restart := err == nil
	if !restart {
		if out, err := exec.Command("cp", "-a", tmpl, data).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("copy data dir: %v: %s", err, out)
		}
	}
	p := &Postgres{DataDir: data, SocketDir: dir, RunAs: id.userName(), logPath: filepath.Join(dir, "postgres.log")}
	if len(dir)+len("/.s.PGSQL.65535") > maxSocketPath {
		// The socket path would not fit: use a short directory of its own.
		if p.SocketDir, err = os.MkdirTemp("", "bintap-pg-"); err != nil {
			return nil, err
		}
		p.ownSockDir = true
		if err := id.chown(p.SocketDir); err != nil {
			p.Stop()
			return nil, err
		}
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.Stop()
		return nil, err
	}
	defer logFile.Close() // the server keeps its own descriptor (Restart reopens it)
	p.bin, p.id, p.logFile = bin, id, logFile
	for attempt := 0; attempt < 5; attempt++ {
		if p.Port, err = FreePort(); err != nil {
			p.Stop()
			return nil, err
		}
		if err = p.launch(ctx); err == nil || ctx.Err() != nil {
			break
		}
		p.stopServer()
	}
	if err != nil {
		p.Stop()
		return nil, err
	}
	if !restart {
		if err := p.createDB(ctx, PostgresTestDB); err != nil {
			p.Stop()
			return nil, err
		}
	}
	return p, nil
}

// launch starts the server on p.Port and waits until it is ready.
func (p *Postgres) launch(ctx context.Context) error {
	p.cmd = p.id.command(filepath.Dir(p.DataDir), p.bin.server,
		"-D", p.DataDir,
		"-p", strconv.Itoa(p.Port),
		"-k", p.SocketDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "logging_collector=off",
		"-c", "log_destination=stderr",
		// Durability against the machine crashing is off; against the
		// server crashing it is kept: a commit is written to the OS before
		// it returns (synchronous_commit stays on, cheap without fsync), so
		// Kill loses nothing that was committed.
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "wal_level=minimal",
		"-c", "max_wal_senders=0",
		"-c", "max_wal_size=1GB",
		"-c", "checkpoint_timeout=1h",
		"-c", "shared_buffers=32MB",
		"-c", "max_connections=100",
		"-c", "jit=off",
		"-c", "timezone=UTC",
	)
	p.cmd.Stdout = p.logFile
	p.cmd.Stderr = p.logFile
	if err := p.cmd.Start(); err != nil {
		p.cmd = nil
		return fmt.Errorf("start postgres (%s, as user %s): %w", p.bin.server, p.RunAs, err)
	}
	p.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(p.cmd, p.done)
	return p.waitReady(ctx)
}

// Restart starts a stopped server again on the same data dir and port.
func (p *Postgres) Restart(ctx context.Context) error {
	if p.cmd != nil {
		return errors.New("the server is running")
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	p.logFile = logFile
	return p.launch(ctx)
}

func (p *Postgres) waitReady(ctx context.Context) error {
	const limit = 60 * time.Second
	deadline := time.Now().Add(limit)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("postgres exited: %v\n%s", err, tail(p.Log(), 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		db, err := sql.Open("pgx", p.DSN("postgres"))
		if err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = db.PingContext(pctx)
		cancel()
		db.Close()
		if lastErr == nil {
			return nil
		}
	}
	return fmt.Errorf("postgres did not become ready in %v (last error: %v)\n%s", limit, lastErr, tail(p.Log(), 2000))
}

func (p *Postgres) createDB(ctx context.Context, name string) error {
	db, err := p.Open("postgres")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database %s: %w\n%s", name, err, tail(p.Log(), 2000))
	}
	return nil
}

// DSN is a PostgreSQL URL for the superuser and the given database
// ("postgres" when empty), for pgx and for bintap.
func (p *Postgres) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", PostgresSuperuser, p.Port, db)
}

// Open returns a database/sql handle (driver "pgx") on the given database.
func (p *Postgres) Open(db string) (*sql.DB, error) { return sql.Open("pgx", p.DSN(db)) }

// Log returns what the server wrote to its log.
func (p *Postgres) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// stopServer asks for a fast shutdown (SIGINT: roll back open transactions,
// checkpoint, exit) and kills the server if it has not gone in 20 seconds.
func (p *Postgres) stopServer() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // the postmaster and its backends
		<-p.done
	}
	p.cmd = nil
}

// Stop shuts the server down and removes nothing of dir (the caller owns it).
func (p *Postgres) Stop() {
	p.stopServer()
	if p.ownSockDir {
		os.RemoveAll(p.SocketDir)
		p.ownSockDir = false
	}
}

// Kill stops the server at once (SIGKILL to the postmaster and its backends),
// as a crash would. Start a new server on DataDir to see what survived.
func (p *Postgres) Kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		p.cmd = nil
	}
}

// PGServer is a private PostgreSQL bound to a test: it stops when the test
// ends. DB is a handle on PostgresTestDB.
type PGServer struct {
	*Postgres
	DB *sql.DB
	t  testing.TB
}

// NewPostgres starts a private PostgreSQL for a test, in a directory of
// t.TempDir.
func NewPostgres(t testing.TB) *PGServer {
	t.Helper()
	dir := t.TempDir()
	p, err := StartPostgres(context.Background(), dir)
	if err != nil {
		t.Fatalf("start private PostgreSQL: %v", err)
	}
	db, err := p.Open(PostgresTestDB)
	if err != nil {
		p.Stop()
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	s := &PGServer{Postgres: p, DB: db, t: t}
	t.Cleanup(func() {
		db.Close()
		p.Stop()
	})
	return s
}

// Exec runs statements on PostgresTestDB and fails the test on error.
func (s *PGServer) Exec(stmts ...string) {
	s.t.Helper()
	execAll(s.t, s.DB, stmts)
}
