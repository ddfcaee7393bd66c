package source

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/schema"
)

// ExcludeEngines finds the tables the filter's names select whose storage
// engine is never captured (config.UncapturedEngine: MEMORY, BLACKHOLE),
// marks them not captured in f and warns naming them. A table among them
// named one by one (--tables, --tables-file) is a *config.UsageError that
// says why: asking for it cannot be met.
// It returns the engines found, "db.table" → engine, for every table.
func ExcludeEngines(ctx context.Context, db Querier, f *config.CaptureFilter, log *slog.Logger) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME, ENGINE FROM information_schema.TABLES"+
		" WHERE ENGINE IN ('MEMORY', 'BLACKHOLE') AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"+
		" ORDER BY TABLE_SCHEMA, TABLE_NAME")
	if err != nil {
		return nil, fmt.Errorf("list MEMORY and BLACKHOLE tables: %w", connectError(err))
	}
	defer rows.Close()
	var excluded, named []string
	all := map[string]string{}
	for rows.Next() {
		var db, name, engine string
		if err := rows.Scan(&db, &name, &engine); err != nil {
			return nil, fmt.Errorf("list MEMORY and BLACKHOLE tables: %w", err)
		}
		full := db + "." + name
		all[full] = engine
		if !f.CapturedByName(db, name) {
			continue
		}
		if f.Named(db, name) {
			named = append(named, fmt.Sprintf("%s is a %s table (%s)", full, engine, config.UncapturedEngine(engine)))
			continue
		}
		f.SetEngine(db, name, engine)
		excluded = append(excluded, full+" ("+engine+")")
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list MEMORY and BLACKHOLE tables: %w", err)
	}
	if len(named) > 0 {
		return nil, &config.UsageError{Err: fmt.Errorf("--tables names tables bintap never captures: %s. "+
			"Remove them from --tables (or --tables-file), or convert them: ALTER TABLE <table> ENGINE=InnoDB",
			strings.Join(named, "; "))}
	}
	if len(excluded) > 0 {
		log.Warn("MEMORY and BLACKHOLE tables are not captured (neither streamed nor snapshotted): what the binary log says of them is not what they hold; ALTER TABLE ... ENGINE=InnoDB to capture one",
			"tables", strings.Join(excluded, ", "))
	}
	return all, nil
}

// syncEngines makes the capture follow the storage engines the schema
// history holds at the start of the stream (rewound to the checkpoint): a
// table that became MEMORY after the checkpoint is still captured up to
// that change. The first stream over a history starts the tracking with the
// engines the server reported at start.
func (s *Stream) syncEngines(start Start) error {
	if !s.hist.EnginesTracked() {
		at := schema.Mark{File: start.File}
		if start.File != "" && start.Pos > 0 {
			at.Pos = start.Pos - 1 // valid at the start position (kept by a Rewind to it)
		}
		seed := map[[2]string]string{}
		for full, e := range s.liveEngines {
			db, name, _ := strings.Cut(full, ".")
			seed[[2]string{db, name}] = e
		}
		s.hist.TrackEngines(at, seed)
		if err := s.hist.Save(); err != nil {
			return &PermanentError{fmt.Errorf("save schema history: %w", err)}
		}
		return nil
	}
	s.filter.ResetEngines(s.hist.Engines())
	return nil
}

// trackEngine follows a CREATE, ALTER or RENAME TABLE that sets or moves a
// table's storage engine, in the schema history and in the capture: a table
// made MEMORY or BLACKHOLE stops being captured, one moved to another engine
// is captured again. A table named one by one in --tables stays captured,
// with a warning: the user asked for it.
func (s *Stream) trackEngine(defaultSchema, ddl string, ansiQuotes bool, at schema.Mark) {
	te := s.hist.StatementEngine(ddl, ansiQuotes)
	qualify := func(n string) (string, string) {
		if db, name, ok := strings.Cut(n, "."); ok {
			return db, name
		}
		return defaultSchema, n
	}
	// A renamed table keeps its engine: its old name's moves.
	moved := map[string]string{}
	for _, r := range te.Renames {
		fdb, fname := qualify(r[0])
		moved[r[1]] = s.hist.Engine(fdb, fname)
		s.hist.SetEngine(fdb, fname, "", at)
		s.filter.SetEngine(fdb, fname, "") // the old name is gone
	}
	for _, r := range te.Renames {
		tdb, tname := qualify(r[1])
		s.setEngine(tdb, tname, moved[r[1]], at)
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
		engine = s.hist.Engine(qualify(te.Like))
	}
	if len(te.Renames) > 0 { // ALTER TABLE ... ENGINE=x, RENAME TO y: y has x
		db, name = qualify(te.Renames[0][1])
	}
	s.setEngine(db, name, engine, at)
}

// setEngine records a captured table's engine in the filter and says when
// that changes its capture.
func (s *Stream) setEngine(db, name, engine string, at schema.Mark) {
	if engine == "HEAP" {
		engine = "MEMORY"
	}
	s.hist.SetEngine(db, name, engine, at)
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
		s.log.Warn("table is captured again: its engine is no longer MEMORY or BLACKHOLE; the rows it held before are in no output: take an incremental snapshot of it (POST /snapshot or the signal table)", "table", full, "engine", engine)
	}
}
