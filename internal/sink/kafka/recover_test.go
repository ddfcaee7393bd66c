package kafka

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPartitionOfMatchesKafka: bintap's partition of a keyed record is the
// one Kafka's default partitioner (franz-go's copy of the Java client's
// murmur2) chooses.
func TestPartitionOfMatchesKafka(t *testing.T) {
	d := &Destination{parts: map[string]int32{"t": 7}}
	tp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := range 2000 {
		key := []byte(fmt.Sprintf(`{"id":%d}`, i))
		if i%50 == 0 {
			key = key[:i%7] // short keys: every tail length of murmur2
		}
		want := tp.Partition(&kgo.Record{Key: key}, 7)
		if got := d.partitionOf("t", key); int(got) != want {
			t.Fatalf("key %q: partition %d, Kafka's %d", key, got, want)
		}
	}
}

func TestMsgPosOrderAndParse(t *testing.T) {
	cases := []struct {
		a, b msgPos
		want int
	}{
		{msgPos{"b.000001", 100, 1, 0}, msgPos{"b.000002", 4, 1, 0}, -1},
		{msgPos{"b.000002", 100, 1, 0}, msgPos{"b.000002", 90, 9, 9}, 1},
		{msgPos{"b.000002", 100, 2, 0}, msgPos{"b.000002", 100, 1, 1}, 1},
		{msgPos{"b.000002", 100, 2, 0}, msgPos{"b.000002", 100, 2, 1}, -1},
		{msgPos{"b.000002", 100, 2, 1}, msgPos{"b.000002", 100, 2, 1}, 0},
	}
	for _, c := range cases {
		if got := c.a.compare(c.b); got != c.want {
			t.Errorf("%v vs %v: %d, want %d", c.a, c.b, got, c.want)
		}
		p, ok := parseMsgPos([]byte(c.a.String()))
		if !ok || p != c.a {
			t.Errorf("parse %q: %v %v", c.a.String(), p, ok)
		}
	}
	if _, ok := parseMsgPos([]byte("b.000001:x:1:0")); ok {
		t.Error("a bad position header parsed")
	}
}
