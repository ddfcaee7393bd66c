package index

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// ServerURL is a parsed index+mysql:// or index+postgres:// address.
type ServerURL struct {
	dialect  dialect
	driver   string // database/sql driver name
	dsn      string
	Redacted string // the address without its password, for logs and status
}

// mysqlParams and postgresParams are the URL parameters accepted for each.
var (
	mysqlParams    = []string{"tls"}
	postgresParams = []string{"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name"}
)

// IsServerURL reports whether an output names an index on a server.
func IsServerURL(s string) bool { return strings.HasPrefix(s, "index+") }

// ParseServerURL checks and parses index+mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?tls=...]
// (MySQL or MariaDB) and index+postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...].
func ParseServerURL(raw string) (ServerURL, error) {
	bad := func(format string, a ...any) (ServerURL, error) {
		return ServerURL{}, fmt.Errorf("index URL %q: "+format, append([]any{redact(raw)}, a...)...)
	}
	u, err := url.Parse(strings.TrimPrefix(raw, "index+"))
	if err != nil || !IsServerURL(raw) {
		return bad("want index+mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE or index+postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if u.Hostname() == "" || u.User == nil || u.User.Username() == "" || db == "" || strings.Contains(db, "/") {
		return bad("a user, a host and a database are required, as in %s://bintap@db.example.com/changes", "index+"+u.Scheme)
	}
	out := ServerURL{Redacted: redact(raw)}
	switch u.Scheme {
	case "mysql", "mariadb":
		for k := range u.Query() {
			if !slices.Contains(mysqlParams, k) {
				return bad("unknown parameter %q: accepted is tls=true|false|skip-verify|preferred", k)
			}
		}
		c := mysql.NewConfig()
		c.User = u.User.Username()
		c.Passwd, _ = u.User.Password()
		c.Net = "tcp"
		c.Addr = u.Host
		if u.Port() == "" {
			c.Addr = net.JoinHostPort(u.Hostname(), "3306")
		}
		c.DBName = db
		c.Timeout = 10 * time.Second
		switch tls := u.Query().Get("tls"); tls {
		case "", "false":
		case "true", "skip-verify", "preferred":
			c.TLSConfig = tls
		default:
			return bad("tls=%q: accepted are true, false, skip-verify, preferred", tls)
		}
		out.dialect, out.driver, out.dsn = mysqlDB, "mysql", c.FormatDSN()
	case "postgres", "postgresql":
		for k := range u.Query() {
			if !slices.Contains(postgresParams, k) {
				return bad("unknown parameter %q: accepted are %s", k, strings.Join(postgresParams, ", "))
			}
		}
		out.dialect, out.driver, out.dsn = postgresDB, "pgx", strings.TrimPrefix(raw, "index+")
	default:
		return bad("unknown database %q: accepted are index+mysql:// (MySQL or MariaDB) and index+postgres://", u.Scheme)
	}
	return out, nil
}

// redact hides the password of a URL.
func redact(raw string) string {
	u, err := url.Parse(strings.TrimPrefix(raw, "index+"))
	if err != nil {
		return "index+(unparsable URL)"
	}
	return "index+" + u.Redacted()
}

// OpenServer opens a change index on a database server, creating its
// tables when missing. The database itself must exist. With readOnly the
// tables must exist already and nothing is written.
func OpenServer(raw string, readOnly bool) (*Store, error) {
	su, err := ParseServerURL(raw)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(su.driver, su.dsn)
	if err != nil {
		return nil, fmt.Errorf("change index %s: %w", su.Redacted, err)
	}
	s := &Store{db: dbq{db, su.dialect}, path: su.Redacted, dialect: su.dialect}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("change index %s: cannot connect: %w", su.Redacted, err)
	}
	if readOnly {
		err = s.checkVersion()
	} else {
		err = s.init()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("change index %s: %w", su.Redacted, err)
	}
	return s, nil
}
