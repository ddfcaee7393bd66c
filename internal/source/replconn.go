package source

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/bintap/bintap/internal/binlog"
	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/pipeline"
)

// replConn is the connection of one replication session. go-mysql's client
// does the handshake (TLS, authentication) and the setup commands, as its
// BinlogSyncer does; once the dump command is sent, bintap reads the event
// stream itself (see read) and parses each event with go-mysql's
// BinlogParser. The syncer's reader copied every event three times (into
// its socket buffer, a pooled buffer, then a new slice for each event,
// which made the garbage collector run every 16 MB of binlog); this one
// reads the socket straight into reused slabs.
type replConn struct {
	c      *client.Conn
	id     uint32 // the server's id of this connection, for KILL at close
	parser *replication.BinlogParser
	opt    replOptions

	nextPos uint32 // where the next event starts, for events without log_pos

	// The event stream's reader: cur.buf[start:end] is read and not yet
	// handed out.
	conn       net.Conn
	pool       *slabPool
	cur        *slab
	start, end int
	inSlab     bool // the last packet lies in cur

	// The events read and parsed, on their way to the stream.
	chunk     *eventChunk // being filled
	out, free chan *eventChunk

	closeOnce sync.Once
}

// replOptions configure a replication connection.
type replOptions struct {
	Source   config.Source
	Endpoint config.Endpoint
	Dial     client.Dialer
	TLS      *tls.Config
	ServerID uint32
	Flavor   string // mysql or mariadb
	// Heartbeat is the period of the server's heartbeats while it has no
	// events to send.
	Heartbeat time.Duration
	// AnnotateRows asks MariaDB for its Annotate_rows events (the statement
	// of each rows event).
	AnnotateRows bool
	// FillZeroLogPos computes the end position of events that MariaDB
	// 11.4+ sends with log_pos 0.
	FillZeroLogPos bool
}

// dialRepl connects and registers as a replica; start the stream with
// dumpPosition or dumpGTID.
func dialRepl(ctx context.Context, opt replOptions, pool *slabPool) (*replConn, error) {
	c, err := opt.connect(ctx)
	if err != nil {
		return nil, err
	}
	// Once the dump command is sent, the stream is read from the socket
	// itself: go-mysql's reader holds nothing, as the server sent nothing
	// after the last answer it read.
	r := &replConn{c: c, id: c.GetConnectionID(), opt: opt, conn: c.Conn.Conn, pool: pool}
	if err := r.register(); err != nil {
		c.Close()
		return nil, err
	}
	r.parser = replication.NewBinlogParser()
	r.parser.SetFlavor(opt.Flavor)
	r.parser.SetVerifyChecksum(true)
	r.parser.SetRowsEventDecodeFunc(binlog.HeaderOnly)
	return r, nil
}

func (o replOptions) connect(ctx context.Context) (*client.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, o.Source.ConnectTimeout())
	defer cancel()
	return client.ConnectWithDialer(cctx, "tcp", o.Endpoint.Addr(), o.Source.User, o.Source.Password, "", o.Dial, func(c *client.Conn) error {
		c.SetTLSConfig(o.TLS)
		c.SetAttributes(map[string]string{"_client_role": "binary_log_listener", "program_name": "bintap"})
		return nil
	})
}

// register tells the server what kind of replica this is (checksums,
// GTIDs, heartbeats) and registers it, as a replica does before it asks
// for the binlog.
func (r *replConn) register() error {
	c := r.c
	if err := c.SetCharset("utf8mb4"); err != nil {
		return err
	}
	res, err := c.Execute("SHOW GLOBAL VARIABLES LIKE 'BINLOG_CHECKSUM'")
	if err != nil {
		return err
	}
	if alg, _ := res.GetString(0, 1); alg != "" {
		// A replica that sets this variable is checksum-aware: the server
		// sends the events with the checksums of its binlog, which the
		// parser verifies.
		if _, err := c.Execute(`SET @master_binlog_checksum='NONE', @source_binlog_checksum='NONE'`); err != nil {
			return err
		}
	}
	if r.opt.Flavor == mysql.MariaDBFlavor {
		// MARIA_SLAVE_CAPABILITY_GTID: send GTID events, not dummies.
		if _, err := c.Execute("SET @mariadb_slave_capability=4"); err != nil {
			return fmt.Errorf("set @mariadb_slave_capability=4: %w", err)
		}
	}
	if p := r.opt.Heartbeat.Nanoseconds(); p > 0 {
		if _, err := c.Execute(fmt.Sprintf("SET @master_heartbeat_period = %d, @source_heartbeat_period = %d", p, p)); err != nil {
			return err
		}
	}
	uuid := newUUID()
	if _, err := c.Execute(fmt.Sprintf("SET @slave_uuid = '%s', @replica_uuid = '%s'", uuid, uuid)); err != nil {
		return err
	}
	// COM_REGISTER_SLAVE: server id, host, user, password, port, rank, source id.
	const host = "bintap"
	user := r.opt.Source.User
	if len(user) > 255 {
		user = user[:255]
	}
	pkt := make([]byte, 4, 4+1+4+1+len(host)+1+len(user)+1+2+4+4)
	pkt = append(pkt, mysql.COM_REGISTER_SLAVE)
	pkt = binary.LittleEndian.AppendUint32(pkt, r.opt.ServerID)
	pkt = append(append(pkt, byte(len(host))), host...)
	pkt = append(append(pkt, byte(len(user))), user...)
	pkt = append(pkt, 0)
	pkt = binary.LittleEndian.AppendUint16(pkt, uint16(r.opt.Endpoint.Port))
	pkt = binary.LittleEndian.AppendUint32(pkt, 0)
	pkt = binary.LittleEndian.AppendUint32(pkt, 0)
	c.ResetSequence()
	if err := c.WritePacket(pkt); err != nil {
		return err
	}
	_, err = c.ReadOKPacket()
	return err
}

