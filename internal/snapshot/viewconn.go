package snapshot

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/format"
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
	// textOnly: the server refused a prepared statement; rows uses the
	// text protocol from then on.
	textOnly bool
	pr       *packetReader // reads the answers of prepared statements
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

// cell is one column of a result row as the server sent it: text (nil for
// NULL), or a number when the binary protocol sent one (num != 0).
type cell struct {
	text []byte
	num  cellNum
	i    int64
	u    uint64
	f    float64
}

type cellNum uint8

const (
	numInt cellNum = iota + 1
	numUint
	numFloat
)

// appendText appends the text the text protocol would have sent for c.
func (c *cell) appendText(dst []byte) []byte {
	switch c.num {
	case numInt:
		return strconv.AppendInt(dst, c.i, 10)
	case numUint:
		return strconv.AppendUint(dst, c.u, 10)
	case numFloat:
		return strconv.AppendFloat(dst, c.f, 'g', -1, 64)
	}
	return append(dst, c.text...)
}

// rows runs a query and calls fn with every row's columns, read straight
// from the packet: no value is copied or boxed on the way. It uses the
// binary protocol (a server-side prepared statement): the server sends
// integers, floating-point numbers and temporal values in binary instead of
// printing them, which costs it about 40% less CPU per row (the text of a
// temporal value is rendered here, exactly as the server prints it). When
// the server refuses to prepare the statement (max_prepared_stmt_count) the
// text protocol is used. The cells are valid only during the call.
func (v *viewConn) rows(ctx context.Context, q string, fn func(cols []cell) error) error {
	return v.guard(ctx, func() error {
		if !v.textOnly {
			id, err := v.prepare(q)
			switch {
			case err == nil:
				if err = v.execute(id, fn); err != nil {
					return err // the connection is given up (a failed snapshot)
				}
				return v.closeStmt(id)
			case errors.Is(err, errNoPrepare):
				v.textOnly = true
			default:
				return err
			}
		}
		return v.rowsText(q, fn)
	})
}

// errNoPrepare is a server that refused to prepare a statement it can run.
var errNoPrepare = errors.New("the server refused to prepare the statement")

// prepare sends COM_STMT_PREPARE and returns the statement id.
func (v *viewConn) prepare(q string) (uint32, error) {
	c := v.c
	pkt := make([]byte, 5, 5+len(q))
	pkt[4] = mysql.COM_STMT_PREPARE
	pkt = append(pkt, q...)
	c.ResetSequence()
	if err := c.WritePacket(pkt); err != nil {
		return 0, err
	}
	data, err := c.ReadPacketReuseMem(v.buf[:0])
	if err != nil {
		return 0, err
	}
	v.buf = data
	if data[0] == mysql.ERR_HEADER {
		err := c.HandleErrorPacket(data)
		var me *mysql.MyError
		if errors.As(err, &me) && me.Code == mysql.ER_MAX_PREPARED_STMT_COUNT_REACHED {
			return 0, fmt.Errorf("%w: %v", errNoPrepare, err)
		}
		return 0, err
	}
	if data[0] != mysql.OK_HEADER || len(data) < 12 {
		return 0, fmt.Errorf("malformed COM_STMT_PREPARE response (%d bytes)", len(data))
	}
	id := binary.LittleEndian.Uint32(data[1:])
	columns := int(binary.LittleEndian.Uint16(data[5:]))
	params := int(binary.LittleEndian.Uint16(data[7:]))
	// The definitions of the parameters (none) and the columns, each
	// list followed by an EOF unless the server deprecated it.
	skip := params + columns
	if !v.deprecateEOF {
		if params > 0 {
			skip++
		}
		if columns > 0 {
			skip++
		}
	}
	for range skip {
		if data, err = c.ReadPacketReuseMem(data[:0]); err != nil {
			return 0, err
		}
	}
	v.buf = data
	return id, nil
}

