package ha

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/testutil"
)

// freezer is a TCP proxy that can stop forwarding (a network partition).
type freezer struct {
	ln     net.Listener
	frozen atomic.Bool
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go f.pipe(c, s)
			go f.pipe(s, c)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for f.frozen.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func sourceOf(t *testing.T, url string) config.Source {
	src, err := config.ParseSource(url)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestElection: two electors of one group on a real MariaDB. One is
// active, the other standby and says who holds the lock. The active one is
// cut off (its packets stop): it deposes itself when its lease runs out,
// before the server frees the lock, and the standby takes over once the
// server ended the silent session.
func TestElection(t *testing.T) {
	s := testutil.NewMariaDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const lease = 3 * time.Second
	fz := newFreezer(t, fmt.Sprintf("127.0.0.1:%d", s.Port))
	a := New(Options{Group: "g", Instance: "a", Lease: lease, Source: sourceOf(t, "mysql://root@"+fz.ln.Addr().String())})
	b := New(Options{Group: "g", Instance: "b", Lease: lease, Source: sourceOf(t, s.URL())})
	defer a.Release()
	defer b.Release()
	if err := a.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if !a.Valid() || a.Status().Role != RoleActive {
		t.Fatalf("a after Acquire: %+v", a.Status())
	}
	bActive := make(chan time.Time, 1)
	go func() {
		if b.Acquire(ctx) == nil {
			bActive <- time.Now()
		}
	}()
	time.Sleep(2 * time.Second)
	if st := b.Status(); st.Role != RoleStandby || !strings.Contains(st.Holder, "connection") {
		t.Fatalf("b while a holds the lock: %+v", st)
	}
	time.Sleep(lease) // renewals keep a active
	if !a.Valid() {
		t.Fatalf("a lost its lease while renewing: %+v", a.Status())
	}

	fz.frozen.Store(true) // a is cut off
	cut := time.Now()
	var deposed time.Time
	select {
	case <-a.Lost():
		deposed = time.Now()
	case <-time.After(2 * lease):
		t.Fatal("a did not notice its lease ran out")
	}
	if a.Valid() {
		t.Error("a still valid after Lost")
	}
	// The server ends a's silent session a lease after its last command;
	// on a loaded machine that, and b's next GET_LOCK, can come late: the
	// order below is what matters, not how soon.
	var took time.Time
	select {
	case took = <-bActive:
	case <-time.After(time.Minute):
		t.Fatal("b did not take over within a minute of a's deposal")
	}
	t.Logf("cut off at 0; a deposed after %s; b active after %s", deposed.Sub(cut).Round(time.Millisecond), took.Sub(cut).Round(time.Millisecond))
	if !deposed.Before(took) {
		t.Errorf("b became active (%s) before a stopped counting itself active (%s)", took.Sub(cut), deposed.Sub(cut))
	}
	if !strings.Contains(a.Status().LastError, "lease ran out") {
		t.Errorf("a does not say why it was deposed: %+v", a.Status())
	}
	fz.frozen.Store(false)
}

func TestLockName(t *testing.T) {
	if n := LockName("orders"); n != "bintap.orders" {
		t.Errorf("%q", n)
	}
	long := LockName(strings.Repeat("x", 100))
	if len(long) > 64 || !strings.HasPrefix(long, "bintap.") || long == LockName(strings.Repeat("y", 100)) {
		t.Errorf("long group: %q", long)
	}
}
