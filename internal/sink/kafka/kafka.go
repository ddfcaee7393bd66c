// Package kafka is the Kafka destination: it produces keyed messages with
// franz-go, one topic or a topic per table, in at-least-once (idempotent
// producer, acks=all) or exactly-once (transactions) delivery, and stores
// the stream position in Kafka itself so that a restart resumes from what
// Kafka holds. It also sends heartbeats carrying the position.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/bintap/bintap/internal/backoff"
	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/sink"
)

// Key modes.
const (
	KeyPK    = "pk"
	KeyTable = "table"
	KeyGTID  = "gtid"
)

// Options configure a Destination.
type Options struct {
	Brokers []string
	// Topic is the topic of data and schema messages; it may hold
	// {prefix}, {database} and {table}.
	Topic  string
	Prefix string
	Key    string // KeyPK (default), KeyTable or KeyGTID
	// ExactlyOnce selects transactions; otherwise at-least-once.
	ExactlyOnce bool
	// PositionTopic holds the stream position ("" derives it from Topic).
	PositionTopic string
	// ReadPosition makes Position read the stored position back.
	ReadPosition      bool
	Partitions        int32 // of the topics created; 0 means 1
	ReplicationFactor int16 // of the topics created; 0 or -1 means the broker's default
	// FlushTimeout bounds the delivery of what is buffered once Shutdown is
	// done (and in Close).
	FlushTimeout     time.Duration
	MaxBufferedBytes int64
	// Compression is the codec of record batches: CompressionNone (the
	// default), snappy, lz4, zstd or gzip.
	Compression string
	TLS         *tls.Config
	SASL        sasl.Mechanism
	// HeartbeatInterval > 0 sends a heartbeat to HeartbeatTopic that often.
	HeartbeatInterval time.Duration
	HeartbeatTopic    string
	// Server names the source in heartbeats (their key).
	Server  string
	Binary  format.BinaryEncoding
	Encoder format.MessageEncoder
	Log     *slog.Logger
	// Shutdown is the stream's context: once it is done, waits for the
	// brokers are bounded by FlushTimeout instead of lasting while they are
	// unreachable.
	Shutdown context.Context
	// Lease, in an HA group, is checked before every send (nil: a single
	// instance).
	Lease sink.Lease
}

// Mechanism returns the SASL mechanism of that name, nil for "".
func Mechanism(name, user, password string) sasl.Mechanism {
	switch name {
	case "PLAIN":
		return plain.Auth{User: user, Pass: password}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
	}
	return nil
}

// Compression codecs (--kafka-compression).
const (
	CompressionNone   = "none"
	CompressionSnappy = "snappy"
	CompressionLZ4    = "lz4"
	CompressionZstd   = "zstd"
	CompressionGzip   = "gzip"
)

// codec is the kgo codec of a --kafka-compression value.
func codec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "", CompressionNone:
		return kgo.NoCompression(), nil
	case CompressionSnappy:
		return kgo.SnappyCompression(), nil
	case CompressionLZ4:
		return kgo.Lz4Compression(), nil
	case CompressionZstd:
		return kgo.ZstdCompression(), nil
	case CompressionGzip:
		return kgo.GzipCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("kafka: compression %q: accepted values are none, snappy, lz4, zstd and gzip", name)
}

