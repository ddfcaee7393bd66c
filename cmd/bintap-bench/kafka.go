package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// bintapKafka returns the measurement of the bintap binary streaming the
// workload to a Kafka broker: kfake, in this process, on a TCP port. The
// broker discards record bytes (BlackholeProduce) so that its memory does
// not grow with the workload; offsets still advance, which is how the
// delivered messages are counted.
func bintapKafka(binary string) func(ctx context.Context, w *workload) result {
	return func(ctx context.Context, w *workload) result {
		if why := bintapMissing(binary); why != "" {
			return result{unavailable: why}
		}
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.BlackholeProduce())
		if err != nil {
			return result{err: fmt.Errorf("start kfake: %w", err)}
		}
		defer cluster.Close()
		addr := cluster.ListenAddrs()[0]
		cmd, err := bintapCommand(ctx, binary, w.port, 4244, filepath.Join(w.tmpDir, "state-kafka"),
			"--start", "oldest",
			"--stop-at-end",
			"--output", "kafka://"+addr+"/bench",
			"--heartbeat-interval", "0")
		if err != nil {
			return result{err: err}
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		err = cmd.Run()
		elapsed := time.Since(start)
		if err != nil {
			return result{err: fmt.Errorf("bintap stream: %w", err), detail: stderr.String()}
		}
		n, err := endOffsets(ctx, addr, "bench")
		if err != nil {
			return result{err: err, detail: stderr.String()}
		}
		if n < int64(w.rows) {
			return result{err: fmt.Errorf("Kafka holds %d messages, want at least %d", n, w.rows), detail: stderr.String()}
		}
		return result{rows: int64(w.rows), elapsed: elapsed}
	}
}

// endOffsets sums the high watermarks of topic's partitions.
func endOffsets(ctx context.Context, addr, topic string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil || len(mresp.Topics) != 1 {
		return 0, fmt.Errorf("metadata of %s: %v", topic, err)
	}
	if err := kerr.ErrorForCode(mresp.Topics[0].ErrorCode); err != nil {
		return 0, fmt.Errorf("topic %s: %w", topic, err)
	}
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range mresp.Topics[0].Partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p.Partition, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	var n int64
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return 0, fmt.Errorf("end offset of %s/%d: %w", topic, p.Partition, err)
			}
			n += p.Offset
		}
	}
	return n, nil
}
