package source

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-mysql-org/go-mysql/mysql"
	sqldriver "github.com/go-sql-driver/mysql"
)

// Transient reports whether err is a connection fault that a later attempt
// may not meet: the server restarting or shutting down, a connection reset,
// refused, cut or timed out. Refused logins, missing privileges, TLS
// failures, a tunnel that cannot be set up, SQL errors and a stopped
// context are not.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if _, ok := errors.AsType[*PermanentError](err); ok {
		return false
	}
	if _, ok := errors.AsType[*TunnelError](err); ok {
		return false
	}
	if e, ok := errors.AsType[*mysql.MyError](err); ok {
		return transientCode(e.Code)
	}
	if e, ok := errors.AsType[*sqldriver.MySQLError](err); ok {
		return transientCode(e.Number)
	}
	msg := err.Error()
	if strings.Contains(msg, "x509:") || strings.Contains(msg, "tls: ") || strings.Contains(msg, "does not support TLS") {
		return false
	}
	for _, e := range []error{driver.ErrBadConn, sqldriver.ErrInvalidConn, io.EOF, io.ErrUnexpectedEOF,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.ETIMEDOUT,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH, net.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	// Errors that reach here as text only (go-mysql wraps some with %v).
	for _, s := range []string{"connection refused", "connection reset", "broken pipe", "i/o timeout",
		"invalid connection", "bad connection", "server has gone away", "Lost connection", "use of closed network connection", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// transientCode: the server answers that mean "not now" rather than "no".
func transientCode(code uint16) bool {
	switch code {
	case 1040, // ER_CON_COUNT_ERROR: too many connections
		1053, // ER_SERVER_SHUTDOWN
		1205, // ER_LOCK_WAIT_TIMEOUT
		1213, // ER_LOCK_DEADLOCK
		1317, // ER_QUERY_INTERRUPTED
		1927, // ER_CONNECTION_KILLED (MariaDB)
		2006, // CR_SERVER_GONE_ERROR
		2013, // CR_SERVER_LOST
		3169: // ER_SESSION_WAS_KILLED (MySQL)
		return true
	}
	return false
}
