package kafka

// Recovery from what reached the partitions (at-least-once): every data
// message carries its position in a header (bintap.position:
// FILE:POS:EVENT_NUMBER:INDEX, the transaction's binlog coordinates, the row
// image inside it and the data message of the event), and bintap chooses
// each message's partition itself (Kafka's murmur2 of the key). On start,
// after the stored position is read, the newest positioned message of every
// partition is read back; the stream resumes from the stored position and
// drops each message whose partition already holds it. A kill -9 then
// repeats only what was sent but not acknowledged, not everything since the
// last position record.

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bintap/bintap/internal/position"
)

// Header names.
const (
	headerPosition = "bintap.position"
	headerEpoch    = "bintap.epoch"
)

// msgPos orders the data messages of a stream.
type msgPos struct {
	file string
	pos  uint32
	num  uint64 // event number (row image) inside the transaction
	idx  uint32 // data message of the event
}

func (a msgPos) compare(b msgPos) int {
	if c := position.Compare(a.file, a.pos, b.file, b.pos); c != 0 {
		return c
	}
	switch {
	case a.num != b.num:
		if a.num < b.num {
			return -1
		}
		return 1
	case a.idx != b.idx:
		if a.idx < b.idx {
			return -1
		}
		return 1
	}
	return 0
}

func (a msgPos) String() string { return fmt.Sprintf("%s:%d:%d:%d", a.file, a.pos, a.num, a.idx) }

func parseMsgPos(v []byte) (msgPos, bool) {
	parts := strings.Split(string(v), ":")
	if len(parts) < 4 {
		return msgPos{}, false
	}
	n := len(parts)
	pos, err1 := strconv.ParseUint(parts[n-3], 10, 32)
	num, err2 := strconv.ParseUint(parts[n-2], 10, 64)
	idx, err3 := strconv.ParseUint(parts[n-1], 10, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return msgPos{}, false
	}
	return msgPos{file: strings.Join(parts[:n-3], ":"), pos: uint32(pos), num: num, idx: uint32(idx)}, true
}

// addHeaders adds the position header of a data message (mp, zero for
// other records) and, in an HA group, the epoch header of every record;
// their bytes are appended to buf.
func (d *Destination) addHeaders(a *arena, r *kgo.Record, mp msgPos) {
	h := len(a.headers)
	if mp.file != "" {
		// "FILE:POS:" is the same for every message of a transaction.
		if mp.file != d.hdrFile || mp.pos != d.hdrPos || d.hdrPrefix == nil {
			d.hdrFile, d.hdrPos = mp.file, mp.pos
			d.hdrPrefix = append(d.hdrPrefix[:0], mp.file...)
			d.hdrPrefix = append(d.hdrPrefix, ':')
			d.hdrPrefix = strconv.AppendUint(d.hdrPrefix, uint64(mp.pos), 10)
			d.hdrPrefix = append(d.hdrPrefix, ':')
		}
		start := len(a.buf)
		buf := append(a.buf, d.hdrPrefix...)
		buf = strconv.AppendUint(buf, mp.num, 10)
		buf = append(buf, ':')
		buf = strconv.AppendUint(buf, uint64(mp.idx), 10)
		a.buf = buf
		a.headers = append(a.headers, kgo.RecordHeader{Key: headerPosition, Value: buf[start:len(buf):len(buf)]})
	}
	if d.o.Lease != nil {
		start := len(a.buf)
		a.buf = strconv.AppendUint(a.buf, d.epoch, 10)
		a.headers = append(a.headers, kgo.RecordHeader{Key: headerEpoch, Value: a.buf[start:len(a.buf):len(a.buf)]})
	}
	if len(a.headers) > h {
		r.Headers = a.headers[h:len(a.headers):len(a.headers)]
	}
}

// partitionOf is the partition of a record: Kafka's default for a key
// (murmur2, high bit cleared, modulo the partitions); records with a null
// key go where their topic's name hashes, so that they keep their order.
func (d *Destination) partitionOf(topic string, key []byte) int32 {
	// The topic of the previous record, most often the same: no map lookup
	// (a string hash) per record.
	if topic != d.lastTopic {
		d.lastTopic, d.lastParts = topic, d.parts[topic]
	}
	n := d.lastParts
	if n <= 1 {
		return 0
	}
	if key == nil {
		key = []byte(topic)
	}
	return int32(murmur2(key)&0x7fffffff) % n
}

