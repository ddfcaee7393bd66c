// Package dburl parses the URLs bintap's outputs use to reach a database
// server — mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?tls=...] (MySQL or
// MariaDB, also mariadb://) and postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...]
// (also postgresql://) — into a database/sql driver name and DSN, checking
// every part up front. Errors never show the password.
package dburl

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Flavors.
const (
	MySQL    = "mysql" // MySQL or MariaDB
	Postgres = "postgres"
)

// URL is a parsed server address.
type URL struct {
	Flavor   string // MySQL or Postgres
	Driver   string // database/sql driver name: "mysql" or "pgx"
	DSN      string
	Database string
	// Redacted is the address without its password, for logs and status.
	Redacted string
}

// The URL parameters accepted for each flavor.
var (
	mysqlParams    = []string{"tls"}
	postgresParams = []string{"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name"}
)

// Redact hides the password of a URL.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User == nil && strings.Contains(raw, "@") {
		// Not the URL it was meant to be (no "//" after the scheme, a
		// '/' or '?' in the password): hide from the first ':' of what
		// may be user info up to its '@'.
		return redactLoose(raw)
	}
	return u.Redacted()
}

// redactLoose hides the password of a URL that url.Parse refused (see
// SplitPassword): it errs on hiding.
func redactLoose(raw string) string {
	before, pw, after := SplitPassword(raw)
	if pw == "" {
		return raw
	}
	return before + "xxxxx" + after
}

// SplitPassword cuts a URL (scheme://user:password@host..., or without
// "://") around its password, "" for none. The password ends at the last
// '@' before the path, or at the last '@' of all when there is none before
// it: a password may hold a '/' or '?'.
func SplitPassword(v string) (before, pw, after string) {
	prefix, rest := "", v
	if i := strings.Index(v, "//"); i >= 0 {
		prefix, rest = v[:i+2], v[i+2:]
	}
	at := -1
	if slash := strings.IndexAny(rest, "/?"); slash >= 0 {
		at = strings.LastIndexByte(rest[:slash], '@')
	}
	if at < 0 {
		at = strings.LastIndexByte(rest, '@')
	}
	if at < 0 {
		return v, "", ""
	}
	user, pw, ok := strings.Cut(rest[:at], ":")
	if !ok || pw == "" {
		return v, "", ""
	}
	return prefix + user + ":", pw, rest[at:]
}

// Parse checks and parses a server URL. what names it in errors ("index
// URL", "target URL").
func Parse(raw, what string) (URL, error) {
	bad := func(format string, a ...any) (URL, error) {
		return URL{}, fmt.Errorf("%s %q: "+format, append([]any{what, Redact(raw)}, a...)...)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("want mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if u.Hostname() == "" || u.User == nil || u.User.Username() == "" || db == "" || strings.Contains(db, "/") {
		return bad("a user, a host and a database are required, as in %s://bintap@db.example.com/changes", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return bad("port %q is not a port number", p)
		}
	}
	out := URL{Redacted: Redact(raw), Database: db}
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
		out.Flavor, out.Driver, out.DSN = MySQL, "mysql", c.FormatDSN()
	case "postgres", "postgresql":
		for k := range u.Query() {
			if !slices.Contains(postgresParams, k) {
				return bad("unknown parameter %q: accepted are %s", k, strings.Join(postgresParams, ", "))
			}
		}
		out.Flavor, out.Driver, out.DSN = Postgres, "pgx", raw
	default:
		return bad("unknown database %q: accepted are mysql:// (MySQL or MariaDB) and postgres://", u.Scheme)
	}
	return out, nil
}