// closeStmt sends COM_STMT_CLOSE (the server does not answer it).
func (v *viewConn) closeStmt(id uint32) error {
	pkt := []byte{0, 0, 0, 0, mysql.COM_STMT_CLOSE, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(pkt[5:], id)
	v.c.ResetSequence()
	return v.c.WritePacket(pkt)
}

// binField is what reading a binary-protocol column needs of its definition.
type binField struct {
	typ      byte
	unsigned bool
	decimals int
}

// execute runs a prepared statement without parameters and reads its
// binary rows. The whole answer is read with the connection's own packet
// reader (see packetReader); on an error the connection is closed, since
// the rest of the answer may still be on its way.
func (v *viewConn) execute(id uint32, fn func(cols []cell) error) error {
	c := v.c
	// COM_STMT_EXECUTE: id, no cursor, iteration count 1, no parameters.
	pkt := []byte{0, 0, 0, 0, mysql.COM_STMT_EXECUTE, 0, 0, 0, 0, 0, 1, 0, 0, 0}
	binary.LittleEndian.PutUint32(pkt[5:], id)
	c.ResetSequence()
	if err := c.WritePacket(pkt); err != nil {
		return err
	}
	if v.pr == nil {
		v.pr = &packetReader{br: bufio.NewReaderSize(c.Conn.Conn, 256<<10)}
	}
	pr := v.pr
	pr.br.Reset(c.Conn.Conn) // empty: nothing is sent before a command
	err := v.executeRows(pr, fn)
	pr.done()
	if err != nil {
		c.Close()
	}
	return err
}

// columnCount reads the first packet of a query's answer: the number of
// columns of a result set, or the server's error.
func (v *viewConn) columnCount(data []byte) (uint64, error) {
	switch data[0] {
	case mysql.ERR_HEADER:
		return 0, v.c.HandleErrorPacket(data)
	case mysql.OK_HEADER, mysql.LocalInFile_HEADER:
		return 0, errors.New("the query returned no rows")
	}
	count, _, _ := mysql.LengthEncodedInt(data)
	return count, nil
}

func (v *viewConn) executeRows(pr *packetReader, fn func(cols []cell) error) error {
	c := v.c
	data, err := pr.next()
	if err != nil {
		return err
	}
	count, err := v.columnCount(data)
	if err != nil {
		return err
	}
	fields := make([]binField, count)
	for i := range fields {
		if data, err = pr.next(); err != nil {
			return err
		}
		f, err := mysql.FieldData(data).Parse()
		if err != nil {
			return fmt.Errorf("column definition: %w", err)
		}
		fields[i] = binField{typ: f.Type, unsigned: f.Flag&mysql.UNSIGNED_FLAG != 0, decimals: int(f.Decimal)}
	}
	if !v.deprecateEOF {
		if _, err = pr.next(); err != nil {
			return err
		}
	}
	cols := make([]cell, count)
	var text []byte // temporal values as text, per row
	for {
		if data, err = pr.next(); err != nil {
			return err
		}
		switch {
		case data[0] == mysql.ERR_HEADER:
			return c.HandleErrorPacket(data)
		case data[0] == mysql.EOF_HEADER && len(data) < 0xffffff:
			return nil // EOF, or OK with CLIENT_DEPRECATE_EOF
		}
		if text, err = binaryRow(data, fields, cols, text[:0]); err != nil {
			return fmt.Errorf("malformed binary row: %w", err)
		}
		if err := fn(cols); err != nil {
			return err
		}
	}
}

// packetReader reads the packets of one answer straight from the
// connection, bypassing go-mysql's reader (a pooled buffer, two copies and
// a header buffer per packet): a packet that fits in its buffer is handed
// out in place, without a copy. It is used only from a command (whose
// answer go-mysql's reader has not started reading: the server sends
// nothing unasked) to the end of that command's answer, so go-mysql's
// reader finds the connection where it left it.
type packetReader struct {
	br      *bufio.Reader
	pending int    // bytes of the packet handed out last, discarded on the next call
	big     []byte // a packet larger than the buffer, or split in several
}

// next returns the next packet's payload, valid until the next call.
func (p *packetReader) next() ([]byte, error) {
	if err := p.done(); err != nil {
		return nil, err
	}
	n, err := p.header()
	if err != nil {
		return nil, err
	}
	if n < 0xffffff && n <= p.br.Size() {
		data, err := p.br.Peek(n)
		if err != nil {
			return nil, fmt.Errorf("read packet: %w", err)
		}
		if n == 0 {
			return nil, errors.New("empty packet in an answer")
		}
		p.pending = n
		return data, nil
	}
	p.big = p.big[:0]
	for {
		start := len(p.big)
		p.big = append(p.big, make([]byte, n)...)
		if _, err := io.ReadFull(p.br, p.big[start:]); err != nil {
			return nil, fmt.Errorf("read packet: %w", err)
		}
		if n < 0xffffff {
			return p.big, nil
		}
		if n, err = p.header(); err != nil { // the payload goes on in the next packet
			return nil, err
		}
	}
}

func (p *packetReader) header() (int, error) {
	h, err := p.br.Peek(4)
	if err != nil {
		return 0, fmt.Errorf("read packet header: %w", err)
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	_, err = p.br.Discard(4)
	return n, err
}

// done discards the packet handed out last.
func (p *packetReader) done() error {
	if p.pending == 0 {
		return nil
	}
	_, err := p.br.Discard(p.pending)
	p.pending = 0
	return err
}

var errShortRow = errors.New("row shorter than its columns")

// binaryRow reads one binary-protocol row into cols; temporal values are
// rendered as text into text, which it returns (grown).
func binaryRow(data []byte, fields []binField, cols []cell, text []byte) ([]byte, error) {
	pos := 1 + (len(fields)+7+2)>>3
	if len(data) < pos {
		return text, errShortRow
	}
	nulls := data[1:pos]
	// Temporal text is appended to text, which may move while it grows:
	// record offsets first and slice once the row is done.
	type span struct{ col, start, end int }
	var spans [8]span
	spanList := spans[:0]
	for i := range fields {
		f := &fields[i]
		c := &cols[i]
		*c = cell{}
		if nulls[(i+2)>>3]&(1<<(uint(i+2)&7)) != 0 {
			continue
		}
		need := 0
		switch f.typ {
		case mysql.MYSQL_TYPE_TINY:
			need = 1
		case mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_YEAR:
			need = 2
		case mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_FLOAT:
			need = 4
		case mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_DOUBLE:
			need = 8
		default: // a length first
			need = 1
		}
		if len(data) < pos+need {
			return text, errShortRow
		}
		b := data[pos:]
		switch f.typ {
		case mysql.MYSQL_TYPE_TINY:
			if f.unsigned {
				c.num, c.u = numUint, uint64(b[0])
			} else {
				c.num, c.i = numInt, int64(int8(b[0]))
			}
		case mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_YEAR:
			u := binary.LittleEndian.Uint16(b)
			if f.unsigned || f.typ == mysql.MYSQL_TYPE_YEAR {
				c.num, c.u = numUint, uint64(u)
			} else {
				c.num, c.i = numInt, int64(int16(u))
			}
		case mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG:
			u := binary.LittleEndian.Uint32(b)
			if f.unsigned {
				c.num, c.u = numUint, uint64(u)
			} else {
				c.num, c.i = numInt, int64(int32(u))
			}
		case mysql.MYSQL_TYPE_LONGLONG:
			u := binary.LittleEndian.Uint64(b)
			if f.unsigned {
				c.num, c.u = numUint, u
			} else {
				c.num, c.i = numInt, int64(u)
			}
		case mysql.MYSQL_TYPE_FLOAT:
			c.num, c.f = numFloat, float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		case mysql.MYSQL_TYPE_DOUBLE:
			c.num, c.f = numFloat, math.Float64frombits(binary.LittleEndian.Uint64(b))
		case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_NEWDATE, mysql.MYSQL_TYPE_DATETIME,
			mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIME:
			n := int(b[0])
			if len(b) < 1+n {
				return text, errShortRow
			}
			start := len(text)
			var err error
			if f.typ == mysql.MYSQL_TYPE_TIME {
				text, err = appendBinaryTime(text, b[1:1+n], f.decimals)
			} else {
				text, err = appendBinaryDateTime(text, b[1:1+n], f.typ, f.decimals)
			}
			if err != nil {
				return text, err
			}
			spanList = append(spanList, span{i, start, len(text)})
			need = 1 + n
		default: // DECIMAL, strings, BIT, ENUM, SET, JSON, GEOMETRY, blobs
			val, null, n, err := mysql.LengthEncodedString(b)
			if err != nil {
				return text, errShortRow
			}
			if !null {
				c.text = b[n-len(val) : n : n]
			}
			need = n
		}
		pos += need
	}
	for _, s := range spanList {
		cols[s.col].text = text[s.start:s.end:s.end]
	}
	return text, nil
}

// appendFraction appends ".ffffff" cut to decimals digits (none for 0).
func appendFraction(dst []byte, usec uint32, decimals int) []byte {
	var d [7]byte
	n := putFraction(d[:], usec, decimals)
	return append(dst, d[:n]...)
}

// putFraction writes ".ffffff" cut to decimals digits (none for 0) into d
// (7 bytes at least) and returns its length.
func putFraction(d []byte, usec uint32, decimals int) int {
	if decimals <= 0 {
		return 0
	}
	if decimals > 6 { // not a column's precision: what the value holds
		if usec == 0 {
			return 0
		}
		decimals = 6
	}
	d[0] = '.'
	u := usec % 1000000
	format.Put2(d[1:], int(u/10000))
	format.Put2(d[3:], int(u/100%100))
	format.Put2(d[5:], int(u%100))
	return 1 + decimals
}

func append2(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/10%10), byte('0'+n%10))
}