// Destination produces events to Kafka. Write, Flush, Position and Close
// are called from one goroutine (the pipeline's). Write encodes the events
// into a batch of records (an arena) and queues it; a goroutine of the
// destination hands the records to the producer, whose own goroutines
// compress and send them. So the pipeline's goroutine does the encoding
// (values, keys, headers), as for a byte stream, and none of the
// producer's work.
type Destination struct {
	o   Options
	log *slog.Logger
	cl  *kgo.Client // data and position records (transactional in exactly-once)
	hb  *kgo.Client // heartbeats; nil when they are off
	// Admin requests (topics, metadata, offsets) of cl and of hb.
	adm, hbAdm *kadm.Client

	// ctx ends when a permanent error happened or FlushTimeout passed after
	// Shutdown; context.Cause says which.
	ctx    context.Context
	cancel context.CancelCauseFunc
	closed chan struct{}
	hbDone chan struct{}

	topics map[*change.Table]string // rendered topic of each table version
	// topicOf's cache of topics: the table of the previous message.
	lastTable      *change.Table
	lastTableTopic string
	known          map[string]bool  // topics that exist
	parts          map[string]int32 // partitions of each topic written to
	lastTopic      string           // partitionOf's cache of parts
	lastParts      int32
	// addHeaders' cache of the position header's "FILE:POS:" part.
	hdrFile   string
	hdrPos    uint32
	hdrPrefix []byte
	held      map[string][]msgPos // per topic and partition: the newest message Kafka held at start (at-least-once)
	heldUntil msgPos              // the newest of held: once past it, nothing more is checked
	dropped   uint64              // messages not sent again because their partition held them
	// jobs carries filled arenas (and barriers) to the producing goroutine,
	// in order; free holds arenas whose records were all delivered.
	jobs       chan *arena
	workerDone chan struct{}
	poolMu     sync.Mutex
	pool       []*arena // delivered arenas, for reuse
	pooled     int64    // their size
	// The last arena's bytes, records and headers: the size of a new one.
	bufHint, recHint, hdrHint int
	posTopic                  string
	posKey                    []byte
	msgs                      []format.Message
	// fork encodes the second half of large batches (writeParallel) into
	// forkMsgs; forkEnds marks where each event's messages end.
	fork        format.MessageEncoder
	forkMsgs    []format.Message
	forkEnds    []int
	messages    atomic.Uint64 // produced, for Counts (read by the status)
	bytes       atomic.Uint64
	pending     position.Checkpoint // latest checkpoint written
	dirty       bool                // pending is newer than the stored position
	inTxn       bool
	queued      bool // arenas were queued since the last drain
	txnStart    time.Time
	onceClose   sync.Once
	mu          sync.Mutex
	durable     position.Checkpoint      // last stored position (heartbeats read it)
	onDelivery  func(*kgo.Record, error) // d.promise, bound once: a method value allocates
	down        map[string]time.Time
	lastDownLog time.Time
	epoch       uint64 // the HA epoch this destination writes with (Fence)
}

// transactionTimeout is what the broker allows a transaction to stay open;
// Write commits earlier (maxTxnAge) so that a long checkpoint interval does
// not hit it.
const (
	transactionTimeout = 2 * time.Minute
	maxTxnAge          = 30 * time.Second
)

