package source

// Heartbeat layer 2: on an idle server the binlog does not move, so neither
// do the positions bintap reports. With a heartbeat table bintap updates one
// row every interval on a read-write connection, which writes a transaction
// to the binlog; a read-only replica gets the same from a scheduled event on
// its primary (HeartbeatSetup prints both).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// HeartbeatSetup is the SQL that creates the heartbeat table: run it on a
// read-write source, and for a read-only replica also create the event on
// its primary (with event_scheduler=ON there).
func HeartbeatSetup(table, user string) string {
	db, name, _ := strings.Cut(table, ".")
	q := quoteIdent(db) + "." + quoteIdent(name)
	return fmt.Sprintf(`CREATE DATABASE IF NOT EXISTS %s;
CREATE TABLE IF NOT EXISTS %s (id INT PRIMARY KEY, text TEXT, last_update TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6));
GRANT SELECT, INSERT, UPDATE ON %s TO %s;
-- read-only replica: instead of the grant, on the primary:
SET GLOBAL event_scheduler = ON;
CREATE EVENT IF NOT EXISTS %s ON SCHEDULE EVERY 10 SECOND DO INSERT INTO %s (id, text) VALUES (1, 'bintap heartbeat') ON DUPLICATE KEY UPDATE last_update = CURRENT_TIMESTAMP(6);`,
		quoteIdent(db), q, q, user, quoteIdent(db)+"."+quoteIdent(name+"_heartbeat"), q)
}

// CheckHeartbeatTable verifies that the heartbeat table exists on the source.
func (s *Stream) CheckHeartbeatTable(ctx context.Context, table string) error {
	return CheckHeartbeatTable(ctx, s.db, table, "'"+s.opt.Conn.User+"'@'%'")
}

// CheckHeartbeatTable verifies that table ("db.t") exists with the columns
// the heartbeat writes; the error says how to create it.
func CheckHeartbeatTable(ctx context.Context, db *sql.DB, table, user string) error {
	schema, name, _ := strings.Cut(table, ".")
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME IN ('id', 'last_update')`, schema, name).Scan(&n)
	if err != nil {
		return fmt.Errorf("heartbeat-table %s: %w", table, err)
	}
	if n != 2 {
		return fmt.Errorf("heartbeat-table %s: the table does not exist or lacks the columns id and last_update; create it with:\n%s", table, HeartbeatSetup(table, user))
	}
	return nil
}

// WriteHeartbeats updates the heartbeat table every interval until ctx ends.
// It never stops the stream: a failed write is logged, and a server that
// refuses writes (read-only replica) is logged once with what to do instead.
func (s *Stream) WriteHeartbeats(ctx context.Context, table string, interval time.Duration) {
	schema, name, _ := strings.Cut(table, ".")
	stmt := fmt.Sprintf("INSERT INTO %s.%s (id, last_update) VALUES (1, CURRENT_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE last_update = CURRENT_TIMESTAMP(6)",
		quoteIdent(schema), quoteIdent(name))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_, err := s.db.ExecContext(ctx, stmt)
		switch {
		case err == nil:
			if failing {
				s.log.Info("heartbeat table writes work again", "table", table)
			}
			failing = false
		case ctx.Err() != nil:
			return
		case isReadOnly(err):
			s.log.Warn("the source refuses writes, so bintap cannot update the heartbeat table; on a read-only replica create a scheduled event on the primary instead (bintap check prints the SQL) and drop --heartbeat-table",
				"table", table, "err", err)
			return
		case !failing:
			failing = true
			s.log.Warn("heartbeat table write failed; retrying every interval", "table", table, "err", err)
		}
	}
}

// isReadOnly reports whether the server refused a write because it is read
// only (1290 --read-only, 1836 read-only replica) or the user may not write
// (1142 command denied).
func isReadOnly(err error) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	return me.Number == 1290 || me.Number == 1836 || me.Number == 1142
}