// newUUID returns a random (version 4) UUID, the replica's identity for
// the server.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// dumpPosition asks for the binlog from file and pos.
func (r *replConn) dumpPosition(file string, pos uint32) error {
	if pos < 4 {
		pos = 4
	}
	r.nextPos = pos
	return r.dump(file, pos)
}

func (r *replConn) dump(file string, pos uint32) error {
	var flags uint16
	if r.opt.AnnotateRows || (r.opt.FillZeroLogPos && r.opt.Flavor == mysql.MariaDBFlavor) {
		// MariaDB 11.4+ leaves log_pos 0 in events that follow an
		// Annotate_rows event it did not send; with them sent, every
		// event's end position can be computed.
		flags |= replication.BINLOG_SEND_ANNOTATE_ROWS_EVENT
	}
	// COM_BINLOG_DUMP: position, flags, server id, file name.
	pkt := make([]byte, 4, 4+1+4+2+4+len(file))
	pkt = append(pkt, mysql.COM_BINLOG_DUMP)
	pkt = binary.LittleEndian.AppendUint32(pkt, pos)
	pkt = binary.LittleEndian.AppendUint16(pkt, flags)
	pkt = binary.LittleEndian.AppendUint32(pkt, r.opt.ServerID)
	pkt = append(pkt, file...)
	r.c.ResetSequence()
	return r.c.WritePacket(pkt)
}

// dumpGTID asks for the binlog after the transactions of set.
func (r *replConn) dumpGTID(set mysql.GTIDSet) error {
	if r.opt.Flavor == mysql.MariaDBFlavor {
		// The start is the connect state; the file and position of the
		// dump command are ignored. Strict mode makes the server refuse a
		// state that is not in its binlog rather than guess.
		if _, err := r.c.Execute(fmt.Sprintf("SET @slave_connect_state='%s'", set.String())); err != nil {
			return fmt.Errorf("set @slave_connect_state='%s': %w", set, err)
		}
		if _, err := r.c.Execute("SET @slave_gtid_strict_mode=1"); err != nil {
			return fmt.Errorf("set @slave_gtid_strict_mode=1: %w", err)
		}
		return r.dump("", 0)
	}
	// COM_BINLOG_DUMP_GTID: flags, server id, file name (none), position
	// (4), the encoded GTID set.
	data := set.Encode()
	pkt := make([]byte, 4, 4+1+2+4+4+8+4+len(data))
	pkt = append(pkt, mysql.COM_BINLOG_DUMP_GTID)
	pkt = binary.LittleEndian.AppendUint16(pkt, 0)
	pkt = binary.LittleEndian.AppendUint32(pkt, r.opt.ServerID)
	pkt = binary.LittleEndian.AppendUint32(pkt, 0)
	pkt = binary.LittleEndian.AppendUint64(pkt, 4)
	pkt = binary.LittleEndian.AppendUint32(pkt, uint32(len(data)))
	pkt = append(pkt, data...)
	r.c.ResetSequence()
	return r.c.WritePacket(pkt)
}

// An eventChunk is the events read from the socket in one go, handed from
// the reader's goroutine to the stream's. slabs[i] is the slab events[i]
// lies in, held for the stream until it has handled the event, or nil
// when its data is a slice of its own.
type eventChunk struct {
	events []*replication.BinlogEvent
	slabs  []pipeline.Holder
	err    error // the reading ended with this error after the events
}

