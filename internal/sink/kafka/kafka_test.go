package kafka

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/format"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/testutil"
)

var (
	users = &change.Table{Schema: "shop", Name: "users", Version: 1, Columns: []change.Column{
		{Name: "id", Type: "int"}, {Name: "name", Type: "varchar"},
	}, PrimaryKey: []int{0}}
	logs = &change.Table{Schema: "shop", Name: "log lines", Version: 1, Columns: []change.Column{
		{Name: "msg", Type: "varchar"},
	}}
)

func intV(n int64) change.Value  { return change.Value{Kind: change.KindInt, Int: n} }
func strV(s string) change.Value { return change.Value{Kind: change.KindString, Text: []byte(s)} }
func tx(seq uint64) *change.Tx {
	return &change.Tx{GTID: fmt.Sprintf("0-1-%d", seq), ServerID: 1, Sequence: seq, File: "bin.000001", Pos: uint32(1000 + seq*100)}
}

// txEvents is one transaction: inserts of ids, then an update of the first.
func txEvents(seq uint64, ids ...int64) ([]change.Event, position.Checkpoint) {
	t := tx(seq)
	var evs []change.Event
	num := uint64(1)
	for _, id := range ids {
		evs = append(evs, change.Event{Op: change.OpInsert, Table: users, Tx: t, EventNumber: num,
			After: []change.Value{intV(id), strV(fmt.Sprintf("user %d", id))}})
		num++
	}
	return evs, position.Checkpoint{Flavor: "mariadb", File: "bin.000001", Pos: t.Pos + 100, GTIDState: t.GTID}
}

