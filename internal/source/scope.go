package source

import (
	"context"
	"fmt"
	"strings"

	"github.com/bintap/bintap/internal/schema"
)

// ExplainScope says at start what the schema history keeps
// (--schema-history) and, when earlier (the scope it was kept under before
// this start) left out tables captured now, names them and says what they
// need: they have no history, so their rows are decoded only with a
// definition proven against the binlog, or the stream stops at the first.
func (s *Stream) ExplainScope(ctx context.Context, earlier *schema.Scope) error {
	sc := s.hist.Scope()
	if sc != nil && sc.Mode != schema.ScopeAll {
		s.log.Info("the schema history keeps only the DDL of the captured "+strings.TrimPrefix(sc.Mode, "captured-"), "scope", sc.String())
	}
	if earlier == nil {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES"+
		" WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'SEQUENCE')"+
		" AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"+
		" ORDER BY TABLE_SCHEMA, TABLE_NAME")
	if err != nil {
		return fmt.Errorf("list tables: %w", connectError(err))
	}
	defer rows.Close()
	var missing []string
	for rows.Next() {
		var db, name string
		if err := rows.Scan(&db, &name); err != nil {
			return fmt.Errorf("list tables: %w", err)
		}
		if s.filter.Captured(db, name) && s.hist.OutsideEarlierScope(db, name) != "" {
			missing = append(missing, db+"."+name)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	if len(missing) == 0 {
		return nil
	}
	s.log.Warn("newly captured tables have no schema history: until now the history kept only "+earlier.String()+
		". Their rows are decoded only with a definition proven against the binlog — binlog_row_metadata=FULL on the source, "+
		"a snapshot of them (bintap snapshot, or the signal table), or their live definition when it matches the binlog's table map; "+
		"otherwise the stream stops at their first row rather than guess",
		"tables", strings.Join(missing, ", "))
	return nil
}