// appendBinaryDateTime appends a binary DATE, DATETIME or TIMESTAMP
// (length 0, 4, 7 or 11 bytes) as the server prints it.
func appendBinaryDateTime(dst []byte, b []byte, typ byte, decimals int) ([]byte, error) {
	var year, month, day, hour, minute, second int
	var usec uint32
	switch len(b) {
	case 0:
	case 11:
		usec = binary.LittleEndian.Uint32(b[7:])
		fallthrough
	case 7:
		hour, minute, second = int(b[4]), int(b[5]), int(b[6])
		fallthrough
	case 4:
		year, month, day = int(binary.LittleEndian.Uint16(b)), int(b[2]), int(b[3])
	default:
		return dst, fmt.Errorf("temporal value of %d bytes", len(b))
	}
	// Written in place, appended once.
	var t [26]byte
	format.Put2(t[0:], year/100)
	format.Put2(t[2:], year)
	t[4] = '-'
	format.Put2(t[5:], month)
	t[7] = '-'
	format.Put2(t[8:], day)
	if typ == mysql.MYSQL_TYPE_DATE || typ == mysql.MYSQL_TYPE_NEWDATE {
		return append(dst, t[:10]...), nil
	}
	t[10] = ' '
	format.Put2(t[11:], hour)
	t[13] = ':'
	format.Put2(t[14:], minute)
	t[16] = ':'
	format.Put2(t[17:], second)
	n := 19 + putFraction(t[19:], usec, decimals)
	return append(dst, t[:n]...), nil
}

