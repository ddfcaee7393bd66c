package snapshot

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/bintap/bintap/internal/config"
)

// viewConn is one connection holding a consistent view. It is go-mysql's
// client rather than database/sql: a result row arrives as typed values
// (integers and floats parsed, text as bytes) without the driver boxing
// every value into an interface, an allocation each, which was about a
// fifth of bintap's CPU in a snapshot.
type viewConn struct {
	c   *client.Conn
	buf []byte // the last packet read, reused
	// The server's capabilities that change the query protocol (go-mysql
	// asks for both, so the server's answer decides).
	deprecateEOF, queryAttributes bool
}

// dialView connects the way every source connection does (the route and
// its SSH tunnel, TLS by ssl-mode, falling back to plain text for
// ssl-mode=preferred when the server offers no TLS) with a 256 KiB read
// buffer: a snapshot streams hundreds of megabytes.
func dialView(ctx context.Context, src config.Source) (*viewConn, error) {
	ep := config.Endpoint{Host: src.Host, Port: src.Port}
	var dial client.Dialer = (&net.Dialer{Timeout: src.ConnectTimeout(), KeepAlive: 15 * time.Second}).DialContext
	if src.Route != nil {
		ep = src.Route.Target()
		dial = src.Route.DialContext
	}
	timeout := src.ConnectTimeout()
	// Connecting (dial, TLS, login) is bounded; reading rows is not (the
	// connection waits while the outputs apply back-pressure).
	bounded := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err == nil {
			err = conn.SetDeadline(time.Now().Add(timeout))
		}
		return conn, err
	}
	connect := func(tc *tls.Config) (*client.Conn, error) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return client.ConnectWithDialer(cctx, "tcp", ep.Addr(), src.User, src.Password, "", bounded, func(c *client.Conn) error {
			c.BufferSize = 256 << 10
			if tc != nil {
				c.SetTLSConfig(tc)
			}
			return nil
		})
	}
	tlsConfig, preferred := src.TLSFor(ep.Host)
	c, err := connect(tlsConfig)
	if err != nil && preferred && strings.Contains(err.Error(), "not support TLS") {
		c, err = connect(nil)
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: connect to %s: %w", ep.Addr(), err)
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, fmt.Errorf("snapshot: connect to %s: %w", ep.Addr(), err)
	}
	v := &viewConn{c: c}
	for _, name := range strings.Split(c.CapabilityString(), "|") {
		switch name {
		case mysql.CapNames[mysql.CLIENT_DEPRECATE_EOF]:
			v.deprecateEOF = true
		case mysql.CapNames[mysql.CLIENT_QUERY_ATTRIBUTES]:
			v.queryAttributes = true
		}
	}
	return v, nil
}

// Close closes the connection (ending its view).
func (v *viewConn) Close() error { return v.c.Close() }

// guard closes the connection when ctx is cancelled during a statement, so
// that a blocked read returns; it reports ctx's error instead of the
// closed connection's.
func (v *viewConn) guard(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { v.c.Close() })
	err := fn()
	if !stop() && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// exec runs a statement.
func (v *viewConn) exec(ctx context.Context, q string) error {
	return v.guard(ctx, func() error {
		_, err := v.c.Execute(q)
		return err
	})
}

// query runs a statement and returns its (small) result as text; a NULL is
// nil.
func (v *viewConn) query(ctx context.Context, q string) ([][][]byte, error) {
	var out [][][]byte
	err := v.guard(ctx, func() error {
		r, err := v.c.Execute(q)
		if err != nil {
			return err
		}
		defer r.Close()
		if r.Resultset == nil {
			return errors.New("no result set")
		}
		for _, row := range r.Values {
			vals := make([][]byte, len(row))
			for i := range row {
				if row[i].Type != mysql.FieldValueTypeNull {
					vals[i] = fieldText([]byte{}, &row[i])
				}
			}
			out = append(out, vals)
		}
		return nil
	})
	return out, err
}

// rows runs a query and calls fn with the text of every row's columns as
// the server sent them (nil for NULL), read straight from the packet: no
// value is copied or boxed on the way. The values are valid only during the
// call.
func (v *viewConn) rows(ctx context.Context, q string, fn func(cols [][]byte) error) error {
	return v.guard(ctx, func() error {
		c := v.c
		// COM_QUERY; with query attributes (MySQL 8.0.23+) an empty set.
		var prefix []byte
		if v.queryAttributes {
			prefix = []byte{0, 1}
		}
		pkt := make([]byte, 5, 5+len(prefix)+len(q))
		pkt[4] = mysql.COM_QUERY
		pkt = append(append(pkt, prefix...), q...)
		c.ResetSequence()
		if err := c.WritePacket(pkt); err != nil {
			return err
		}
		data, err := c.ReadPacketReuseMem(v.buf[:0])
		if err != nil {
			return err
		}
		switch data[0] {
		case mysql.ERR_HEADER:
			return c.HandleErrorPacket(data)
		case mysql.OK_HEADER, mysql.LocalInFile_HEADER:
			return errors.New("the query returned no rows")
		}
		count, _, _ := mysql.LengthEncodedInt(data)
		skip := int(count) // the column definitions: the columns are the ones selected
		if !v.deprecateEOF {
			skip++ // and the EOF after them
		}
		for range skip {
			if data, err = c.ReadPacketReuseMem(data[:0]); err != nil {
				return err
			}
		}
		cols := make([][]byte, count)
		for {
			if data, err = c.ReadPacketReuseMem(data[:0]); err != nil {
				return err
			}
			v.buf = data
			switch {
			case data[0] == mysql.ERR_HEADER:
				return c.HandleErrorPacket(data)
			case data[0] == mysql.EOF_HEADER && len(data) < 0xffffff:
				return nil // EOF, or OK with CLIENT_DEPRECATE_EOF
			}
			pos := 0
			for i := range cols {
				val, null, n, err := mysql.LengthEncodedString(data[pos:])
				if err != nil {
					return fmt.Errorf("malformed row: %w", err)
				}
				pos += n
				if null {
					cols[i] = nil
				} else if val == nil {
					cols[i] = data[pos:pos] // empty, not NULL
				} else {
					cols[i] = val
				}
			}
			if err := fn(cols); err != nil {
				return err
			}
		}
	})
}

// fieldText appends the text of a value (nothing for NULL).
func fieldText(dst []byte, f *mysql.FieldValue) []byte {
	switch f.Type {
	case mysql.FieldValueTypeNull:
		return dst
	case mysql.FieldValueTypeSigned:
		return strconv.AppendInt(dst, f.AsInt64(), 10)
	case mysql.FieldValueTypeUnsigned:
		return strconv.AppendUint(dst, f.AsUint64(), 10)
	case mysql.FieldValueTypeFloat:
		return strconv.AppendFloat(dst, f.AsFloat64(), 'g', -1, 64)
	}
	return append(dst, f.AsString()...)
}
