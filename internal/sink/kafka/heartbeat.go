package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bintap/bintap/internal/position"
)

// heartbeat is the value of a heartbeat message.
type heartbeat struct {
	Server string `json:"server"`
	TsMs   int64  `json:"ts_ms"`
	// Position is the last position stored in Kafka (null before the first).
	Position *position.Checkpoint `json:"position"`
}

// heartbeats sends a heartbeat every interval until Close, on a client of
// its own: it must not join a transaction of the data client, and it must
// never wait for a broker (a missed heartbeat is replaced by the next one).
func (d *Destination) heartbeats() {
	defer close(d.hbDone)
	t := time.NewTicker(d.o.HeartbeatInterval)
	defer t.Stop()
	topic := strings.ReplaceAll(d.o.HeartbeatTopic, "{prefix}", d.o.Prefix)
	created := false
	for {
		select {
		case <-d.closed:
			return
		case <-t.C:
		}
		if !created {
			ctx, cancel := context.WithTimeout(context.Background(), d.o.HeartbeatInterval)
			stop := context.AfterFunc(d.ctx, cancel) // also ends at Close
			err := d.ensureTopic(ctx, d.hbAdm, topic, 1, false)
			stop()
			cancel()
			if ke, ok := errors.AsType[*kerr.Error](err); ok && !ke.Retriable {
				d.log.Warn("Kafka heartbeats off: their topic cannot be used", "topic", topic, "err", explain(err))
				return
			}
			if err != nil {
				d.log.Debug("heartbeat topic not ready", "topic", topic, "err", err)
				continue
			}
			created = true
		}
		hb := heartbeat{Server: d.o.Server, TsMs: time.Now().UnixMilli()}
		d.mu.Lock()
		if d.durable.File != "" {
			cp := d.durable
			hb.Position = &cp
		}
		d.mu.Unlock()
		v, _ := json.Marshal(hb)
		d.hb.TryProduce(context.Background(), &kgo.Record{Topic: topic, Key: []byte(d.o.Server), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				d.log.Debug("heartbeat not sent", "err", err)
			}
		})
	}
}
