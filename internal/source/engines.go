package source

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/bintap/bintap/internal/config"
)

// ExcludeEngines finds the tables the filter's names select whose storage
// engine is never captured (config.UncapturedEngine: MEMORY, BLACKHOLE),
// marks them not captured in f and warns naming them. A table among them
// named one by one (--tables, --tables-file) is a *config.UsageError that
// says why: asking for it cannot be met.
func ExcludeEngines(ctx context.Context, db Querier, f *config.CaptureFilter, log *slog.Logger) error {
	rows, err := db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE FROM information_schema.TABLES"+
		" WHERE ENGINE IN ('MEMORY', 'BLACKHOLE') AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"+
		" ORDER BY TABLE_SCHEMA, TABLE_NAME")
	if err != nil {
		return fmt.Errorf("list MEMORY and BLACKHOLE tables: %w", connectError(err))
	}
	defer rows.Close()
	var excluded, named []string
	for rows.Next() {
		var db, name, engine string
		if err := rows.Scan(&db, &name, &engine); err != nil {
			return fmt.Errorf("list MEMORY and BLACKHOLE tables: %w", err)
		}
		if !f.CapturedByName(db, name) {
			continue
		}
		full := db + "." + name
		if f.Named(db, name) {
			named = append(named, fmt.Sprintf("%s is a %s table (%s)", full, engine, config.UncapturedEngine(engine)))
			continue
		}
		f.SetEngine(db, name, engine)
		excluded = append(excluded, full+" ("+engine+")")
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list MEMORY and BLACKHOLE tables: %w", err)
	}
	if len(named) > 0 {
		return &config.UsageError{Err: fmt.Errorf("--tables names tables bintap never captures: %s. "+
			"Remove them from --tables (or --tables-file), or convert them: ALTER TABLE <table> ENGINE=InnoDB",
			strings.Join(named, "; "))}
	}
	if len(excluded) > 0 {
		log.Warn("MEMORY and BLACKHOLE tables are not captured (neither streamed nor snapshotted): what the binary log says of them is not what they hold; ALTER TABLE ... ENGINE=InnoDB to capture one",
			"tables", strings.Join(excluded, ", "))
	}
	return nil
}

// trackEngine follows a CREATE or ALTER TABLE that sets a table's storage
// engine: a table made MEMORY or BLACKHOLE stops being captured, one moved
// to another engine is captured again. A table named one by one in --tables
// stays captured, with a warning: the user asked for it.
func (s *Stream) trackEngine(defaultSchema, ddl string, ansiQuotes bool) {
	te := s.hist.StatementEngine(ddl, ansiQuotes)
	qualify := func(n string) (string, string) {
		if db, name, ok := strings.Cut(n, "."); ok {
			return db, name
		}
		return defaultSchema, n
	}
	// A renamed table keeps its engine: its old name's exclusion moves.
	moved := map[string]string{}
	for _, r := range te.Renames {
		fdb, fname := qualify(r[0])
		moved[r[1]] = s.filter.Engine(fdb, fname)
		s.filter.SetEngine(fdb, fname, "") // the old name is gone
	}
	for _, r := range te.Renames {
		tdb, tname := qualify(r[1])
		s.setEngine(tdb, tname, moved[r[1]])
	}
	if te.Name == "" || te.Engine == "" && !te.Create {
		return
	}
	db, name := te.Schema, te.Name
	if db == "" {
		db = defaultSchema
	}
	engine := te.Engine
	if engine == "" && te.Like != "" {
		engine = s.filter.Engine(qualify(te.Like))
	}
	if len(te.Renames) > 0 { // ALTER TABLE ... ENGINE=x, RENAME TO y: y has x
		db, name = qualify(te.Renames[0][1])
	}
	s.setEngine(db, name, engine)
}

// setEngine records a captured table's engine in the filter and says when
// that changes its capture.
func (s *Stream) setEngine(db, name, engine string) {
	if !s.filter.CapturedByName(db, name) {
		return
	}
	full := db + "." + name
	why := config.UncapturedEngine(engine)
	if s.filter.Named(db, name) {
		if why != "" {
			s.log.Warn("a table named in --tables became a "+engine+" table: it stays captured as asked, but "+why, "table", full)
		}
		return
	}
	if !s.filter.SetEngine(db, name, engine) {
		return
	}
	if why != "" {
		s.log.Warn("table is no longer captured: "+why, "table", full, "engine", engine)
	} else {
		s.log.Info("table is captured again: its engine is no longer MEMORY or BLACKHOLE", "table", full)
	}
}