// New connects a producer. It does not wait for the brokers: they may be
// down at start; Position and Write wait for them.
func New(o Options) (*Destination, error) {
	if len(o.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	if o.Encoder == nil {
		return nil, errors.New("kafka: no encoder")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Prefix == "" {
		o.Prefix = "bintap"
	}
	if o.Key == "" {
		o.Key = KeyPK
	}
	if o.Partitions <= 0 {
		o.Partitions = 1
	}
	if o.ReplicationFactor == 0 {
		o.ReplicationFactor = -1
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = 30 * time.Second
	}
	if o.MaxBufferedBytes <= 0 {
		o.MaxBufferedBytes = 8 << 20
	}
	if o.Shutdown == nil {
		o.Shutdown = context.Background()
	}
	if o.HeartbeatTopic == "" {
		o.HeartbeatTopic = "{prefix}.heartbeat"
	}
	d := &Destination{
		o:          o,
		log:        o.Log.With("output", "kafka"),
		closed:     make(chan struct{}),
		jobs:       make(chan *arena, queuedArenas),
		workerDone: make(chan struct{}),
		topics:     map[*change.Table]string{},
		known:      map[string]bool{},
		parts:      map[string]int32{},
		down:       map[string]time.Time{},
	}
	d.ctx, d.cancel = context.WithCancelCause(context.Background())
	d.onDelivery = d.promise
	d.posTopic = o.PositionTopic
	if d.posTopic == "" {
		if strings.Contains(o.Topic, "{database}") || strings.Contains(o.Topic, "{table}") {
			d.posTopic = "{prefix}.bintap-position"
		} else {
			d.posTopic = o.Topic + ".bintap-position"
		}
	}
	d.posTopic = strings.ReplaceAll(d.posTopic, "{prefix}", o.Prefix)
	d.posKey = []byte(strings.ReplaceAll(o.Topic, "{prefix}", o.Prefix))

	comp, err := codec(o.Compression)
	if err != nil {
		return nil, err
	}
	opts := d.clientOpts()
	opts = append(opts,
		kgo.ProducerBatchCompression(comp),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedBytes(int(o.MaxBufferedBytes)),
		kgo.MaxBufferedRecords(1<<20),
		kgo.ProducerLinger(5*time.Millisecond),
		// bintap picks each record's partition itself (partitionOf), the way
		// Kafka's default partitioner does for keys: recovery must know where
		// a message went.
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if o.ExactlyOnce {
		opts = append(opts, kgo.TransactionalID("bintap-"+d.posTopic), kgo.TransactionTimeout(transactionTimeout))
	}
	if d.cl, err = kgo.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	d.adm = newAdmin(d.cl)
	if o.HeartbeatInterval > 0 {
		hbOpts := append(d.clientOpts(), kgo.MaxBufferedRecords(64))
		if d.hb, err = kgo.NewClient(hbOpts...); err != nil {
			d.cl.Close()
			return nil, fmt.Errorf("kafka heartbeat client: %w", err)
		}
		d.hbAdm = newAdmin(d.hb)
		d.hbDone = make(chan struct{})
		go d.heartbeats()
	}
	go d.watchShutdown()
	go d.producing()
	if o.Lease != nil {
		go d.watchLease()
	}
	return d, nil
}

func (d *Destination) clientOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(d.o.Brokers...),
		kgo.WithHooks(hooks{d}),
		kgo.ClientID("bintap"),
	}
	switch {
	case d.o.Lease != nil:
		opts = append(opts, kgo.Dialer(gatedDialer(d.o.Lease, d.o.TLS)))
	case d.o.TLS != nil:
		opts = append(opts, kgo.DialTLSConfig(d.o.TLS.Clone()))
	}
	if d.o.SASL != nil {
		opts = append(opts, kgo.SASL(d.o.SASL))
	}
	return opts
}

// newAdmin returns the admin client of cl. Topics are created with a
// 30-second broker timeout.
func newAdmin(cl *kgo.Client) *kadm.Client {
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(30000)
	return adm
}

// watchShutdown bounds every wait by FlushTimeout once the stream stops.
func (d *Destination) watchShutdown() {
	select {
	case <-d.o.Shutdown.Done():
	case <-d.closed:
		return
	}
	t := time.NewTimer(d.o.FlushTimeout)
	defer t.Stop()
	select {
	case <-t.C:
		d.cancel(fmt.Errorf("kafka: gave up waiting for the brokers %s (kafka_flush_timeout) after the shutdown began; what they did not acknowledge is not checkpointed", d.o.FlushTimeout))
	case <-d.closed:
	}
}

// fail records a permanent error: every wait ends with it.
func (d *Destination) fail(err error) { d.cancel(err) }

// err is the permanent error, if any.
func (d *Destination) err() error {
	if d.ctx.Err() != nil {
		return context.Cause(d.ctx)
	}
	return nil
}

// Write produces the messages of the events. It blocks while the producer
// buffer is full (the brokers are behind or down).
func (d *Destination) Write(_ context.Context, events []change.Event, cp position.Checkpoint) error {
	if err := d.err(); err != nil {
		return err
	}
	if err := d.checkLease(); err != nil {
		return err
	}
	if d.o.ExactlyOnce && d.inTxn && time.Since(d.txnStart) > maxTxnAge {
		if err := d.commit(); err != nil {
			return err
		}
	}
	if err := d.write(events); err != nil {
		return err
	}
	if cp.File != "" {
		d.pending, d.dirty = cp, true
	}
	return nil
}

// write encodes events into arenas and queues them. A large batch whose
// second half depends on nothing encoded before it (pipeline.Forker) is
// split: a second goroutine encodes the second half into an arena of its
// own while this one encodes the first, as the byte-stream outputs do.
// The records (topics, keys, partitions, headers) are then added in order
// here: they use the destination's caches and recovery state.
func (d *Destination) write(events []change.Event) error {
	if len(events) >= parallelMin {
		if f, ok := d.o.Encoder.(pipeline.Forker); ok {
			if mid := len(events) / 2; independent(f, events[mid:]) {
				if d.fork == nil {
					d.fork, _ = f.Fork().(format.MessageEncoder)
				}
				if d.fork != nil {
					return d.writeParallel(events, mid)
				}
			}
		}
	}
	// The records point into the arena until they are delivered, after
	// the events themselves are gone.
	a := d.arena()
	for i := range events {
		ev := &events[i]
		a.buf, d.msgs = d.o.Encoder.AppendMessages(a.buf, d.msgs[:0], ev)
		if err := d.send(a, d.msgs, ev); err != nil {
			d.release(a)
			return err
		}
	}
	return d.queue(a)
}

// parallelMin is the smallest batch write splits between two goroutines:
// below it, handing work over costs more than it saves (as in
// pipeline.Lines).
const parallelMin = 64

func independent(f pipeline.Forker, events []change.Event) bool {
	for i := range events {
		if !f.Independent(&events[i]) {
			return false
		}
	}
	return true
}

// writeParallel encodes events[:mid] here and events[mid:] on d.fork at
// the same time, each into its own arena, and queues both in order.
func (d *Destination) writeParallel(events []change.Event, mid int) error {
	a, b := d.arena(), d.arena()
	done := make(chan struct{})
	go func() {
		// The messages of every event, in order; ends[i] is where the
		// messages of events[mid+i] end in msgs.
		buf, msgs, ends := b.buf, d.forkMsgs[:0], d.forkEnds[:0]
		for i := mid; i < len(events); i++ {
			buf, msgs = d.fork.AppendMessages(buf, msgs, &events[i])
			ends = append(ends, len(msgs))
		}
		b.buf, d.forkMsgs, d.forkEnds = buf, msgs, ends
		close(done)
	}()
	var err error
	for i := range events[:mid] {
		ev := &events[i]
		a.buf, d.msgs = d.o.Encoder.AppendMessages(a.buf, d.msgs[:0], ev)
		if err = d.send(a, d.msgs, ev); err != nil {
			break
		}
	}
	<-done
	if err != nil {
		d.release(a)
		d.release(b)
		return err
	}
	start := 0
	for i, end := range d.forkEnds {
		if err := d.send(b, d.forkMsgs[start:end], &events[mid+i]); err != nil {
			d.release(a)
			d.release(b)
			return err
		}
		start = end
	}
	clear(d.forkMsgs) // drop the references into b's buffer
	if err := d.queue(a); err != nil {
		d.release(b)
		return err
	}
	return d.queue(b)
}

// EndTransaction writes the encoder's transaction END records (Debezium),
// if it has any; the pipeline calls it at each commit.
func (d *Destination) EndTransaction(context.Context) error {
	te, ok := d.o.Encoder.(format.TransactionEnder)
	if !ok {
		return nil
	}
	a := d.arena()
	a.buf, d.msgs = te.EndTransaction(a.buf, d.msgs[:0])
	if err := d.send(a, d.msgs, nil); err != nil {
		d.release(a)
		return err
	}
	return d.queue(a)
}

// Reset makes the destination ignore the position stored in Kafka (--reset):
// the stream starts over and its first commit stores a new one.
func (d *Destination) Reset(context.Context) error {
	d.o.ReadPosition = false
	return nil
}

// send adds the records of msgs, the messages of ev (nil for records that
// belong to no row, which carry their own keys), to the arena.
func (d *Destination) send(a *arena, msgs []format.Message, ev *change.Event) error {
	data := 0
	for j := range msgs {
		m := &msgs[j]
		topic, err := d.topicOf(m)
		if err != nil {
			return err
		}
		key := m.Key
		switch {
		case m.NullKey:
			key = nil // a Kafka null key: the format says the record has none
		case key == nil && ev != nil:
			if key, a.buf = d.keyOf(a.buf, m, ev, data); key == nil {
				key = []byte{} // never nil: an empty key is still one partition
			}
		case key == nil:
			key = []byte{}
		}
		r := kgo.Record{Topic: topic, Key: key, Value: m.Value, Partition: d.partitionOf(topic, key), Timestamp: a.now}
		var mp msgPos
		if m.Kind == format.MessageData && ev != nil && ev.Tx != nil {
			mp = msgPos{file: ev.Tx.File, pos: ev.Tx.Pos, num: ev.EventNumber, idx: uint32(data)}
			if d.held != nil && d.isHeld(topic, r.Partition, mp) {
				data++
				continue
			}
		}
		d.addHeaders(a, &r, mp)
		if m.Kind == format.MessageData {
			data++
		}
		a.bytes += uint64(len(key) + len(m.Value))
		a.recs = append(a.recs, r)
	}
	return nil
}

// begin opens a transaction (exactly-once) when none is open. Only the
// pipeline's goroutine opens and ends transactions, and it ends them only
// once the producing goroutine is idle (drain).
func (d *Destination) begin() error {
	if d.o.ExactlyOnce && !d.inTxn {
		if err := d.cl.BeginTransaction(); err != nil {
			return fmt.Errorf("kafka: begin transaction: %w", err)
		}
		d.inTxn, d.txnStart = true, time.Now()
	}
	return nil
}

// produce hands one record (a position record) to the producer directly;
// the producing goroutine is idle (drain).
func (d *Destination) produce(r *kgo.Record) error {
	if err := d.begin(); err != nil {
		return err
	}
	d.cl.Produce(d.ctx, r, d.onDelivery)
	return d.err()
}

// promise runs when a record is delivered or failed. kgo retries transient
// errors itself (without limit), so an error here is permanent.
func (d *Destination) promise(r *kgo.Record, err error) {
	if err == nil || d.ctx.Err() != nil {
		return
	}
	d.fail(explain(fmt.Errorf("kafka: deliver to topic %s: %w", r.Topic, err)))
}

// saslHint is added to connection errors when SASL is on: some brokers
// close the connection instead of answering SASL_AUTHENTICATION_FAILED.
const saslHint = " (the broker closed the connection during login: with SASL this usually means it refused the credentials; check kafka_sasl_mechanism, kafka_sasl_user and kafka_sasl_password)"

// explain adds what to do to the errors users can fix.
func (d *Destination) explain(err error) error {
	if d.o.SASL != nil && errors.Is(err, io.EOF) {
		return fmt.Errorf("%w%s", err, saslHint)
	}
	return explain(err)
}

// explain adds what to do to the errors users can fix.
func explain(err error) error {
	switch {
	case fenced(err):
		return fmt.Errorf("%w: another bintap took the transactional id over: %v", pipeline.ErrDeposed, err)
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return fmt.Errorf("%w (grant the Kafka user WRITE and DESCRIBE on the topic)", err)
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return fmt.Errorf("%w (exactly-once needs WRITE and DESCRIBE on the transactional id)", err)
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return fmt.Errorf("%w (the idempotent producer needs IDEMPOTENT_WRITE on the cluster)", err)
	case errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return fmt.Errorf("%w (raise the topic's max.message.bytes or the broker's message.max.bytes)", err)
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return fmt.Errorf("%w (check kafka_sasl_mechanism, kafka_sasl_user and kafka_sasl_password)", err)
	}
	return err
}

// Flush delivers everything written and stores the position: after the
// events are acknowledged (at-least-once) or in the same transaction
// (exactly-once).
func (d *Destination) Flush(context.Context) error {
	if err := d.err(); err != nil {
		return err
	}
	if err := d.checkLease(); err != nil {
		return err
	}
	if err := d.drain(); err != nil {
		return err
	}
	if d.o.ExactlyOnce {
		if !d.inTxn && !d.dirty {
			return nil
		}
		return d.commit()
	}
	if err := d.wait(d.ctx, d.cl.Flush); err != nil {
		return err
	}
	if !d.dirty {
		return nil
	}
	cp := d.pending
	rec, err := d.positionRecord(cp)
	if err != nil {
		return err
	}
	d.cl.Produce(d.ctx, rec, d.onDelivery)
	if err := d.wait(d.ctx, d.cl.Flush); err != nil {
		return err
	}
	d.stored(cp)
	return nil
}

// commit ends the open transaction with the position record inside it.
func (d *Destination) commit() error {
	if err := d.drain(); err != nil {
		return err
	}
	cp, dirty := d.pending, d.dirty
	if dirty {
		rec, err := d.positionRecord(cp)
		if err != nil {
			return err
		}
		if err := d.produce(rec); err != nil {
			return err
		}
	}
	if err := d.wait(d.ctx, d.cl.Flush); err != nil {
		return err
	}
	// The commit is not given a context that ends at shutdown: a commit cut
	// short leaves its outcome unknown. kgo bounds it with its own retries.
	d.inTxn = false
	if err := d.checkLease(); err != nil {
		_ = d.cl.EndTransaction(context.Background(), kgo.TryAbort)
		return err
	}
	if err := d.cl.EndTransaction(context.Background(), kgo.TryCommit); err != nil {
		err = explain(fmt.Errorf("kafka: commit transaction: %w", err))
		d.fail(err)
		return err
	}
	if dirty {
		d.stored(cp)
	}
	return nil
}

func (d *Destination) stored(cp position.Checkpoint) {
	d.dirty = false
	d.mu.Lock()
	d.durable = cp
	d.mu.Unlock()
}

// wait runs a blocking call with the destination's context and reports the
// permanent error or the shutdown timeout, not just "context canceled".
func (d *Destination) wait(ctx context.Context, fn func(context.Context) error) error {
	if err := fn(ctx); err != nil {
		if cause := d.err(); cause != nil {
			return cause
		}
		return err
	}
	return d.err()
}

func (d *Destination) positionRecord(cp position.Checkpoint) (*kgo.Record, error) {
	rec := positionRecord{Checkpoint: cp, Epoch: d.epoch}
	if d.o.Lease != nil {
		rec.Holder = d.o.Lease.Instance()
	}
	return d.positionRecordOf(rec)
}

// Counts are the messages produced and their bytes (keys and values).
func (d *Destination) Counts() (messages, bytes uint64) { return d.messages.Load(), d.bytes.Load() }

// Close delivers what is left (bounded by FlushTimeout), aborts an
// unfinished transaction and disconnects.
func (d *Destination) Close(context.Context) error {
	var err error
	d.onceClose.Do(func() {
		close(d.closed)
		if !d.stopProducing() && !d.inTxn {
			err = d.err()
		}
		if d.hb != nil {
			<-d.hbDone
			d.hb.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), d.o.FlushTimeout)
		defer cancel()
		deposed := errors.Is(d.err(), pipeline.ErrDeposed)
		switch {
		case deposed:
			// Another instance took over: it fenced the transactional id
			// (the broker aborted what was open) and every send is refused
			// here anyway; waiting for the brokers would only delay standby.
			d.log.Info("deposed: Kafka output closed without delivering what it held", "buffered", d.cl.BufferedProduceRecords())
		case d.inTxn:
			// Only an error leaves a transaction open at Close: drop it, the
			// position in Kafka still says where it began.
			_ = d.cl.AbortBufferedRecords(ctx)
			if e := d.cl.EndTransaction(ctx, kgo.TryAbort); e != nil {
				d.log.Warn("abort of the open Kafka transaction failed; the broker aborts it on timeout", "err", e)
			}
		case d.err() == nil && d.cl.BufferedProduceRecords() > 0:
			if e := d.cl.Flush(ctx); e != nil {
				err = fmt.Errorf("kafka: %d messages undelivered after kafka_flush_timeout %s: %w", d.cl.BufferedProduceRecords(), d.o.FlushTimeout, e)
			}
		}
		d.cl.Close()
		d.cancel(errors.New("kafka: output closed"))
	})
	return err
}

