package source

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/bintap/bintap/internal/config"
)

// Router is the way to the source: which of its servers connections go to
// (the primary, when --source lists several) and the SSH tunnel when there is
// one. Every connection bintap makes to the source is dialled through it:
// queries, replication, snapshots and heartbeats.
type Router struct {
	src    config.Source
	tunnel *Tunnel
	cur    atomic.Int32 // index in src.Hosts of the target
	log    *slog.Logger
}

// NewRouter prepares the way to src; it dials nothing yet.
func NewRouter(src config.Source, log *slog.Logger) (*Router, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(src.Hosts) == 0 {
		src.Hosts = []config.Endpoint{{Host: src.Host, Port: src.Port}}
	}
	r := &Router{src: src, log: log}
	if src.SSH != nil {
		t, err := NewTunnel(*src.SSH, src.ConnectTimeout(), log)
		if err != nil {
			return nil, err
		}
		r.tunnel = t
	}
	r.src.Route = r
	return r, nil
}

// Source is the source settings with this router as their Route: hand it to
// everything that connects to the source.
func (r *Router) Source() config.Source { return r.src }

// Target is the server connections go to now.
func (r *Router) Target() config.Endpoint { return r.src.Hosts[r.cur.Load()] }

// Hosts are the servers of the source, in order.
func (r *Router) Hosts() []config.Endpoint { return r.src.Hosts }

// setTarget makes connections go to the i-th server.
func (r *Router) setTarget(i int) { r.cur.Store(int32(i)) }

// DialContext connects to addr directly or through the SSH tunnel.
func (r *Router) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if r.tunnel != nil {
		return r.tunnel.DialContext(ctx, network, addr)
	}
	d := net.Dialer{Timeout: r.src.ConnectTimeout(), KeepAlive: 15 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

// Close closes the tunnel, if any.
func (r *Router) Close() error {
	if r.tunnel != nil {
		return r.tunnel.Close()
	}
	return nil
}

// target is where a connection of src goes now.
func target(src config.Source) config.Endpoint {
	if src.Route != nil {
		return src.Route.Target()
	}
	return config.Endpoint{Host: src.Host, Port: src.Port}
}

// dial connects to addr the way src says.
func dial(ctx context.Context, src config.Source, addr string) (net.Conn, error) {
	if src.Route != nil {
		return src.Route.DialContext(ctx, "tcp", addr)
	}
	d := net.Dialer{Timeout: src.ConnectTimeout(), KeepAlive: 15 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

// DBOptions tune a database/sql handle on the source.
type DBOptions struct {
	// ReadTimeout bounds each read of a query's answer; 0 is none (snapshot
	// connections wait while the outputs apply back-pressure).
	ReadTimeout time.Duration
	// ReadBuffer, when positive, reads the connection through a buffer of
	// that size: the driver reads 4 KiB at a time, and a snapshot streams
	// hundreds of megabytes.
	ReadBuffer int
	// At, when set, is the server to connect to instead of the route's
	// target.
	At *config.Endpoint
}

// OpenDB opens a database/sql handle on the source for metadata queries.
func OpenDB(src config.Source) (*sql.DB, error) {
	db, err := OpenDBWith(src, DBOptions{ReadTimeout: max(60*time.Second, src.ConnectTimeout())})
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	return db, nil
}

// OpenDBWith opens a database/sql handle on the source. Each new connection
// goes to the server that is the target at that moment, through the tunnel if
// there is one, with the source's TLS setting (checked against that server's
// name). Values arrive as text (no prepared statements, no parsed times):
// the arguments of a query are interpolated by the driver, so a server
// that allows no prepared statements (max_prepared_stmt_count=0) is served
// too, in one round trip.
func OpenDBWith(src config.Source, o DBOptions) (*sql.DB, error) {
	c := driver.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr = src.User, src.Password, "tcp", src.Addr()
	c.InterpolateParams = true
	c.Timeout, c.ReadTimeout = src.ConnectTimeout(), o.ReadTimeout
	c.DialFunc = func(ctx context.Context, _, addr string) (net.Conn, error) {
		conn, err := dial(ctx, src, addr)
		if err != nil || o.ReadBuffer <= 0 {
			return conn, err
		}
		return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, o.ReadBuffer)}, nil
	}
	err := c.Apply(driver.Charset("utf8mb4", ""), driver.BeforeConnect(func(_ context.Context, cfg *driver.Config) error {
		ep := target(src)
		if o.At != nil {
			ep = *o.At
		}
		cfg.Addr = ep.Addr()
		cfg.TLS, cfg.AllowFallbackToPlaintext = src.TLSFor(ep.Host)
		return nil
	}))
	if err != nil {
		return nil, err
	}
	conn, err := driver.NewConnector(c)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// offersTLS reads a server's greeting and reports whether it offers TLS
// (the CLIENT_SSL capability): ssl-mode=preferred decides with it whether
// the replication connection asks for TLS.
func offersTLS(ctx context.Context, src config.Source, ep config.Endpoint) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, src.ConnectTimeout())
	defer cancel()
	conn, err := dial(ctx, src, ep.Addr())
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	var head [4]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return false, fmt.Errorf("read the server greeting: %w", err)
	}
	n := int(head[0]) | int(head[1])<<8 | int(head[2])<<16
	if n < 1 || n > 1<<16 {
		return false, fmt.Errorf("the server greeting has a length of %d: is %s a MySQL or MariaDB server?", n, ep.Addr())
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(conn, p); err != nil {
		return false, fmt.Errorf("read the server greeting: %w", err)
	}
	if p[0] == 0xff { // an error packet: the server refuses this client
		msg := p[1:]
		if len(msg) > 2 {
			msg = msg[2:]
		}
		return false, fmt.Errorf("the server refused the connection: %s", msg)
	}
	// protocol version, server version (NUL-terminated), connection id (4),
	// auth data (8), filler (1), capability flags (2).
	i := 1
	for i < len(p) && p[i] != 0 {
		i++
	}
	i += 1 + 4 + 8 + 1
	if i+2 > len(p) {
		return false, errors.New("the server greeting is too short")
	}
	const clientSSL = 0x0800
	return binary.LittleEndian.Uint16(p[i:])&clientSSL != 0, nil
}

// connTLS says whether a connection of db uses TLS, and which version:
// logged at start so that ssl-mode=preferred says what it chose.
func connTLS(ctx context.Context, db *sql.DB) (string, error) {
	row, err := FirstRow(ctx, db, "SHOW SESSION STATUS LIKE 'Ssl_version'")
	if err != nil || len(row) < 2 {
		return "", err
	}
	return row[1], nil
}

// logTLS logs how the connection to the source is protected.
func logTLS(ctx context.Context, db *sql.DB, src config.Source, log *slog.Logger) {
	version, err := connTLS(ctx, db)
	switch {
	case err != nil:
		log.Debug("cannot tell whether the source connection uses TLS", "err", err)
	case version != "":
		log.Info("source connection uses TLS", "server", target(src).Addr(), "tls", version, "ssl_mode", src.SSLMode)
	case src.SSLMode == config.SSLPreferred:
		log.Warn("the source offers no TLS: connecting in plain text (ssl-mode=preferred; set ssl-mode=required to refuse)", "server", target(src).Addr())
	default:
		log.Info("source connection is not encrypted", "server", target(src).Addr(), "ssl_mode", src.SSLMode)
	}
}