func newDest(t *testing.T, addr string, mod func(*Options)) *Destination {
	t.Helper()
	o := Options{Brokers: []string{addr}, Topic: "cdc", Encoder: format.NewMaxScale("hex", true), Server: "db1:3306",
		ReadPosition: true, FlushTimeout: 5 * time.Second}
	if mod != nil {
		mod(&o)
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func write(t *testing.T, d *Destination, evs []change.Event, cp position.Checkpoint) {
	t.Helper()
	if err := d.Write(context.Background(), evs, cp); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func flush(t *testing.T, d *Destination) {
	t.Helper()
	if err := d.Flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// replay runs batches through a pipeline to d, which holds position holds:
// the pipeline drops what d holds, as it does when a stream restarts.
func replay(t *testing.T, d *Destination, holds *position.Checkpoint, batches ...*pipeline.Batch) {
	t.Helper()
	p := &pipeline.Pipeline{Outputs: []pipeline.Output{{Name: "kafka", Dest: d, Holds: holds}}, StateDir: t.TempDir(),
		Interval: time.Hour, Log: slog.New(slog.DiscardHandler)}
	in, free := make(chan *pipeline.Batch, len(batches)), make(chan *pipeline.Batch, len(batches))
	for _, b := range batches {
		in <- b
	}
	close(in)
	if _, err := p.Run(context.Background(), in, free); err != nil {
		t.Fatalf("replay: %v", err)
	}
}

type row map[string]any

func decode(t *testing.T, r *kgo.Record) row {
	t.Helper()
	var m row
	if err := json.Unmarshal(r.Value, &m); err != nil {
		t.Fatalf("record value is not JSON: %v: %s", err, r.Value)
	}
	return m
}

func TestKeysAndTopics(t *testing.T) {
	_, addr := testutil.NewKafka(t)
	d := newDest(t, addr, func(o *Options) { o.Topic = "{prefix}.{database}.{table}"; o.Prefix = "app" })
	t1 := tx(1)
	evs := []change.Event{
		{Op: change.OpInsert, Table: users, Tx: t1, EventNumber: 1, After: []change.Value{intV(7), strV("ann")}},
		{Op: change.OpUpdate, Table: users, Tx: t1, EventNumber: 2, Before: []change.Value{intV(7), strV("ann")}, After: []change.Value{intV(8), strV("ann")}},
		{Op: change.OpDelete, Table: users, Tx: t1, EventNumber: 4, Before: []change.Value{intV(8), strV("ann")}},
		{Op: change.OpInsert, Table: logs, Tx: t1, EventNumber: 5, After: []change.Value{strV("hello")}},
	}
	write(t, d, evs, position.Checkpoint{File: "bin.000001", Pos: 2000})
	flush(t, d)

	got := testutil.ReadTopic(t, false, "app.shop.users", kgo.SeedBrokers(addr))
	want := []struct{ key, typ string }{
		{`{"database":"shop","table":"users"}`, "schema"},
		{`{"id":7}`, "insert"}, {`{"id":7}`, "update_before"}, {`{"id":8}`, "update_after"}, {`{"id":8}`, "delete"},
	}
	if len(got) != len(want) {
		t.Fatalf("app.shop.users holds %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		m := decode(t, got[i])
		typ, _ := m["event_type"].(string)
		if m["namespace"] != nil {
			typ = "schema"
		}
		if string(got[i].Key) != w.key || typ != w.typ {
			t.Errorf("record %d: key %s type %s, want key %s type %s", i, got[i].Key, typ, w.key, w.typ)
		}
	}
	// No primary key: the table key; the topic name has '_' for the space.
	lg := testutil.ReadTopic(t, false, "app.shop.log_lines", kgo.SeedBrokers(addr))
	if len(lg) != 2 || string(lg[1].Key) != `{"database":"shop","table":"log lines"}` || decode(t, lg[1])["msg"] != "hello" {
		t.Fatalf("log lines topic: %d records, last key %q", len(lg), lg[len(lg)-1].Key)
	}
	// The position record after the acknowledged events.
	pos := testutil.ReadTopic(t, true, "app.bintap-position", kgo.SeedBrokers(addr))
	if len(pos) != 1 || string(pos[0].Key) != "app.{database}.{table}" {
		t.Fatalf("position topic: %d records", len(pos))
	}
	var cp position.Checkpoint
	if err := json.Unmarshal(pos[0].Value, &cp); err != nil || cp.Pos != 2000 {
		t.Fatalf("position record %s: %v", pos[0].Value, err)
	}
}

func TestKeyModes(t *testing.T) {
	_, addr := testutil.NewKafka(t)
	for _, mode := range []string{KeyTable, KeyGTID} {
		d := newDest(t, addr, func(o *Options) { o.Key = mode; o.Topic = "keys-" + mode })
		evs, cp := txEvents(42, 1)
		noGTID := &change.Tx{File: "bin.000003", Pos: 777}
		evs = append(evs, change.Event{Op: change.OpInsert, Table: users, Tx: noGTID, EventNumber: 1, After: []change.Value{intV(2), strV("x")}})
		write(t, d, evs, cp)
		flush(t, d)
		got := testutil.ReadTopic(t, false, "keys-"+mode, kgo.SeedBrokers(addr))
		if len(got) != 3 {
			t.Fatalf("%s: %d records", mode, len(got))
		}
		want := []string{`{"database":"shop","table":"users"}`, `{"database":"shop","table":"users"}`, `{"database":"shop","table":"users"}`}
		if mode == KeyGTID {
			want[1], want[2] = "0-1-42", "bin.000003:777"
		}
		for i := range got {
			if string(got[i].Key) != want[i] {
				t.Errorf("%s: record %d key %q, want %q", mode, i, got[i].Key, want[i])
			}
		}
	}
}

// TestOrderPerKeyOnManyPartitions: the changes of one row keep their order
// on a topic of several partitions.
func TestOrderPerKeyOnManyPartitions(t *testing.T) {
	_, addr := testutil.NewKafka(t)
	d := newDest(t, addr, func(o *Options) { o.Partitions = 4; o.Topic = "ordered" })
	const keys, rounds = 20, 30
	var seq uint64
	for r := 0; r < rounds; r++ {
		seq++
		t1 := tx(seq)
		var evs []change.Event
		for k := 0; k < keys; k++ {
			evs = append(evs, change.Event{Op: change.OpUpdate, Table: users, Tx: t1, EventNumber: uint64(2*k + 1),
				Before: []change.Value{intV(int64(k)), strV(fmt.Sprint(r - 1))}, After: []change.Value{intV(int64(k)), strV(fmt.Sprint(r))}})
		}
		write(t, d, evs, position.Checkpoint{File: "bin.000001", Pos: t1.Pos + 100})
	}
	flush(t, d)
	got := testutil.ReadTopic(t, false, "ordered", kgo.SeedBrokers(addr))
	last := map[string]int{}
	partitions := map[int32]bool{}
	n := 0
	for _, r := range got {
		m := decode(t, r)
		if m["event_type"] != "update_after" {
			continue
		}
		n++
		partitions[r.Partition] = true
		v := 0
		fmt.Sscan(m["name"].(string), &v)
		if prev, ok := last[string(r.Key)]; ok && v != prev+1 {
			t.Fatalf("key %s: value %d after %d", r.Key, v, prev)
		}
		last[string(r.Key)] = v
	}
	if n != keys*rounds || len(partitions) < 2 {
		t.Fatalf("%d updates over %d partitions, want %d over several", n, len(partitions), keys*rounds)
	}
}

// TestExactlyOnceAcrossACrash: a transaction left open by a crash is
// aborted when the next producer starts, the position comes back from
// Kafka, and a replay from an older position adds nothing twice.
func TestExactlyOnceAcrossACrash(t *testing.T) {
	_, addr := testutil.NewKafka(t)
	eos := func(o *Options) { o.ExactlyOnce = true; o.Topic = "eos"; o.Partitions = 3 }
	d := newDest(t, addr, eos)
	if cp, err := d.Position(context.Background()); err != nil || cp != nil {
		t.Fatalf("fresh position: %v %v", cp, err)
	}
	ev1, cp1 := txEvents(1, 1, 2, 3)
	ev2, cp2 := txEvents(2, 4, 5)
	write(t, d, ev1, cp1)
	flush(t, d) // commits 1, 2, 3 with cp1
	write(t, d, ev2, cp2)
	if err := d.cl.Flush(context.Background()); err != nil { // 4 and 5 reach the broker, uncommitted
		t.Fatal(err)
	}
	if n := len(testutil.ReadTopic(t, false, "eos", kgo.SeedBrokers(addr))); n != 6 { // schema + 5 rows
		t.Fatalf("read_uncommitted sees %d records, want 6", n)
	}
	d.cl.Close() // crash: no commit, no abort

	d2 := newDest(t, addr, eos)
	cp, err := d2.Position(context.Background())
	if err != nil || cp == nil || cp.Pos != cp1.Pos {
		t.Fatalf("recovered position %v (%v), want %v", cp, err, cp1)
	}
	// The stream resumes from an older position (say the state dir's): the
	// first transaction again, then the second.
	replay(t, d2, cp, &pipeline.Batch{Events: ev1, Checkpoint: cp1}, &pipeline.Batch{Events: ev2, Checkpoint: cp2})
	ids := map[float64]int{}
	for _, r := range testutil.ReadTopic(t, true, "eos", kgo.SeedBrokers(addr)) {
		if m := decode(t, r); m["event_type"] == "insert" {
			ids[m["id"].(float64)]++
		}
	}
	for id := 1.0; id <= 5; id++ {
		if ids[id] != 1 {
			t.Errorf("read_committed sees id %v %d times, want once", id, ids[id])
		}
	}
	cp, err = newDest(t, addr, eos).Position(context.Background())
	if err != nil || cp == nil || cp.Pos != cp2.Pos {
		t.Fatalf("position after the second commit %v (%v), want %v", cp, err, cp2)
	}
}

// TestPositionMidTransaction: a checkpoint inside a transaction (Skip > 0)
// drops exactly the row images it covers.
func TestPositionMidTransaction(t *testing.T) {
	_, addr := testutil.NewKafka(t)
	d := newDest(t, addr, nil)
	evs, _ := txEvents(9, 1, 2, 3, 4)
	tx9 := evs[0].Tx
	mid := position.Checkpoint{Flavor: "mariadb", File: tx9.File, Pos: tx9.Pos, Skip: 2, GTID: tx9.GTID}
	write(t, d, evs[:2], mid)
	flush(t, d)
	d2 := newDest(t, addr, nil)
	cp, err := d2.Position(context.Background())
	if err != nil || cp == nil || cp.Skip != 2 {
		t.Fatalf("recovered %v (%v)", cp, err)
	}
	replay(t, d2, cp, &pipeline.Batch{Events: evs, Checkpoint: position.Checkpoint{File: tx9.File, Pos: tx9.Pos + 100}})
	ids := map[float64]int{}
	for _, r := range testutil.ReadTopic(t, false, "cdc", kgo.SeedBrokers(addr)) {
		if m := decode(t, r); m["event_type"] == "insert" {
			ids[m["id"].(float64)]++
		}
	}
	if len(ids) != 4 || ids[1] != 1 || ids[2] != 1 || ids[3] != 1 || ids[4] != 1 {
		t.Fatalf("ids %v, want 1..4 once each", ids)
	}
}

func TestSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			_, addr := testutil.NewKafka(t, kfake.EnableSASL(), kfake.Superuser(mech, "bintap", "s3cret"))
			d := newDest(t, addr, func(o *Options) { o.SASL = Mechanism(mech, "bintap", "s3cret") })
			evs, cp := txEvents(1, 1)
			write(t, d, evs, cp)
			flush(t, d)
			got := testutil.ReadTopic(t, false, "cdc", kgo.SeedBrokers(addr), kgo.SASL(Mechanism(mech, "bintap", "s3cret")))
			if len(got) != 2 {
				t.Fatalf("%d records, want 2", len(got))
			}

			// kfake closes the connection on a refused login (a real broker
			// answers SASL_AUTHENTICATION_FAILED, see TestPermanentConnectErrors):
			// bintap keeps retrying and says why it may be failing.
			var logs testutil.SyncBuffer
			bad := newDest(t, addr, func(o *Options) {
				o.SASL = Mechanism(mech, "bintap", "wrong")
				o.Log = slog.New(slog.NewTextHandler(&logs, nil))
			})
			done := make(chan error, 1)
			go func() { _, err := bad.Position(context.Background()); done <- err }()
			deadline := time.Now().Add(time.Minute)
			for !strings.Contains(logs.String(), "refused the credentials") {
				if time.Now().After(deadline) {
					t.Fatalf("no warning about the credentials; logs:\n%s", logs.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			bad.Close(context.Background())
			if err := <-done; err == nil || strings.Contains(logs.String()+err.Error(), "wrong") {
				t.Fatalf("Position after Close: %v; logs must not hold the password:\n%s", err, logs.String())
			}
		})
	}
}

func TestHeartbeats(t *testing.T) {
	_, addr := testutil.NewKafka(t)
	d := newDest(t, addr, func(o *Options) { o.HeartbeatInterval = 100 * time.Millisecond })
	evs, cp := txEvents(3, 1)
	write(t, d, evs, cp)
	flush(t, d)
	deadline := time.Now().Add(time.Minute)
	for {
		for _, r := range testutil.ReadTopic(t, false, "bintap.heartbeat", kgo.SeedBrokers(addr)) {
			var hb heartbeat
			if err := json.Unmarshal(r.Value, &hb); err != nil {
				t.Fatalf("heartbeat %s: %v", r.Value, err)
			}
			if string(r.Key) == "db1:3306" && hb.Position != nil && hb.Position.Pos == cp.Pos {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat with the stored position")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrokerOutage: the broker stops (same port, same data dir) while
// messages are being written; nothing is lost or reordered once it is back.
func TestBrokerOutage(t *testing.T) {
	port, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir))
		if err != nil {
			t.Fatalf("start kfake: %v", err)
		}
		return c
	}
	c := start()
	addr := c.ListenAddrs()[0]
	d := newDest(t, addr, nil)
	evs, cp := txEvents(1, 1, 2, 3)
	write(t, d, evs, cp)
	flush(t, d)
	c.Close()
	written := make(chan error, 1)
	go func() {
		var err error
		for seq := uint64(2); seq < 12 && err == nil; seq++ {
			evs, cp := txEvents(seq, int64(seq*10), int64(seq*10+1))
			if err = d.Write(context.Background(), evs, cp); err == nil && seq%3 == 0 {
				err = d.Flush(context.Background()) // waits for the broker
			}
		}
		if err == nil {
			err = d.Flush(context.Background())
		}
		written <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for len(d.status().Down) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the status never said the broker is down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if state, err := d.Health(); state != "retrying" || err == nil || !strings.Contains(err.Error(), "broker unreachable: "+addr) {
		t.Errorf("health during the outage: %s, %v", state, err)
	}
	time.Sleep(2 * time.Second) // an outage of a few seconds
	c = start()
	defer c.Close()
	if err := <-written; err != nil {
		t.Fatalf("writing through the outage: %v", err)
	}
	if st := d.status(); len(st.Down) != 0 || st.Position == "" {
		t.Errorf("status after the outage: %+v", st)
	}
	if state, err := d.Health(); state != "ok" || err != nil {
		t.Errorf("health after the outage: %s, %v", state, err)
	}
	got := testutil.ReadTopic(t, false, "cdc", kgo.SeedBrokers(addr))
	var ids []int
	for _, r := range got {
		if m := decode(t, r); m["event_type"] == "insert" {
			ids = append(ids, int(m["id"].(float64)))
		}
	}
	want := []int{1, 2, 3}
	for seq := 2; seq < 12; seq++ {
		want = append(want, seq*10, seq*10+1)
	}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatalf("after the outage the topic holds ids %v, want %v", ids, want)
	}
}

// TestShutdownDuringOutage: once the stream stops, an unreachable broker
// holds the flush for kafka_flush_timeout, then the flush fails saying so.
func TestShutdownDuringOutage(t *testing.T) {
	c, addr := testutil.NewKafka(t)
	ctx, stop := context.WithCancel(context.Background())
	d := newDest(t, addr, func(o *Options) { o.Shutdown = ctx; o.FlushTimeout = time.Second })
	evs, cp := txEvents(1, 1)
	write(t, d, evs, cp)
	flush(t, d)
	c.Close()
	evs, cp = txEvents(2, 2)
	write(t, d, evs, cp)
	stop()
	err := d.Flush(context.Background())
	if err == nil || !strings.Contains(err.Error(), "kafka_flush_timeout") {
		t.Fatalf("flush after shutdown with the broker down: %v", err)
	}
}

func TestPermanentConnectErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{kerr.SaslAuthenticationFailed, "SASL login refused"},
		{fmt.Errorf("x: %w", kerr.UnsupportedSaslMechanism), "SASL login refused"},
		{x509.UnknownAuthorityError{}, "not trusted"},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "is this broker listener TLS"},
		{io.EOF, ""},
		{syscall.ECONNREFUSED, ""},
	} {
		got := permanentConnectError(c.err)
		if (got == nil) != (c.want == "") || got != nil && !strings.Contains(got.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.err, got, c.want)
		}
	}
}

func TestTLS(t *testing.T) {
	tf := testutil.NewTLSFiles(t)
	_, addr := testutil.NewKafka(t, kfake.TLS(tf.Server))
	ca, _ := os.ReadFile(tf.CA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(tf.ClientCert, tf.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	good := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}
	d := newDest(t, addr, func(o *Options) { o.TLS = good })
	evs, cp := txEvents(1, 1)
	write(t, d, evs, cp)
	flush(t, d)
	if got := testutil.ReadTopic(t, false, "cdc", kgo.SeedBrokers(addr), kgo.DialTLSConfig(good.Clone())); len(got) != 2 {
		t.Fatalf("%d records over TLS, want 2", len(got))
	}

	// A CA that did not sign the broker's certificate: a permanent error.
	untrusted := newDest(t, addr, func(o *Options) { o.TLS = &tls.Config{RootCAs: x509.NewCertPool()} })
	if _, err := untrusted.Position(context.Background()); err == nil || !strings.Contains(err.Error(), "kafka_tls_ca") {
		t.Fatalf("untrusted broker certificate: %v", err)
	}
}

// TestEnsureTopic: a missing topic is created with the partitions asked for
// (compacted for the position topic), an existing one is left as it is, a
// broker that refuses to create topics is only a warning, and a topic the
// user may not describe is an error that says what to grant.
func TestEnsureTopic(t *testing.T) {
	const topic = "t"
	for _, tc := range []struct {
		name       string
		existing   int32       // partitions before; 0: the topic does not exist
		createErr  *kerr.Error // the broker's answer to CreateTopics
		metaErr    *kerr.Error // the broker's answer to the topic's metadata
		partitions int32
		compact    bool
		wantParts  int    // partitions after; 0: the topic does not exist
		wantLog    string // "": nothing about the topic is logged
		wantErr    string
	}{
		{name: "data topic", partitions: 3, wantParts: 3, wantLog: `level=INFO msg="created Kafka topic"`},
		{name: "position topic", partitions: 1, compact: true, wantParts: 1, wantLog: `level=INFO msg="created Kafka topic"`},
		{name: "exists", existing: 2, partitions: 5, compact: true, wantParts: 2},
		{name: "created meanwhile", createErr: kerr.TopicAlreadyExists, partitions: 1},
		{name: "creation refused", createErr: kerr.TopicAuthorizationFailed, partitions: 1, wantLog: `level=WARN msg="could not create Kafka topic`},
		{name: "describe refused", metaErr: kerr.TopicAuthorizationFailed, partitions: 1, wantErr: "grant the Kafka user WRITE and DESCRIBE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, addr := testutil.NewKafka(t)
			if tc.existing > 0 {
				if err := c.CreateTopic(topic, tc.existing, nil); err != nil {
					t.Fatal(err)
				}
			}
			if tc.createErr != nil {
				c.ControlKey(kmsg.CreateTopics.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
					req := kreq.(*kmsg.CreateTopicsRequest)
					resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
					for _, rt := range req.Topics {
						st := kmsg.NewCreateTopicsResponseTopic()
						st.Topic, st.ErrorCode = rt.Topic, tc.createErr.Code
						resp.Topics = append(resp.Topics, st)
					}
					return resp, nil, true
				})
			}
			if tc.metaErr != nil {
				c.ControlKey(kmsg.Metadata.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
					req := kreq.(*kmsg.MetadataRequest)
					if len(req.Topics) != 1 || req.Topics[0].Topic == nil || *req.Topics[0].Topic != topic {
						return nil, nil, false // the client's own metadata: the broker answers
					}
					c.KeepControl()
					resp := req.ResponseKind().(*kmsg.MetadataResponse)
					st := kmsg.NewMetadataResponseTopic()
					st.Topic, st.ErrorCode = kmsg.StringPtr(topic), tc.metaErr.Code
					resp.Topics = append(resp.Topics, st)
					return resp, nil, true
				})
			}
			var logs testutil.SyncBuffer
			d := newDest(t, addr, func(o *Options) { o.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := d.ensureTopic(ctx, d.adm, topic, tc.partitions, tc.compact)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ensureTopic = %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ensureTopic: %v", err)
			}
			if got := len(c.PartitionInfos(topic)); got != tc.wantParts {
				t.Errorf("%d partitions, want %d", got, tc.wantParts)
			}
			if tc.wantParts > 0 {
				policy := "(broker default)"
				if p := c.TopicInfo(topic).Configs["cleanup.policy"]; p != nil {
					policy = *p
				}
				if compacted := policy == "compact"; compacted != (tc.compact && tc.existing == 0) {
					t.Errorf("cleanup.policy %s, compaction wanted: %v", policy, tc.compact && tc.existing == 0)
				}
			}
			switch log := logs.String(); {
			case tc.wantLog == "" && strings.Contains(log, "Kafka topic"):
				t.Errorf("log says something about the topic:\n%s", log)
			case !strings.Contains(log, tc.wantLog):
				t.Errorf("log does not say %q:\n%s", tc.wantLog, log)
			}
		})
	}
}

