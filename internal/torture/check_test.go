package torture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bintap/bintap/internal/sink/files"
)

// output is one output the harness reads back. read returns everything the
// output holds so far; the readers of append-only outputs (file, Kafka,
// files) keep what they read and read only what is new on the next call.
type output struct {
	name        string
	exactlyOnce bool
	read        func() (*Tally, error)
	last        Result        // of the last check
	caughtUp    time.Duration // how long the last check waited for it
}

// lineReader reads the JSON lines of a file output's files incrementally:
// per file, up to its last complete line. see is given every line (the
// secrets grep).
type lineReader struct {
	dir string
	off map[string]int64
	tl  *Tally
	see func(where string, b []byte)
}

func newLineReader(dir string, see func(string, []byte)) *lineReader {
	return &lineReader{dir: dir, off: map[string]int64{}, tl: &Tally{Seen: map[string]int{}}, see: see}
}

func (r *lineReader) read() (*Tally, error) {
	paths, _ := filepath.Glob(filepath.Join(r.dir, "*"))
	sort.Strings(paths)
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(r.off[p], io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		raw, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		end := bytes.LastIndexByte(raw, '\n')
		if end < 0 {
			continue
		}
		raw = raw[:end+1]
		r.off[p] += int64(len(raw))
		for _, line := range bytes.Split(raw, []byte{'\n'}) {
			if r.see != nil {
				r.see(p, line)
			}
			var rec record
			if json.Unmarshal(line, &rec) == nil {
				r.tl.add(rec.identity())
			}
		}
	}
	return r.tl, nil
}

// kafkaReader reads a topic incrementally: from where the last call
// stopped to the end offsets of now (the last stable offset with
// committed, as a read_committed consumer).
type kafkaReader struct {
	topic     string
	committed bool
	opts      []kgo.Opt
	next      map[int32]int64
	tl        *Tally
	see       func(where string, b []byte)
}

func newKafkaReader(topic string, committed bool, see func(string, []byte), opts ...kgo.Opt) *kafkaReader {
	return &kafkaReader{topic: topic, committed: committed, opts: opts, next: map[int32]int64{}, tl: &Tally{Seen: map[string]int{}}, see: see}
}

func (r *kafkaReader) read() (*Tally, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := kgo.NewClient(r.opts...)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(admin)
	list := adm.ListEndOffsets
	if r.committed {
		list = adm.ListCommittedOffsets
	}
	listed, err := list(ctx, r.topic)
	admin.Close()
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", r.topic, err)
	}
	ends := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	var lerr error
	listed.Each(func(o kadm.ListedOffset) {
		switch {
		case errors.Is(o.Err, kerr.UnknownTopicOrPartition):
		case o.Err != nil:
			lerr = fmt.Errorf("end offset of %s/%d: %w", r.topic, o.Partition, o.Err)
		case o.Offset > r.next[o.Partition]:
			ends[o.Partition] = o.Offset
			from[o.Partition] = kgo.NewOffset().At(r.next[o.Partition])
		}
	})
	if lerr != nil {
		return nil, lerr
	}
	if len(from) == 0 {
		return r.tl, nil
	}
	copts := append(append([]kgo.Opt{}, r.opts...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.topic: from}), kgo.KeepControlRecords())
	if r.committed {
		copts = append(copts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(copts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	// What this call reads is counted only once it is whole: a failed
	// call leaves the reader where it was.
	var got []string
	var fetchErr error
	for len(from) > 0 && fetchErr == nil {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("read %s: partitions left %v by the deadline", r.topic, from)
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !kerr.IsRetriable(err) && !errors.Is(err, context.DeadlineExceeded) {
				fetchErr = fmt.Errorf("read %s/%d: %w", r.topic, p, err)
			}
		})
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset >= ends[rec.Partition]-1 {
				delete(from, rec.Partition)
			}
			if rec.Offset < ends[rec.Partition] && !rec.Attrs.IsControl() {
				if r.see != nil {
					r.see("kafka "+r.topic+" key", rec.Key)
					r.see("kafka "+r.topic+" value", rec.Value)
				}
				var v record
				if json.Unmarshal(rec.Value, &v) == nil {
					got = append(got, v.identity())
				}
			}
		})
	}
	if fetchErr != nil {
		return nil, fetchErr
	}
	for _, k := range got {
		r.tl.add(k)
	}
	for p, e := range ends {
		r.next[p] = e
	}
	return r.tl, nil
}

