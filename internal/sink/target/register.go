package target

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/bintap/bintap/internal/dburl"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/sink"
)

func init() {
	sink.Register(sink.Kind{
		Name: "target",
		Form: "postgres://USER[:PASS]@HOST[:PORT]/DB, mysql://USER[:PASS]@HOST[:PORT]/DB, duckdb (STATE_DIR/target.duckdb) or duckdb:///PATH/FILE.duckdb (a database target: tables mirrored by upsert-merge)",
		Match: func(spec string) bool {
			if spec == "duckdb" {
				return true
			}
			for _, p := range []string{"postgres://", "postgresql://", "mysql://", "mariadb://", "duckdb://"} {
				if strings.HasPrefix(spec, p) {
					return true
				}
			}
			return false
		},
		Options: []sink.Option{
			{Name: "target-table", Default: "{database}.{table}", Usage: "database targets: the target table of each source table; {database} and {table} stand for the source's; the part before the dot is the schema (PostgreSQL) or database (MySQL), created when missing",
				Check: checkTemplate},
			{Name: "target-deletes", Default: "soft", Usage: "database targets: soft (a deleted row stays with __deleted = true) or hard (it is removed)",
				Check: func(v string) error { return sink.OneOf(v, "soft", "hard") }},
			{Name: "target-log-tables", Bool: true, Default: "false", Usage: "database targets: also keep {table}_log beside each table, append-only, one row per change",
				Check: func(v string) error { _, err := sink.ParseBool(v); return err }},
		},
		Parse: parse,
	})
}

// checkTemplate accepts a target-table template: one or two dot-separated
// parts of placeholders and name characters.
func checkTemplate(v string) error {
	parts := strings.Split(v, ".")
	if len(parts) > 2 || v == "" {
		return errors.New("accepted is a table name or schema.table, with {database} and {table} as placeholders, such as {database}.{table} or mirror.{database}_{table}")
	}
	for _, p := range parts {
		if p == "" {
			return errors.New("a part of the name is empty; accepted is schema.table, such as {database}.{table}")
		}
		rest := strings.NewReplacer("{database}", "", "{table}", "").Replace(p)
		if strings.ContainsAny(rest, "{}`\"'\x00") {
			return fmt.Errorf("%q holds characters a table name cannot; the placeholders are {database} and {table}", p)
		}
	}
	return nil
}

// defaultBatch is a target's --batch-size when none is given.
const defaultBatch = 10000

// Options configure a Destination.
type Options struct {
	// Table is the target table template, such as "{database}.{table}".
	Table string
	// HardDeletes removes deleted rows instead of marking them.
	HardDeletes bool
	// LogTables adds an append-only {table}_log beside each table.
	LogTables bool
	// BatchSize: changes per target transaction (it also ends at each
	// checkpoint).
	BatchSize int
}

type output struct {
	url  dburl.URL
	duck string // DuckDB: the file ("" for the state dir's target.duckdb); url is unset
	opt  Options
}

func (o output) Name() string {
	switch {
	case o.url.Redacted != "":
		return o.url.Redacted
	case o.duck != "":
		return "duckdb://" + o.duck
	}
	return "duckdb"
}

// DuckFileName is the DuckDB target's file in the state dir (--output duckdb).
const DuckFileName = "target.duckdb"

func parse(spec string, s sink.Settings) (sink.Output, error) {
	var o output
	var err error
	switch {
	case spec == "duckdb":
	case strings.HasPrefix(spec, "duckdb://"):
		o.duck = strings.TrimPrefix(spec, "duckdb://")
		if host, _, _ := strings.Cut(o.duck, "/"); o.duck == "" || strings.ContainsAny(o.duck, "?#") || strings.Contains(host, "@") {
			return nil, errors.New("a DuckDB target is duckdb (a file in the state dir) or duckdb:///PATH/FILE.duckdb")
		}
	default:
		if o.url, err = dburl.Parse(spec, "target URL"); err != nil {
			return nil, err
		}
	}
	o.opt = Options{Table: s.Get("target-table"), HardDeletes: s.Get("target-deletes") == "hard"}
	if o.opt.LogTables, err = sink.ParseBool(s.Get("target-log-tables")); err != nil {
		return nil, err
	}
	// A target's statements cost per batch more than per row: bigger
	// batches by default than the index's. The checkpoint still bounds how
	// long a change waits.
	o.opt.BatchSize = defaultBatch
	if v := s.Get("batch-size"); v != "" {
		if o.opt.BatchSize, err = strconv.Atoi(v); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// Open connects to the target (waiting while it is unreachable, until ctx
// ends) and creates bintap's state tables there.
func (o output) Open(ctx context.Context, env sink.Env) (pipeline.Destination, error) {
	driver, dsn := o.url.Driver, o.url.DSN
	var d dialect = postgres{}
	switch {
	case o.url.Flavor == dburl.MySQL:
		d = mysql{}
		// The driver puts the values into the statement text (escaped,
		// exact): one round trip a statement instead of prepare, execute
		// and close.
		c, err := mysqldriver.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", o.Name(), err)
		}
		c.InterpolateParams = true
		dsn = c.FormatDSN()
	case o.url.Driver == "":
		d, driver, dsn = duck{}, "duckdb", o.duck
		if dsn == "" {
			dsn = filepath.Join(env.StateDir, DuckFileName)
		}
		if err := os.MkdirAll(filepath.Dir(dsn), 0o755); err != nil {
			return nil, fmt.Errorf("target %s: %w", o.Name(), err)
		}
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", o.Name(), err)
	}
	db.SetMaxOpenConns(2)
	if driver == "duckdb" {
		db.SetMaxOpenConns(1) // one writer; DuckDB locks the file
	}
	db.SetConnMaxIdleTime(time.Minute)
	dest := newDestination(db, d, o.opt, o.Name(), env.Source, env.Log)
	dest.database = o.url.Database
	dest.fence.lease = env.Lease
	if err := dest.connect(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return dest, nil
}