// isHeld reports whether the partition held the message at start. Once the
// stream is past every held message, the check is switched off.
func (d *Destination) isHeld(topic string, p int32, mp msgPos) bool {
	if mp.compare(d.heldUntil) > 0 {
		d.held = nil
		d.log.Info("recovery done: the stream is past every message the partitions held", "messages_not_repeated", d.dropped)
		return false
	}
	hs := d.held[topic]
	if int(p) >= len(hs) || hs[p].file == "" || mp.compare(hs[p]) > 0 {
		return false
	}
	d.dropped++
	return true
}

// topicPattern matches the topics a template renders.
func topicPattern(tmpl, prefix string) *regexp.Regexp {
	q := regexp.QuoteMeta(strings.ReplaceAll(tmpl, "{prefix}", prefix))
	q = strings.ReplaceAll(q, regexp.QuoteMeta("{database}"), `[A-Za-z0-9._-]+`)
	q = strings.ReplaceAll(q, regexp.QuoteMeta("{table}"), `[A-Za-z0-9._-]+`)
	return regexp.MustCompile("^" + q + "$")
}

// recoverHeld reads the newest positioned message of every partition of the
// stream's topics, and keeps those past the stored position cp: the
// messages the stream must not send again.
func (d *Destination) recoverHeld(cp position.Checkpoint) error {
	var topics kadm.TopicDetails
	err := d.retry(d.ctx, func(ctx context.Context) (err error) {
		topics, err = d.adm.ListTopics(ctx)
		return err
	})
	if err != nil {
		return d.explain(fmt.Errorf("kafka: list topics: %w", err))
	}
	pat := topicPattern(d.o.Topic, d.o.Prefix)
	var names []string
	for name := range topics {
		if pat.MatchString(name) && name != d.posTopic {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	var ends kadm.ListedOffsets
	err = d.retry(d.ctx, func(ctx context.Context) (err error) {
		ends, err = d.adm.ListEndOffsets(ctx, names...)
		return err
	})
	if err != nil {
		return d.explain(fmt.Errorf("kafka: end offsets: %w", err))
	}
	// Read the last few records of every partition that has any.
	const tail = 32
	want := map[string]map[int32]kgo.Offset{}
	last := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset <= 0 {
			return
		}
		if want[o.Topic] == nil {
			want[o.Topic], last[o.Topic] = map[int32]kgo.Offset{}, map[int32]int64{}
		}
		want[o.Topic][o.Partition] = kgo.NewOffset().At(max(0, o.Offset-tail))
		last[o.Topic][o.Partition] = o.Offset - 1
	})
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(d.clientOpts(), kgo.ConsumePartitions(want))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	start := msgPos{file: cp.File, pos: cp.Pos, num: cp.Skip, idx: ^uint32(0)}
	held := map[string][]msgPos{}
	ctx, cancel := context.WithTimeout(d.ctx, 2*time.Minute)
	defer cancel()
	left := 0
	for _, ps := range want {
		left += len(ps)
	}
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("kafka: read the newest messages of %d partitions: %w", left, context.Cause(ctx))
		}
		fs.EachRecord(func(r *kgo.Record) {
			lastOff, ok := last[r.Topic][r.Partition]
			if !ok {
				return
			}
			for _, h := range r.Headers {
				if h.Key != headerPosition {
					continue
				}
				if mp, ok := parseMsgPos(h.Value); ok && mp.compare(start) > 0 {
					hs := held[r.Topic]
					for len(hs) <= int(r.Partition) {
						hs = append(hs, msgPos{})
					}
					if hs[r.Partition].file == "" || mp.compare(hs[r.Partition]) > 0 {
						hs[r.Partition] = mp
					}
					held[r.Topic] = hs
				}
			}
			if r.Offset >= lastOff {
				delete(last[r.Topic], r.Partition)
				left--
			}
		})
	}
	var until msgPos
	n := 0
	for _, hs := range held {
		for _, mp := range hs {
			if mp.file != "" {
				n++
				if until.file == "" || mp.compare(until) > 0 {
					until = mp
				}
			}
		}
	}
	if n > 0 {
		d.held, d.heldUntil = held, until
		d.log.Info("Kafka partitions hold messages past the stored position: those are not sent again", "partitions", n, "newest", until.String(), "stored_position", cp.String())
	}
	return nil
}

// murmur2 is Kafka's murmur2 hash (the Java client's Utils.murmur2).
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(data))
	for len(data) >= 4 {
		k := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		data = data[4:]
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
