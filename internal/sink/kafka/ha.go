package kafka

// Writing as the active instance of an HA group (sink.Env.Lease): every
// byte to a broker passes a gate that checks the lease first, a lost lease
// fails the output at once, and Fence takes the output over from the
// instance that wrote before: in exactly-once mode by initialising the
// transactional id (the broker fences the earlier producer), in
// at-least-once mode by storing a new epoch in the position topic.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/position"
	"github.com/bintap/bintap/internal/sink"
)

// positionRecord is the value of a position record: the checkpoint, and in
// an HA group the epoch and the instance that wrote it.
type positionRecord struct {
	position.Checkpoint
	Epoch  uint64 `json:"epoch,omitempty"`
	Holder string `json:"holder,omitempty"`
}

// gatedConn is a broker connection that sends nothing once the lease is
// not valid: the check runs before every write to the socket.
type gatedConn struct {
	net.Conn
	lease sink.Lease
}

func (c gatedConn) Write(p []byte) (int, error) {
	if !c.lease.Valid() {
		c.Conn.Close()
		return 0, pipeline.ErrDeposed
	}
	return c.Conn.Write(p)
}

// gatedDialer dials brokers through the lease gate, with TLS on top when
// the output uses it.
func gatedDialer(lease sink.Lease, tlsCfg *tls.Config) func(ctx context.Context, network, host string) (net.Conn, error) {
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		if !lease.Valid() {
			return nil, pipeline.ErrDeposed
		}
		d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
		conn, err := d.DialContext(ctx, network, host)
		if err != nil {
			return nil, err
		}
		var c net.Conn = gatedConn{Conn: conn, lease: lease}
		if tlsCfg != nil {
			cfg := tlsCfg.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName, _, _ = net.SplitHostPort(host)
			}
			tc := tls.Client(c, cfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				tc.Close()
				return nil, err
			}
			c = tc
		}
		return c, nil
	}
}

// watchLease fails the output as soon as the lease is lost: every wait
// ends, nothing more is produced.
func (d *Destination) watchLease() {
	select {
	case <-d.o.Lease.Lost():
		d.fail(fmt.Errorf("kafka: %w (its lease is lost)", pipeline.ErrDeposed))
	case <-d.closed:
	}
}

// checkLease is the check before each send.
func (d *Destination) checkLease() error {
	if d.o.Lease != nil && !d.o.Lease.Valid() {
		err := fmt.Errorf("kafka: %w (its lease ran out)", pipeline.ErrDeposed)
		d.fail(err)
		return err
	}
	return nil
}

// fenced says whether err means another producer took the transactional id.
func fenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.InvalidProducerIDMapping)
}

// Fence takes the output over for this instance (pipeline.Fencer). In
// exactly-once mode it initialises the transactional id: the broker bumps
// its epoch, aborts the transaction the earlier holder left open and
// refuses that holder's writes from now on. In at-least-once mode it
// stores the position record again with the next epoch and this instance's
// name; the earlier holder stopped writing when its lease ran out.
func (d *Destination) Fence(ctx context.Context) (uint64, error) {
	if d.o.ExactlyOnce {
		var epoch int16
		err := d.retry(d.ctx, func(ctx context.Context) (err error) {
			_, epoch, err = d.cl.ProducerID(ctx)
			return err
		})
		if err != nil {
			return 0, explain(fmt.Errorf("kafka: start the transactional producer: %w", err))
		}
		d.epoch = uint64(epoch)
		d.log.Info("Kafka transactional id taken over: an earlier holder is fenced", "transactional_id", "bintap-"+d.posTopic, "producer_epoch", epoch)
		return d.epoch, nil
	}
	last, err := d.readPosition()
	if err != nil {
		return 0, err
	}
	var rec positionRecord
	if last != nil {
		rec = *last
	}
	d.epoch = rec.Epoch + 1
	rec.Epoch, rec.Holder = d.epoch, d.o.Lease.Instance()
	r, err := d.positionRecordOf(rec)
	if err != nil {
		return 0, err
	}
	if err := d.checkLease(); err != nil {
		return 0, err
	}
	d.cl.Produce(d.ctx, r, d.onDelivery)
	if err := d.wait(d.ctx, d.cl.Flush); err != nil {
		return 0, err
	}
	d.log.Info("Kafka position topic taken over", "topic", d.posTopic, "epoch", d.epoch, "previous_holder", last.holder())
	return d.epoch, nil
}

func (r *positionRecord) holder() string {
	if r == nil {
		return ""
	}
	return r.Holder
}

// positionRecordOf makes the record of a position (creating the position
// topic the first time).
func (d *Destination) positionRecordOf(rec positionRecord) (*kgo.Record, error) {
	if !d.known[d.posTopic] {
		if err := d.ensureTopic(d.ctx, d.adm, d.posTopic, 1, true); err != nil {
			return nil, err
		}
		d.known[d.posTopic] = true
	}
	rec.Written = time.Now().UTC()
	v, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{Topic: d.posTopic, Key: d.posKey, Value: v}, nil
}
