package index

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/dburl"
)

// ServerURL is a parsed index+mysql:// or index+postgres:// address.
type ServerURL struct {
	dialect  dialect
	driver   string // database/sql driver name
	dsn      string
	Redacted string // the address without its password, for logs and status
}

// IsServerURL reports whether an output names an index on a server.
func IsServerURL(s string) bool { return strings.HasPrefix(s, "index+") }

// ParseServerURL checks and parses index+mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?tls=...]
// (MySQL or MariaDB) and index+postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...].
func ParseServerURL(raw string) (ServerURL, error) {
	if !IsServerURL(raw) {
		return ServerURL{}, fmt.Errorf("index URL %q: want index+mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE or index+postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE", "index+"+dburl.Redact(raw))
	}
	u, err := dburl.Parse(strings.TrimPrefix(raw, "index+"), "index URL")
	if err != nil {
		return ServerURL{}, err
	}
	out := ServerURL{Redacted: "index+" + u.Redacted, driver: u.Driver, dsn: u.DSN, dialect: postgresDB}
	if u.Flavor == dburl.MySQL {
		out.dialect = mysqlDB
	}
	return out, nil
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
