package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	sqldriver "github.com/go-sql-driver/mysql"
)

func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("query the source: %w", syscall.ECONNREFUSED), true},
		{fmt.Errorf("read the server greeting: %w", io.EOF), true},
		{sqldriver.ErrInvalidConn, true},
		{&sqldriver.MySQLError{Number: 1053, Message: "Server shutdown in progress"}, true},
		{&mysql.MyError{Code: 1927, Message: "Connection was killed"}, true},
		{errors.New("write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe"), true},
		{&sqldriver.MySQLError{Number: 1045, Message: "Access denied"}, false},
		{&mysql.MyError{Code: 1146, Message: "Table doesn't exist"}, false},
		{&PermanentError{io.EOF}, false},
		{errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), false},
		{context.Canceled, false},
		{errors.New("the checkpoint was written for a mysql server"), false},
		{nil, false},
	} {
		if got := Transient(c.err); got != c.want {
			t.Errorf("Transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