// read starts the reader's goroutine, which reads and parses events until
// the connection fails or is closed, handing them on in chunks: what one
// read from the socket brought, sent before the next read. It closes the
// returned channel at the end, after a chunk with the error. Events are
// parsed ahead of the stream's goroutine, which spends its time decoding
// rows.
func (r *replConn) read() <-chan *eventChunk {
	out := make(chan *eventChunk, 4)
	r.free = make(chan *eventChunk, 6)
	for range cap(r.free) {
		r.free <- &eventChunk{}
	}
	r.out = out
	r.chunk = <-r.free
	go func() {
		defer close(out)
		err := r.loop()
		r.chunk.err = err
		out <- r.chunk
	}()
	return out
}

// Recycle hands a chunk the stream is done with back to the reader.
func (r *replConn) Recycle(c *eventChunk) {
	clear(c.events)
	c.events, c.slabs, c.err = c.events[:0], c.slabs[:0], nil
	r.free <- c
}

func (r *replConn) loop() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PermanentError{fmt.Errorf("cannot read the replication stream (%v; bintap bug, please report it)", p)}
		}
	}()
	for {
		data, err := r.packet()
		if err != nil {
			return err
		}
		switch data[0] {
		case mysql.OK_HEADER:
			e, err := r.parse(data[1:])
			if err != nil {
				return err
			}
			var in pipeline.Holder // nil: the event's data is a slice of its own
			if r.inSlab {
				r.cur.Hold() // for the stream, until it has handled the event
				in = r.cur
			}
			r.chunk.events = append(r.chunk.events, e)
			r.chunk.slabs = append(r.chunk.slabs, in)
		case mysql.ERR_HEADER:
			return r.c.HandleErrorPacket(data)
		case mysql.EOF_HEADER:
			continue // the end of a non-blocking dump: not asked for
		default:
			return fmt.Errorf("invalid replication packet: starts with 0x%02x", data[0])
		}
	}
}

// handOff sends the events read so far to the stream, before the reader
// waits for the socket.
func (r *replConn) handOff() {
	if r.chunk == nil || len(r.chunk.events) == 0 {
		return
	}
	r.out <- r.chunk
	r.chunk = <-r.free
}

// parse parses one event; a panic in go-mysql's parser is an error that
// retrying cannot fix.
func (r *replConn) parse(data []byte) (e *replication.BinlogEvent, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, err = nil, &PermanentError{fmt.Errorf("cannot parse the binlog event of %d bytes (%v; please report it with the binlog)", len(data), p)}
		}
	}()
	if e, err = r.parser.Parse(data); err != nil {
		return nil, err
	}
	h := e.Header
	switch {
	case h.LogPos > 0:
		r.nextPos = h.LogPos
	case r.opt.FillZeroLogPos && r.opt.Flavor == mysql.MariaDBFlavor && h.Flags&replication.LOG_EVENT_ARTIFICIAL_F == 0:
		h.LogPos = r.nextPos + h.EventSize
		r.nextPos = h.LogPos
	}
	if rot, ok := e.Event.(*replication.RotateEvent); ok {
		r.nextPos = uint32(rot.Position)
	}
	return e, nil
}

// The event stream is read straight from the connection into slabs of
// slabSize bytes, one copy from the socket. A rows event is handed out in
// place, since batches reference its text (pipeline.Batch.CopyRowHolding)
// until they are handed back; a slab is read into again once the reader
// has left it and no batch holds it. Other events (table maps, GTIDs,
// statements) are copied out, as they may be kept.
const (
	slabSize     = 256 << 10
	slabMinRead  = 16 << 10 // a slab with less room left is left for a new one
	slabsToReuse = 64       // free slabs kept for reuse (16 MiB)
)

// slab is a buffer of the event stream. refs counts the batches that hold
// it, the events handed to the stream that lie in it, and the reader while
// it reads into it.
type slab struct {
	buf  []byte
	refs atomic.Int32
	pool *slabPool
}

func (s *slab) Hold() { s.refs.Add(1) }

// Release drops a hold; a slab no one holds is free for reuse.
func (s *slab) Release() {
	if s.refs.Add(-1) == 0 && len(s.buf) == slabSize {
		s.pool.put(s)
	}
}

// slabPool keeps the free slabs of a stream, across its sessions. The
// reader takes them; batches, reset on the stream's goroutine, release
// them.
type slabPool struct {
	mu   sync.Mutex
	free []*slab
}