// TestCommittedEnds: the end offsets of the position topic are the last
// stable offsets, which stop before a transaction still open.
func TestCommittedEnds(t *testing.T) {
	c, addr := testutil.NewKafka(t)
	d := newDest(t, addr, nil)
	evs, cp := txEvents(1, 1)
	write(t, d, evs, cp)
	flush(t, d) // one position record
	other, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := other.ProduceSync(context.Background(), &kgo.Record{Topic: d.posTopic, Value: []byte("{}")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p := c.PartitionInfo(d.posTopic, 0)
	if p.HighWatermark != 2 || p.LastStableOffset != 1 {
		t.Fatalf("position topic: high watermark %d, last stable offset %d; want 2 and 1", p.HighWatermark, p.LastStableOffset)
	}
	ends, err := d.committedEnds(1)
	if err != nil || len(ends) != 1 || ends[0] != 1 {
		t.Fatalf("committedEnds = %v, %v; want partition 0 at 1", ends, err)
	}
}

// TestBackPressureSlowBroker: a broker that stops answering produce requests
// makes Write block once the producer holds kafka_max_buffered_bytes (plus
// the few batches queued on the way to it): nothing is dropped, the bytes
// held never pass the bound, and everything arrives in order once the
// broker answers again.
func TestBackPressureSlowBroker(t *testing.T) {
	c, addr := testutil.NewKafka(t)
	const limit = 1 << 20
	d := newDest(t, addr, func(o *Options) { o.MaxBufferedBytes = limit; o.ReadPosition = false })
	// The topic exists and the producer is connected before the broker stalls.
	evs, cp := txEvents(1, 1)
	write(t, d, evs, cp)
	flush(t, d)

	release := make(chan struct{})
	stalled := make(chan struct{}, 1)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		select {
		case stalled <- struct{}{}:
		default:
		}
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})

	// 40 batches of 100 rows of about 1 KB: 4 MB, four times the bound.
	const batches, perBatch = 40, 100
	name := strings.Repeat("x", 1000)
	var written atomic.Int32
	done := make(chan error, 1)
	go func() {
		for b := 0; b < batches; b++ {
			t := tx(uint64(b + 2))
			evs := make([]change.Event, perBatch)
			for i := range evs {
				id := int64(b*perBatch + i + 2)
				evs[i] = change.Event{Op: change.OpInsert, Table: users, Tx: t, EventNumber: uint64(i + 1),
					After: []change.Value{intV(id), strV(name)}}
			}
			if err := d.Write(context.Background(), evs, position.Checkpoint{Flavor: "mariadb", File: t.File, Pos: t.Pos + 100, GTIDState: t.GTID}); err != nil {
				done <- err
				return
			}
			written.Add(1)
		}
		done <- d.Flush(context.Background())
	}()
	<-stalled
	// Wait until the producer holds nearly its bound: the writer can go no
	// further while the broker accepts nothing.
	var most int64
	for most < limit-200<<10 {
		select {
		case err := <-done:
			t.Fatalf("every write returned (err %v) while the broker accepted nothing: records were dropped or the buffer is unbounded", err)
		default:
		}
		most = max(most, d.cl.BufferedProduceBytes())
		time.Sleep(time.Millisecond)
	}
	if n := written.Load(); n >= batches {
		t.Fatalf("%d of %d writes returned while the broker accepted nothing", n, batches)
	}
	close(release)
	for {
		most = max(most, d.cl.BufferedProduceBytes())
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("writing once the broker answers again: %v", err)
			}
		default:
			time.Sleep(time.Millisecond)
			continue
		}
		break
	}
	// BufferedProduceBytes counts the one record Produce is blocked on too.
	if most > limit+2<<10 {
		t.Errorf("the producer held %d bytes, more than the bound %d and the record waiting for room", most, limit)
	}
	var ids []int
	for _, r := range testutil.ReadTopic(t, false, "cdc", kgo.SeedBrokers(addr)) {
		if m := decode(t, r); m["event_type"] == "insert" {
			ids = append(ids, int(m["id"].(float64)))
		}
	}
	if len(ids) != batches*perBatch+1 {
		t.Fatalf("the topic holds %d rows, want %d", len(ids), batches*perBatch+1)
	}
	for i, id := range ids {
		if id != i+1 {
			t.Fatalf("row %d of the topic is id %d, want %d (order lost)", i, id, i+1)
		}
	}
}