// appendBinaryTime appends a binary TIME (length 0, 8 or 12 bytes) as the
// server prints it: [-]HH:MM:SS[.f], hours up to 838.
func appendBinaryTime(dst []byte, b []byte, decimals int) ([]byte, error) {
	var neg bool
	var hours uint64
	var minute, second int
	var usec uint32
	switch len(b) {
	case 0:
	case 12:
		usec = binary.LittleEndian.Uint32(b[8:])
		fallthrough
	case 8:
		neg = b[0] == 1
		hours = uint64(binary.LittleEndian.Uint32(b[1:]))*24 + uint64(b[5])
		minute, second = int(b[6]), int(b[7])
	default:
		return dst, fmt.Errorf("TIME value of %d bytes", len(b))
	}
	if neg {
		dst = append(dst, '-')
	}
	if hours < 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendUint(dst, hours, 10)
	dst = append(dst, ':')
	dst = append2(dst, minute)
	dst = append(dst, ':')
	dst = append2(dst, second)
	return appendFraction(dst, usec, decimals), nil
}

// rowsText is rows on the text protocol (COM_QUERY).
func (v *viewConn) rowsText(q string, fn func(cols []cell) error) error {
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
	count, err := v.columnCount(data)
	if err != nil {
		return err
	}
	skip := int(count) // the column definitions: the columns are the ones selected
	if !v.deprecateEOF {
		skip++ // and the EOF after them
	}
	for range skip {
		if data, err = c.ReadPacketReuseMem(data[:0]); err != nil {
			return err
		}
	}
	cols := make([]cell, count)
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
			switch {
			case null:
				cols[i] = cell{}
			case val == nil:
				cols[i] = cell{text: data[pos:pos]} // empty, not NULL
			default:
				cols[i] = cell{text: val}
			}
		}
		if err := fn(cols); err != nil {
			return err
		}
	}
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
