package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bintap/bintap/internal/position"
)

// Position reads the stream position stored in the position topic, as a
// read_committed consumer sees it: the last record of this stream's key. In
// exactly-once mode it first takes over the transactional id, which fences
// an earlier producer and aborts the transaction a crash left open. The
// pipeline drops the events the position covers.
func (d *Destination) Position(context.Context) (*position.Checkpoint, error) {
	if !d.o.ReadPosition {
		return nil, nil
	}
	if d.o.ExactlyOnce {
		err := d.retry(d.ctx, func(ctx context.Context) error {
			_, _, err := d.cl.ProducerID(ctx)
			return err
		})
		if err != nil {
			return nil, explain(fmt.Errorf("kafka: start the transactional producer: %w", err))
		}
	}
	rec, err := d.readPosition()
	if err != nil {
		return nil, err
	}
	var found *position.Checkpoint
	if rec != nil && rec.File != "" {
		found = &rec.Checkpoint
		d.log.Info("position recovered from Kafka", "topic", d.posTopic, "position", found.String(), "epoch", rec.Epoch, "holder", rec.Holder)
		d.mu.Lock()
		d.durable = *found
		d.mu.Unlock()
	}
	if !d.o.ExactlyOnce {
		// Also without a stored position: a first run killed before its
		// first checkpoint left messages that must not be sent twice.
		var from position.Checkpoint
		if found != nil {
			from = *found
		}
		if err := d.recoverHeld(from); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// readPosition reads this stream's position records as a read_committed
// consumer sees them: the newest position, with the highest epoch of any
// record (an epoch record written by Fence has no position). nil when there
// is none.
func (d *Destination) readPosition() (*positionRecord, error) {
	n, err := d.topicPartitions(d.ctx, d.adm, d.posTopic)
	if err != nil || n == 0 {
		return nil, err
	}
	ends, err := d.committedEnds(n)
	if err != nil {
		return nil, err
	}
	offsets := map[int32]kgo.Offset{}
	for p, end := range ends {
		if end > 0 {
			offsets[p] = kgo.NewOffset().AtStart()
		}
	}
	if len(offsets) == 0 {
		return nil, nil
	}
	opts := append(d.clientOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{d.posTopic: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // they carry offsets too: the end may be one
	)
	pc, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var found *positionRecord
	var epoch uint64
	for len(offsets) > 0 {
		fetches := pc.PollFetches(d.ctx)
		if err := d.err(); err != nil {
			return nil, err
		}
		var ferr error
		fetches.EachError(func(topic string, p int32, err error) {
			if !kerr.IsRetriable(err) && ferr == nil {
				ferr = explain(fmt.Errorf("kafka: read position topic %s partition %d: %w", topic, p, err))
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		var rerr error
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset >= ends[r.Partition]-1 {
				delete(offsets, r.Partition)
			}
			if r.Attrs.IsControl() || string(r.Key) != string(d.posKey) || rerr != nil {
				return
			}
			var rec positionRecord
			if err := json.Unmarshal(r.Value, &rec); err != nil || (rec.File == "" && rec.Epoch == 0) {
				rerr = fmt.Errorf("kafka: the position record at %s/%d@%d is not a bintap position (%v): use another kafka_position_topic or read_position_from_kafka=false", d.posTopic, r.Partition, r.Offset, err)
				return
			}
			epoch = max(epoch, rec.Epoch)
			if found == nil || found.File == "" || (rec.File != "" && found.Before(&rec.Checkpoint)) {
				found = &rec
			}
		})
		if rerr != nil {
			return nil, rerr
		}
	}
	if found != nil {
		found.Epoch = epoch
	}
	return found, nil
}

// committedEnds returns each partition's last stable offset: the end a
// read_committed consumer reads to.
func (d *Destination) committedEnds(n int) (map[int32]int64, error) {
	var ends map[int32]int64
	err := d.retry(d.ctx, func(ctx context.Context) error {
		listed, err := d.adm.ListCommittedOffsets(ctx, d.posTopic)
		if err != nil {
			return err
		}
		ends = map[int32]int64{}
		for p, o := range listed[d.posTopic] {
			if o.Err != nil {
				return fmt.Errorf("partition %d: %w", p, o.Err)
			}
			ends[p] = o.Offset
		}
		return nil
	})
	if err != nil {
		return nil, d.explain(fmt.Errorf("kafka: end offsets of %s: %w", d.posTopic, err))
	}
	if len(ends) != n {
		return nil, errors.New("kafka: end offsets: the broker did not answer for every partition")
	}
	return ends, nil
}