// TestCompression: every --kafka-compression codec produces records a
// consumer reads back as written.
func TestCompression(t *testing.T) {
	_, addr := testutil.NewKafka(t)
	for _, codec := range []string{CompressionNone, CompressionSnappy, CompressionLZ4, CompressionZstd, CompressionGzip} {
		topic := "cdc-" + codec
		d := newDest(t, addr, func(o *Options) { o.Topic = topic; o.Compression = codec })
		evs, cp := txEvents(1, 1, 2, 3)
		write(t, d, evs, cp)
		flush(t, d)
		var ids []int
		for _, r := range testutil.ReadTopic(t, false, topic, kgo.SeedBrokers(addr)) {
			if m := decode(t, r); m["event_type"] == "insert" {
				ids = append(ids, int(m["id"].(float64)))
			}
		}
		if fmt.Sprint(ids) != "[1 2 3]" {
			t.Errorf("%s: the topic holds ids %v, want [1 2 3]", codec, ids)
		}
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("%s: close: %v", codec, err)
		}
		// A write after Close fails; it does not panic.
		if err := d.Write(context.Background(), evs, cp); err == nil {
			t.Errorf("%s: a write after Close succeeded", codec)
		}
	}
}

// TestParallelEncodingSameRecords: a large batch, whose second half a second
// goroutine encodes (writeParallel), gives the same records in the same
// order as the events written one at a time (never split): keys, values,
// headers and partitions, over two tables, three partitions and every
// operation.
func TestParallelEncodingSameRecords(t *testing.T) {
	_, addr := testutil.NewKafka(t)
	var evs []change.Event
	for seq := uint64(1); seq <= 3; seq++ {
		t1 := tx(seq)
		num := uint64(1)
		for i := int64(0); i < 100; i++ {
			id := int64(seq)*1000 + i
			ev := change.Event{Table: users, Tx: t1, EventNumber: num}
			switch i % 4 {
			case 0, 1:
				ev.Op, ev.After = change.OpInsert, []change.Value{intV(id), strV(fmt.Sprintf("user \"%d\"\n", id))}
			case 2:
				ev.Op, ev.Before, ev.After = change.OpUpdate, []change.Value{intV(id - 1), strV("old")}, []change.Value{intV(id), strV("new")}
				num++
			default:
				ev.Op, ev.Before = change.OpDelete, []change.Value{intV(id - 3), strV("gone")}
			}
			if i%10 == 9 {
				ev.Table, ev.Op, ev.Before, ev.After = logs, change.OpInsert, nil, []change.Value{strV(fmt.Sprint("line ", id))}
			}
			evs = append(evs, ev)
			num++
		}
	}
	cp := position.Checkpoint{Flavor: "mariadb", File: "bin.000001", Pos: 9000}
	mod := func(topic string) func(*Options) {
		return func(o *Options) { o.Topic, o.Partitions = topic, 3 }
	}
	// The first batch sends the schema records; the second half of the
	// next ones depends on nothing before it, so they are split.
	split := newDest(t, addr, mod("split"))
	write(t, split, evs[:10], cp)
	write(t, split, evs[10:200], cp)
	write(t, split, evs[200:], cp)
	flush(t, split)
	if split.fork == nil {
		t.Fatal("the large batches were not split")
	}
	one := newDest(t, addr, mod("one"))
	for i := range evs {
		write(t, one, evs[i:i+1], cp)
	}
	flush(t, one)

	got := testutil.ReadTopic(t, false, "split", kgo.SeedBrokers(addr))
	want := testutil.ReadTopic(t, false, "one", kgo.SeedBrokers(addr))
	if len(got) != len(want) || len(want) < len(evs) {
		t.Fatalf("split: %d records, one at a time: %d, events %d", len(got), len(want), len(evs))
	}
	// ReadTopic returns each partition's records in order, the partitions
	// interleaved as they were fetched.
	byPlace := func(a, b *kgo.Record) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	}
	slices.SortFunc(got, byPlace)
	slices.SortFunc(want, byPlace)
	for i := range want {
		g, w := got[i], want[i]
		if g.Partition != w.Partition || g.Offset != w.Offset || string(g.Key) != string(w.Key) || string(g.Value) != string(w.Value) || fmt.Sprint(g.Headers) != fmt.Sprint(w.Headers) {
			t.Fatalf("record %d differs:\nsplit %d@%d %s %s %v\none   %d@%d %s %s %v", i,
				g.Partition, g.Offset, g.Key, g.Value, g.Headers, w.Partition, w.Offset, w.Key, w.Value, w.Headers)
		}
	}
}