func (p *slabPool) get(size int) *slab {
	if size <= slabSize {
		p.mu.Lock()
		n := len(p.free)
		var s *slab
		if n > 0 {
			s = p.free[n-1]
			p.free = p.free[:n-1]
		}
		p.mu.Unlock()
		if s != nil {
			s.refs.Store(1)
			return s
		}
		size = slabSize
	}
	s := &slab{buf: make([]byte, size), pool: p}
	s.refs.Store(1)
	return s
}

func (p *slabPool) put(s *slab) {
	p.mu.Lock()
	if len(p.free) < slabsToReuse {
		p.free = append(p.free, s)
	}
	p.mu.Unlock()
}

// packet returns the next packet's payload. In a rows event's packet it
// lies in the current slab (inSlab); otherwise it is a copy of its own.
func (r *replConn) packet() ([]byte, error) {
	if err := r.fill(4); err != nil {
		return nil, err
	}
	h := r.cur.buf[r.start:]
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if n == 0 {
		return nil, errors.New("empty packet in the replication stream")
	}
	if n == mysql.MaxPayloadLen {
		return r.long()
	}
	if err := r.fill(4 + n); err != nil {
		return nil, err
	}
	data := r.cur.buf[r.start+4 : r.start+4+n : r.start+4+n]
	r.start += 4 + n
	// OK byte, then the event header: timestamp (4 bytes), type.
	r.inSlab = len(data) > 5 && data[0] == mysql.OK_HEADER && isRowsEvent(replication.EventType(data[5]))
	if !r.inSlab {
		data = append([]byte(nil), data...)
	}
	return data, nil
}

// long reads a payload of 16 MiB or more, sent in several packets, into a
// slice of its own.
func (r *replConn) long() ([]byte, error) {
	var data []byte
	for {
		if err := r.fill(4); err != nil {
			return nil, err
		}
		h := r.cur.buf[r.start:]
		n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
		last := n < mysql.MaxPayloadLen
		r.start += 4
		for n > 0 {
			if r.start == r.end {
				if err := r.fill(1); err != nil {
					return nil, err
				}
			}
			m := min(n, r.end-r.start)
			data = append(data, r.cur.buf[r.start:r.start+m]...)
			r.start += m
			n -= m
		}
		if last {
			r.inSlab = false
			return data, nil
		}
	}
}

// fill makes the current slab hold at least n unread bytes, reading from
// the connection; a packet that does not fit in what is left of the slab
// moves to a new one.
func (r *replConn) fill(n int) error {
	if r.end-r.start >= n {
		return nil
	}
	if r.cur == nil || len(r.cur.buf)-r.start < n || len(r.cur.buf)-r.end < slabMinRead {
		s := r.pool.get(max(n, slabMinRead))
		if r.cur != nil {
			copy(s.buf, r.cur.buf[r.start:r.end])
			r.cur.Release() // the reader's hold
		}
		r.end -= r.start
		r.start = 0
		r.cur = s
	}
	for r.end-r.start < n {
		r.handOff()
		m, err := r.conn.Read(r.cur.buf[r.end:])
		r.end += m
		if err != nil && r.end-r.start < n {
			return readError(err)
		}
	}
	return nil
}

// isRowsEvent reports whether events of type t carry row images.
func isRowsEvent(t replication.EventType) bool {
	switch t {
	case replication.WRITE_ROWS_EVENTv0, replication.UPDATE_ROWS_EVENTv0, replication.DELETE_ROWS_EVENTv0,
		replication.WRITE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv1,
		replication.WRITE_ROWS_EVENTv2, replication.UPDATE_ROWS_EVENTv2, replication.DELETE_ROWS_EVENTv2,
		replication.PARTIAL_UPDATE_ROWS_EVENT:
		return true
	}
	return false
}

// readError says that reading the stream failed; the connection is gone.
func readError(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read the replication stream: %w", err)
}

// Close closes the connection; a blocked next returns. It may be called
// from another goroutine, more than once.
func (r *replConn) Close() {
	// The socket itself: go-mysql's Close would first send COM_QUIT, to a
	// server that may not be reading.
	r.closeOnce.Do(func() { r.c.Conn.Conn.Close() })
}

// kill ends the server's dump thread of this connection from a new
// connection, so that it does not linger until the server notices the
// closed socket (a replica with the same server id is refused meanwhile).
// Best effort: the server may be gone.
func (r *replConn) kill(ctx context.Context) {
	r.Close()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	opt := r.opt
	c, err := opt.connect(ctx)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = c.Execute("KILL " + strconv.FormatUint(uint64(r.id), 10))
}
