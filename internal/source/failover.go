package source

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/bintap/bintap/internal/config"
)

// FindPrimary points the router at the first server of the source that is a
// primary (read_only off). With one server there is nothing to choose: that
// server is used as it is. It returns an error naming each server and why it
// was not taken when none is a primary.
func (r *Router) FindPrimary(ctx context.Context) error {
	if len(r.src.Hosts) < 2 {
		return nil
	}
	var why []string
	for i, ep := range r.src.Hosts {
		readOnly, err := r.readOnly(ctx, ep)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("%s: %v", ep.Addr(), err))
		case readOnly:
			why = append(why, ep.Addr()+": read_only is on (a replica)")
		default:
			if int(r.cur.Load()) != i {
				r.log.Info("source primary chosen", "server", ep.Addr())
			}
			r.setTarget(i)
			return nil
		}
	}
	return &NoPrimaryError{Why: why}
}

// NoPrimaryError says that none of the source's servers is a primary now.
type NoPrimaryError struct{ Why []string }

func (e *NoPrimaryError) Error() string {
	return "no server of --source is a primary (read_only off) now: " + strings.Join(e.Why, "; ")
}

// readOnly asks one server whether it is read-only.
func (r *Router) readOnly(ctx context.Context, ep config.Endpoint) (bool, error) {
	db, err := OpenDBWith(r.src, DBOptions{ReadTimeout: r.src.ConnectTimeout(), At: &ep})
	if err != nil {
		return false, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, r.src.ConnectTimeout())
	defer cancel()
	var ro int
	if err := db.QueryRowContext(ctx, "SELECT @@GLOBAL.read_only").Scan(&ro); err != nil {
		return false, shortError(err)
	}
	return ro != 0, nil
}

// shortError keeps a connection error readable in a list of servers.
func shortError(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i > 0 && strings.Contains(msg, "dial tcp") {
		return errors.New(msg[i+2:])
	}
	return err
}

// failover is called when the replication connection is lost and the source
// lists several servers: it finds the primary, and when it is another
// server than before, checks that it holds every transaction bintap has
// delivered. It reports whether the stream moved to another server (it then
// resumes by GTID: binlog file names are per server).
func (s *Stream) failover(ctx context.Context) (bool, error) {
	before := s.router.Target()
	if err := s.router.FindPrimary(ctx); err != nil {
		return false, err
	}
	now := s.router.Target()
	if now == before {
		return false, nil
	}
	// Connections of the SQL handle that are idle still go to the old server.
	s.db.SetMaxIdleConns(0)
	s.db.SetMaxIdleConns(2)
	if s.gtidText == "" && s.resumePoint().GTID == "" {
		return false, &PermanentError{fmt.Errorf("the source's primary moved from %s to %s, but bintap has no GTID position to continue from "+
			"(a binlog file position means nothing on another server): turn GTIDs on (MySQL: gtid_mode=ON) to follow a failover", before.Addr(), now.Addr())}
	}
	var have string
	q := "SELECT @@GLOBAL.gtid_executed"
	if s.flavor == "mariadb" {
		q = "SELECT @@GLOBAL.gtid_binlog_pos"
	}
	qctx, cancel := context.WithTimeout(ctx, s.opt.Conn.ConnectTimeout())
	defer cancel()
	var v sql.NullString
	if err := s.db.QueryRowContext(qctx, q).Scan(&v); err != nil {
		return false, fmt.Errorf("read the GTID position of the new primary %s: %w", now.Addr(), err)
	}
	have = strings.ReplaceAll(v.String, "\n", "")
	if missing, err := lacks(s.flavor, have, s.gtidText); err != nil {
		return false, err
	} else if missing {
		return false, &PermanentError{fmt.Errorf("the new primary %s lacks transactions bintap has already delivered: bintap is at GTID %s, the server at %s. "+
			"The promotion lost changes (an unclean failover); bintap stops rather than guess. "+
			"Restore those transactions on the new primary, or start over with --reset after re-copying the tables", now.Addr(), s.gtidText, have)}
	}
	s.log.Warn("the source's primary changed; continuing from the same GTID position", "from", before.Addr(), "to", now.Addr(), "gtid", s.gtidText)
	if s.end != nil { // stop-at-end: the end of the new primary's binlog
		f, p, err := s.MasterStatus(qctx)
		if err != nil {
			return false, err
		}
		s.end = &Start{File: f, Pos: p}
	}
	return true, nil
}

// lacks reports whether the GTID state have misses transactions of want.
func lacks(flavor, have, want string) (bool, error) {
	if want == "" {
		return false, nil
	}
	var h, w mysql.GTIDSet
	var err error
	if flavor == "mariadb" {
		if h, err = mysql.ParseMariadbGTIDSet(have); err == nil {
			w, err = mysql.ParseMariadbGTIDSet(want)
		}
	} else {
		if h, err = mysql.ParseMysqlGTIDSet(have); err == nil {
			w, err = mysql.ParseMysqlGTIDSet(want)
		}
	}
	if err != nil {
		return false, fmt.Errorf("compare GTID positions %q and %q: %w", have, want, err)
	}
	return !h.Contain(w), nil
}