// topicOf renders the topic of a message.
func (d *Destination) topicOf(m *format.Message) (string, error) {
	var topic string
	if m.Kind == format.MessageTransaction || m.Table == nil {
		topic = d.o.Prefix + ".transaction"
	} else if m.Table == d.lastTable {
		return d.lastTableTopic, nil // most often the previous message's
	} else if t, ok := d.topics[m.Table]; ok {
		d.lastTable, d.lastTableTopic = m.Table, t
		return t, nil
	} else {
		topic = RenderTopic(d.o.Topic, d.o.Prefix, m.Table.Schema, m.Table.Name)
		d.topics[m.Table] = topic
	}
	if !d.known[topic] {
		if err := d.ensureTopic(d.ctx, d.adm, topic, d.o.Partitions, false); err != nil {
			return "", err
		}
		n, err := d.topicPartitions(d.ctx, d.adm, topic)
		if err != nil {
			return "", err
		}
		if n == 0 { // left to auto-creation
			n = int(d.o.Partitions)
		}
		d.parts[topic] = int32(n)
		d.known[topic] = true
	}
	return topic, nil
}

// RenderTopic fills a topic template. Characters Kafka does not allow in
// topic names become '_' (as Debezium does).
func RenderTopic(tmpl, prefix, database, table string) string {
	r := strings.NewReplacer("{prefix}", prefix, "{database}", sanitize(database), "{table}", sanitize(table))
	return r.Replace(tmpl)
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// keyOf derives a message's key from the event with the key mode. data is
// the index of the message among the event's data messages: an update's
// first (update_before) is keyed by the row before, the second by the row
// after, so a changed primary key is keyed as the row it names.
func (d *Destination) keyOf(buf []byte, m *format.Message, ev *change.Event, data int) ([]byte, []byte) {
	start := len(buf)
	switch {
	case m.Kind == format.MessageTransaction:
		buf = appendTxKey(buf, ev.Tx)
	case m.Kind == format.MessageSchema || ev.Table == nil:
		if m.Table == nil {
			return nil, buf
		}
		buf = format.AppendTableKey(buf, m.Table)
	case d.o.Key == KeyGTID:
		buf = appendTxKey(buf, ev.Tx)
	case d.o.Key == KeyPK:
		row := ev.After
		if ev.Op == change.OpDelete || (ev.Op == change.OpUpdate && data == 0) || row == nil {
			row = ev.Before
		}
		var ok bool
		if buf, ok = format.AppendPrimaryKey(buf, ev.Table, row, d.o.Binary); !ok {
			buf = format.AppendTableKey(buf, ev.Table)
		}
	default:
		buf = format.AppendTableKey(buf, ev.Table)
	}
	return buf[start:len(buf):len(buf)], buf
}

// appendTxKey is the transaction's GTID, or FILE:POS of its start without GTIDs.
func appendTxKey(buf []byte, tx *change.Tx) []byte {
	if tx == nil {
		return buf
	}
	if tx.GTID != "" {
		return append(buf, tx.GTID...)
	}
	return fmt.Appendf(buf, "%s:%d", tx.File, tx.Pos)
}

// ensureTopic creates topic when it does not exist. A broker that refuses
// to create it (no CREATE right) is not an error yet: the topic may be
// created by auto-creation, and producing to it fails clearly if not.
func (d *Destination) ensureTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, compact bool) error {
	n, err := d.topicPartitions(ctx, adm, topic)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	var configs map[string]*string
	if compact {
		configs = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	}
	var resps kadm.CreateTopicResponses
	err = d.retry(ctx, func(ctx context.Context) (err error) {
		resps, err = adm.CreateTopics(ctx, partitions, d.o.ReplicationFactor, configs, topic)
		return err
	})
	if err != nil {
		return fmt.Errorf("kafka: create topic %s: %w", topic, err)
	}
	if r, ok := resps[topic]; ok {
		switch {
		case r.Err == nil:
			d.log.Info("created Kafka topic", "topic", topic, "partitions", partitions, "compacted", compact)
		case errors.Is(r.Err, kerr.TopicAlreadyExists):
		default:
			d.log.Warn("could not create Kafka topic; relying on it existing or on broker auto-creation", "topic", topic, "err", r.Err)
		}
	}
	return nil
}