// filesReader reads the closed files of a files output, each once.
type filesReader struct {
	dir  string
	done map[string]bool
	tl   *Tally
}

func newFilesReader(dir string) *filesReader {
	return &filesReader{dir: dir, done: map[string]bool{}, tl: &Tally{Seen: map[string]int{}}}
}

func (r *filesReader) read() (*Tally, error) {
	es, err := files.ReadManifest(r.dir)
	if err != nil {
		if strings.Contains(err.Error(), "no window has closed yet") {
			return r.tl, nil
		}
		return nil, err
	}
	for _, e := range es {
		if e.Database != "w" || r.done[e.File] {
			continue
		}
		idCol, nCol := -1, -1
		for i, c := range e.Definition.Columns {
			switch c.Name {
			case "id":
				idCol = i
			case "n":
				nCol = i
			}
		}
		var got []string
		err := files.Read(r.dir, e, func(rec *files.Record) error {
			if rec.Row == nil || idCol < 0 {
				return nil
			}
			var n int64
			if nCol >= 0 {
				n = rec.Row[nCol].Int
			}
			typ := map[byte]string{'c': "insert", 'u': "update_after", 'd': "delete"}[rec.Op]
			got = append(got, Identity(e.Table, typ, rec.Row[idCol].Int, n))
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, k := range got {
			r.tl.add(k)
		}
		r.done[e.File] = true
	}
	return r.tl, nil
}

// checker runs the checks after each restart and at the end: it takes
// the changes the source holds now and waits until every output holds
// them all (it caught up), then counts repeats: none may be twice where
// exactly once is promised.
type checker struct {
	ctx     context.Context
	want    func() (map[string]bool, error)
	outputs []*output
	// poll is called while waiting (restart a stream that stopped).
	poll func()
	// logs is what the streams said, for a failure message.
	logs func() string
	// hold slows the workload to a trickle (true) and resumes it: a check
	// waits for the outputs to catch up with the source without the
	// source running away.
	hold func(bool)

	Checks     int
	MaxCatchUp time.Duration
	Failed     int
}

// check waits until every output holds every change the source held when
// it was called; label names the moment in messages. It returns false
// (after reporting) when an output did not catch up or repeated a change
// it promises exactly once.
func (c *checker) check(t *testing.T, label string, final bool) bool {
	t.Helper()
	if c.hold != nil {
		c.hold(true)
		defer c.hold(false)
	}
	want, err := c.want()
	if err != nil {
		t.Errorf("%s: the source's changes: %v", label, err)
		return false
	}
	start := time.Now()
	deadline := start.Add(max(3*time.Minute, time.Duration(len(want)/50000)*time.Minute))
	pending := append([]*output(nil), c.outputs...)
	ok := true
	for len(pending) > 0 {
		var left []*output
		var errs []string
		for _, o := range pending {
			tl, err := o.read()
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", o.name, err))
				left = append(left, o)
				continue
			}
			res := tl.Compare(want)
			o.last = res
			if res.Missing > 0 {
				left = append(left, o)
				continue
			}
			o.caughtUp = time.Since(start)
			if o.exactlyOnce && res.Repeats > 0 {
				t.Errorf("%s: %s promises exactly once and holds %d repeats", label, o.name, res.Repeats)
				ok = false
			}
			if final && res.Extra > 0 {
				t.Errorf("%s: %s holds %d changes the source does not", label, o.name, res.Extra)
				ok = false
			}
		}
		pending = left
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, o := range pending {
				t.Errorf("%s: %s did not catch up in %s: %d of %d changes missing, such as %v (errors: %v)",
					label, o.name, time.Since(start).Round(time.Second), o.last.Missing, len(want), o.last.MissingSample, errs)
			}
			t.Logf("the streams said:\n%s", c.logs())
			c.Failed++
			return false
		}
		if c.poll != nil {
			c.poll()
		}
		time.Sleep(time.Second)
	}
	took := time.Since(start)
	c.Checks++
	c.MaxCatchUp = max(c.MaxCatchUp, took)
	var reps []string
	for _, o := range c.outputs {
		reps = append(reps, fmt.Sprintf("%s %d (%.0fs)", o.name, o.last.Repeats, o.caughtUp.Seconds()))
	}
	t.Logf("check %d (%s): %d changes in every output after %s; repeats (and seconds to catch up): %s", c.Checks, label, len(want), took.Round(100*time.Millisecond), strings.Join(reps, ", "))
	if !ok {
		c.Failed++
	}
	return ok
}
