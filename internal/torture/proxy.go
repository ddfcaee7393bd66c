// Package torture is bintap's fault-injection harness: it runs the real
// binary against real servers while killing it at random moments, cutting,
// stalling and slowing its connections, restarting the source and filling
// its disk, and then checks every output against the source. The tests in
// this package are the harness; `go test` runs a short version (part of
// make test) and `make torture` a long one (BINTAP_TORTURE=long).
package torture

import (
	"io"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a TCP proxy in front of a server whose connections can be cut,
// stalled (bytes held, the connection kept: half-open as the client sees
// it) and slowed.
type Proxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	latency atomic.Int64 // per forwarded chunk, ns
	stalled atomic.Bool

	Cuts, Stalls atomic.Int64
	// Quiet holds Chaos back (no new cut, stall or latency) while set.
	Quiet atomic.Bool
}

// NewProxy listens on a free loopback port and forwards to upstream.
func NewProxy(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	go p.accept()
	return p, nil
}

// Addr is the proxy's HOST:PORT.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops the proxy and every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.CutAll()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[u] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

func (p *Proxy) pipe(from, to net.Conn) {
	defer func() {
		from.Close()
		to.Close()
		p.mu.Lock()
		delete(p.conns, from)
		delete(p.conns, to)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		for p.stalled.Load() {
			time.Sleep(20 * time.Millisecond)
		}
		if d := p.latency.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		if n > 0 {
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}

// CutAll resets every open connection.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST, not FIN
		}
		c.Close()
	}
	if len(p.conns) > 0 {
		p.Cuts.Add(1)
	}
}

// Stall holds every byte for d: the connections stay open and silent.
func (p *Proxy) Stall(d time.Duration) {
	p.Stalls.Add(1)
	p.stalled.Store(true)
	time.Sleep(d)
	p.stalled.Store(false)
}

// SetLatency delays every forwarded chunk by d.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// Chaos cuts, stalls and slows the connections at random moments until
// stop closes.
func (p *Proxy) Chaos(rng *rand.Rand, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			p.SetLatency(0)
			return
		case <-time.After(time.Duration(500+rng.Intn(2500)) * time.Millisecond):
		}
		what := rng.Intn(4)
		if p.Quiet.Load() {
			p.SetLatency(0)
			continue
		}
		switch what {
		case 0, 1:
			p.CutAll()
		case 2:
			p.Stall(time.Duration(200+rng.Intn(3000)) * time.Millisecond)
		case 3:
			p.SetLatency(time.Duration(rng.Intn(20)) * time.Millisecond)
		}
	}
}
