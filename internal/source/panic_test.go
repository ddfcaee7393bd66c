package source

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
)

// TestHandlePanicNamesTheEvent: a panic while one event is handled (here:
// a stream without its table filter meets a TABLE_MAP) is a permanent
// error naming the event's type and position, not a crash and not a
// retried error with a stack trace.
func TestHandlePanicNamesTheEvent(t *testing.T) {
	s := &Stream{tables: map[uint64]*tableState{}, file: "mysql-bin.000007"}
	ev := &replication.BinlogEvent{
		Header: &replication.EventHeader{EventType: replication.TABLE_MAP_EVENT, LogPos: 1234, EventSize: 60},
		Event:  &replication.TableMapEvent{TableID: 1, Schema: []byte("db"), Table: []byte("t")},
	}
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("the panic escaped handle: %v", r)
			}
		}()
		err = s.handle(ev)
	}()
	var pe *PermanentError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "mysql-bin.000007:1174") || !strings.Contains(err.Error(), "TableMapEvent") {
		t.Fatalf("got %v, want a permanent error naming TableMapEvent at mysql-bin.000007:1174", err)
	}
	if s.failed == nil {
		t.Error("the stream does not remember the failure")
	}
}