// topicPartitions returns the number of partitions of topic, 0 when it does
// not exist.
func (d *Destination) topicPartitions(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	n := 0
	err := d.retry(ctx, func(ctx context.Context) error {
		topics, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return err
		}
		t, ok := topics[topic]
		if !ok {
			return errors.New("the topic is not in the answer")
		}
		switch {
		case t.Err == nil:
			n = len(t.Partitions)
			return nil
		case errors.Is(t.Err, kerr.UnknownTopicOrPartition):
			n = 0
			return nil
		default:
			return t.Err
		}
	})
	if err != nil {
		return 0, d.explain(fmt.Errorf("kafka: metadata of topic %s: %w", topic, err))
	}
	return n, nil
}

// retry runs a request until it succeeds, fails with an error the broker
// says is final, or ctx ends: an unreachable broker is waited for (kgo
// gives up on a request after its own retries; the stream must not).
func (d *Destination) retry(ctx context.Context, fn func(context.Context) error) error {
	wait := backoff.Backoff{Initial: time.Second, Max: 10 * time.Second}
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if ke, ok := errors.AsType[*kerr.Error](err); ok && !ke.Retriable {
			return err
		}
		d.log.Debug("Kafka request failed; retrying", "err", err, "retry_in", wait.Delay().String())
		if err := wait.Wait(ctx); err != nil {
			return err
		}
	}
}
