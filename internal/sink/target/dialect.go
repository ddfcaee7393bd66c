package target

import (
	"github.com/bintap/bintap/internal/change"
)

// dialect is what differs between the target databases: identifiers, the
// column types and values of source columns (types.go), and the SQL of the
// set-based statements (postgres.go, mysql.go, duckdb.go).
type dialect interface {
	// name is "postgres", "mysql" or "duckdb".
	name() string
	// quote quotes an identifier.
	quote(ident string) string

	// columnType is the target column type of a source column, exact
	// enough that every source value reads back the same (types.go).
	columnType(c *change.Column) (string, error)
	// arg is the driver argument that stores v, a value of source column
	// c, in a column of columnType(c); nil stores NULL (types.go).
	arg(c *change.Column, v *change.Value) (any, error)
	// param is the SQL of bind parameter n (1-based) for a value of column
	// c, such as "$3::numeric(10,2)", "?" or "ST_GeomFromText(?)" (types.go).
	param(c *change.Column, n int) string
}

// The dialects. Each is a value type; what it learns about its server
// (the version, MariaDB or MySQL) is set when the output opens.
type (
	postgres struct{}
	mysql    struct {
		mariaDB bool // MariaDB (native UUID and INET types from 10.7/10.10) rather than MySQL
		version [2]int
	}
	duck struct{}
)

func (postgres) name() string { return "postgres" }
func (mysql) name() string    { return "mysql" }
func (duck) name() string     { return "duckdb" }
