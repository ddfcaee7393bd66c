package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The latency measurement, commit → delivered. Writers commit one-row
// transactions into bench.latency on a fixed schedule; bintap streams them
// from --start newest to one output, which this process reads as it
// arrives, and go-mysql's BinlogSyncer reads the same rows in the same run
// (the floor). Each row carries its id; its latency is the time a reader saw
// the id minus the time its COMMIT returned, both on this process's
// monotonic clock. The binlog may reach a reader before the client's OK, so
// a latency can be slightly negative.

const createLatencyTable = `CREATE TABLE bench.latency (
  id   BIGINT NOT NULL PRIMARY KEY,
  qty  INT NOT NULL,
  note VARCHAR(64) NOT NULL
) ENGINE=InnoDB`

const (
	latencyWarmUp  = time.Second      // written at the rate before the measured rows
	latencyReady   = 30 * time.Second // for every reader to see a probe row
	latencyDrain   = 15 * time.Second // after the writers stop; rows not seen by then are missing
	latencyWriters = 4                // connections the writers commit from
	bintapServerID = 4245
	floorServerID  = 4246
)

// missing stands for the latency of a row that was not delivered: longer
// than any delivered row's.
const missing = time.Duration(math.MaxInt64)

// latencyOutput is a bintap output whose delivery latency is measured.
type latencyOutput struct {
	key, name string
	// The target: p99 at most targetP99 at targetRate commits/s.
	targetRate int
	targetP99  time.Duration
	// attach starts reading what bintap writes to the output into rec. It
	// returns bintap's --output value, the writer for bintap's standard
	// output (nil discards it), and stop, which ends the reading and waits
	// for it.
	attach func(ctx context.Context, rec *arrivals) (output string, stdout io.Writer, stop func() error, err error)
}

var latencyOutputs = []latencyOutput{
	{key: "ls", name: "bintap stream → stdout (pipe)", targetRate: 1000, targetP99: 25 * time.Millisecond, attach: attachStdout},
	{key: "lk", name: "bintap stream → Kafka (kfake, franz-go consumer)", targetRate: 5000, targetP99: 15 * time.Millisecond, attach: attachKafka},
}

// latencyEnv is what the latency runs share.
type latencyEnv struct {
	db      *sql.DB
	port    int
	dir     string
	binary  string
	rates   []int
	measure time.Duration
	runs    int // runs so far; each writes its own id range
}

// latencyStats are one reader's latencies over the measured rows of a run.
type latencyStats struct {
	written, delivered int
	p50, p99           time.Duration // missing when the rank falls on a missing row
	max                time.Duration // of the delivered rows
	unreadable         int64         // records that did not parse
}

// latencyResult is one run: one output at one rate.
type latencyResult struct {
	rate          int     // commits/s asked for
	achieved      float64 // commits/s of the measured rows
	bintap, floor latencyStats
	err           error
	detail        string
}

// arrivals records when one reader saw each row of a run: ids base+1 to
// base+len(at), of which the first warm are the warm-up.
type arrivals struct {
	base       int64
	warm       int
	at         []time.Time
	got        atomic.Int64 // measured rows seen
	unreadable atomic.Int64
	ready      chan struct{} // closed at the first row seen, probes included
	once       sync.Once
}

func newArrivals(base int64, n, warm int) *arrivals {
	return &arrivals{base: base, warm: warm, at: make([]time.Time, n), ready: make(chan struct{})}
}

// arrive records that row id was seen at t; only the first sighting counts.
func (a *arrivals) arrive(id int64, t time.Time) {
	a.once.Do(func() { close(a.ready) })
	i := id - a.base - 1
	if i < 0 || i >= int64(len(a.at)) || !a.at[i].IsZero() {
		return // a probe, or a repeat
	}
	a.at[i] = t
	if i >= int64(a.warm) {
		a.got.Add(1)
	}
}

// record takes one MaxScale JSON record; insert rows of bench.latency count,
// schema records and other tables are skipped.
func (a *arrivals) record(b []byte, t time.Time) {
	var r struct {
		EventType string `json:"event_type"`
		Table     string `json:"table_name"`
		ID        *int64 `json:"id"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		a.unreadable.Add(1)
		return
	}
	if r.EventType == "insert" && r.Table == "latency" && r.ID != nil {
		a.arrive(*r.ID, t)
	}
}

// stats are the latencies of the measured rows committed in commits, with
// rows seen after cutoff counted as missing.
func (a *arrivals) stats(commits []time.Time, cutoff time.Time) latencyStats {
	s := latencyStats{unreadable: a.unreadable.Load()}
	var lat []time.Duration
	for i := a.warm; i < len(commits); i++ {
		if commits[i].IsZero() {
			continue // not written
		}
		d := missing
		if at := a.at[i]; !at.IsZero() && !at.After(cutoff) {
			d = at.Sub(commits[i])
			s.delivered++
			s.max = max(s.max, d)
		}
		lat = append(lat, d)
	}
	s.written = len(lat)
	if s.written > 0 {
		slices.Sort(lat)
		s.p50, s.p99 = percentile(lat, 50), percentile(lat, 99)
	}
	return s
}

// percentile is the nearest-rank p-th percentile of sorted, non-empty d.
func percentile(d []time.Duration, p int) time.Duration {
	return d[max((len(d)*p+99)/100-1, 0)]
}

// lineWriter hands each complete line written to it to rec, stamped with
// the time of the write that completed it.
type lineWriter struct {
	rec  *arrivals
	part []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	t := time.Now()
	n := len(p)
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.part = append(l.part, p...)
			return n, nil
		}
		line := p[:i]
		if len(l.part) > 0 {
			l.part = append(l.part, line...)
			line = l.part
		}
		l.rec.record(line, t)
		l.part, p = l.part[:0], p[i+1:]
	}
}

func attachStdout(_ context.Context, rec *arrivals) (string, io.Writer, func() error, error) {
	return "-", &lineWriter{rec: rec}, func() error { return nil }, nil
}

// attachKafka starts a kfake broker with the topic and consumes it from the
// start with franz-go's defaults; a fetch returns as soon as records arrive.
func attachKafka(ctx context.Context, rec *arrivals) (string, io.Writer, func() error, error) {
	const topic = "latency"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic))
	if err != nil {
		return "", nil, nil, fmt.Errorf("start kfake: %w", err)
	}
	addr := cluster.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		cluster.Close()
		return "", nil, nil, fmt.Errorf("Kafka consumer: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		var first error
		for {
			fs := cl.PollFetches(ctx)
			t := time.Now()
			if ctx.Err() != nil {
				done <- first
				return
			}
			fs.EachError(func(_ string, _ int32, err error) {
				if first == nil {
					first = fmt.Errorf("Kafka consumer: %w", err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) { rec.record(r.Value, t) })
		}
	}()
	stop := func() error {
		cancel()
		err := <-done
		cl.Close()
		cluster.Close()
		return err
	}
	return "kafka://" + addr + "/" + topic, nil, stop, nil
}

// startFloor reads the binlog from pos with go-mysql's BinlogSyncer, as its
// users run it, recording the rows of bench.latency in rec until ctx ends;
// wait returns what ended it early, if anything.
func startFloor(ctx context.Context, port int, pos mysql.Position, rec *arrivals) (wait func() error, err error) {
	syncer := replication.NewBinlogSyncer(syncerConfig(port, floorServerID))
	streamer, err := syncer.StartSync(pos)
	if err != nil {
		syncer.Close()
		return nil, fmt.Errorf("go-mysql start sync at %s: %w", pos, err)
	}
	done := make(chan error, 1)
	go func() {
		defer syncer.Close()
		for {
			ev, err := streamer.GetEvent(ctx)
			if err != nil {
				if ctx.Err() != nil {
					err = nil
				}
				done <- err
				return
			}
			e, ok := ev.Event.(*replication.RowsEvent)
			if !ok || e.Type() != replication.EnumRowsEventTypeInsert || string(e.Table.Schema) != "bench" || string(e.Table.Table) != "latency" {
				continue
			}
			t := time.Now()
			for _, row := range e.Rows {
				if id, ok := row[0].(int64); ok {
					rec.arrive(id, t)
				}
			}
		}
	}()
	return func() error { return <-done }, nil
}

// binlogEnd is the server's current binlog position.
func binlogEnd(ctx context.Context, db *sql.DB) (mysql.Position, error) {
	var pos mysql.Position
	var doDB, ignoreDB sql.NullString
	if err := db.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&pos.Name, &pos.Pos, &doDB, &ignoreDB); err != nil {
		return pos, fmt.Errorf("show master status: %w", err)
	}
	return pos, nil
}

// process is a running bintap whose exit is watched.
type process struct {
	cancel context.CancelFunc
	stderr bytes.Buffer
	exited chan struct{} // closed when it has exited
	err    error         // its exit status, once exited
}

// startProcess starts the command made by cmd with a context that stop
// cancels: SIGTERM, then SIGKILL 10 s later.
func startProcess(ctx context.Context, cmd func(context.Context) (*exec.Cmd, error), stdout io.Writer) (*process, error) {
	ctx, cancel := context.WithCancel(ctx)
	c, err := cmd(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	p := &process{cancel: cancel, exited: make(chan struct{})}
	c.Stdout, c.Stderr = stdout, &p.stderr
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = 10 * time.Second
	if err := c.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start bintap: %w", err)
	}
	go func() {
		p.err = c.Wait()
		close(p.exited)
	}()
	return p, nil
}

// stop ends the process and waits for it, and for its output to be read.
func (p *process) stop() {
	p.cancel()
	<-p.exited
}

// failure is the result of a run in which bintap exited by itself.
func (p *process) failure(rate int) latencyResult {
	<-p.exited
	return latencyResult{rate: rate, err: fmt.Errorf("bintap stream exited during the run: %v", p.err), detail: p.stderr.String()}
}

var errExited = errors.New("bintap exited")

// probe inserts a row every 250 ms, ids from id on, until every reader has
// seen one: then they are connected and streaming.
func probe(ctx context.Context, db *sql.DB, id int64, exited <-chan struct{}, recs ...*arrivals) error {
	deadline := time.NewTimer(latencyReady)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for ; ; id++ {
		if _, err := db.ExecContext(ctx, "INSERT INTO bench.latency (id, qty, note) VALUES (?, 0, 'probe')", id); err != nil {
			return fmt.Errorf("probe row: %w", err)
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return fmt.Errorf("no probe row delivered by every reader within %s", latencyReady)
		case <-exited:
			return errExited
		case <-ctx.Done():
			return ctx.Err()
		}
		ready := true
		for _, r := range recs {
			select {
			case <-r.ready:
			default:
				ready = false
			}
		}
		if ready {
			return nil
		}
	}
}

// writeAtRate commits len(commits) one-row transactions, ids base+1 on, one
// every 1/rate s on a fixed schedule, from latencyWriters connections, and
// records when each COMMIT returned. Writers that fall behind go on without
// pause; at twice the schedule's length they give up, and the slots not
// written keep a zero time.
func writeAtRate(ctx context.Context, db *sql.DB, base int64, rate int, commits []time.Time) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	period := time.Second / time.Duration(rate)
	start := time.Now()
	giveUp := start.Add(2 * time.Duration(len(commits)) * period)
	var next atomic.Int64
	write := func() error {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		stmt, err := conn.PrepareContext(ctx, "INSERT INTO bench.latency (id, qty, note) VALUES (?, ?, 'latency row')")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for {
			i := next.Add(1) - 1
			if i >= int64(len(commits)) || time.Now().After(giveUp) {
				return nil
			}
			time.Sleep(time.Until(start.Add(time.Duration(i) * period)))
			if _, err := stmt.ExecContext(ctx, base+i+1, i); err != nil {
				return fmt.Errorf("insert id %d: %w", base+i+1, err)
			}
			commits[i] = time.Now()
		}
	}
	var wg sync.WaitGroup
	for range latencyWriters {
		wg.Go(func() {
			if err := write(); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// achievedRate is the commit rate of the measured rows, commits[warm:].
func achievedRate(commits []time.Time, warm int) float64 {
	var first, last time.Time
	n := 0
	for _, t := range commits[warm:] {
		if t.IsZero() {
			continue
		}
		if n == 0 || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
		n++
	}
	if n < 2 || !last.After(first) {
		return 0
	}
	return float64(n-1) / last.Sub(first).Seconds()
}

// measureLatency runs output o at rate commits/s next to the floor.
func (e *latencyEnv) measureLatency(ctx context.Context, o latencyOutput, rate int) latencyResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.runs++
	base := int64(e.runs) * 1_000_000_000
	warm := int(int64(rate) * int64(latencyWarmUp) / int64(time.Second))
	n := warm + int(int64(rate)*int64(e.measure)/int64(time.Second))
	bt, fl := newArrivals(base, n, warm), newArrivals(base, n, warm)
	fail := func(err error) latencyResult { return latencyResult{rate: rate, err: err} }

	pos, err := binlogEnd(ctx, e.db)
	if err != nil {
		return fail(err)
	}
	waitFloor, err := startFloor(ctx, e.port, pos, fl)
	if err != nil {
		return fail(err)
	}
	waitFloor = sync.OnceValue(waitFloor)
	defer func() {
		cancel()
		_ = waitFloor() // reported after a run that got that far
	}()
	output, stdout, stopOutput, err := o.attach(ctx, bt)
	if err != nil {
		return fail(err)
	}
	stopOutput = sync.OnceValue(stopOutput)
	defer func() { _ = stopOutput() }()
	p, err := startProcess(ctx, func(ctx context.Context) (*exec.Cmd, error) {
		return bintapCommand(ctx, e.binary, e.port, bintapServerID, filepath.Join(e.dir, "latency-state"),
			"--start", "newest", "--snapshot", "never", "--tables", "bench.latency", "--output", output)
	}, stdout)
	if err != nil {
		return fail(err)
	}
	defer p.stop()

	if err := probe(ctx, e.db, base+int64(n)+1, p.exited, bt, fl); err != nil {
		if errors.Is(err, errExited) {
			return p.failure(rate)
		}
		p.stop()
		return latencyResult{rate: rate, err: err, detail: p.stderr.String()}
	}
	commits := make([]time.Time, n)
	if err := writeAtRate(ctx, e.db, base, rate, commits); err != nil {
		return fail(fmt.Errorf("writer: %w", err))
	}
	want := int64(0)
	for _, t := range commits[warm:] {
		if !t.IsZero() {
			want++
		}
	}
	drain := time.NewTimer(latencyDrain)
	defer drain.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for bt.got.Load() < want || fl.got.Load() < want {
		select {
		case <-tick.C:
		case <-drain.C:
			break wait
		case <-p.exited:
			return p.failure(rate)
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	}
	cutoff := time.Now()
	p.stop()
	r := latencyResult{rate: rate, achieved: achievedRate(commits, warm)}
	r.err = stopOutput()
	cancel()
	if err := waitFloor(); err != nil && r.err == nil {
		r.err = fmt.Errorf("go-mysql: %w", err)
	}
	r.bintap, r.floor = bt.stats(commits, cutoff), fl.stats(commits, cutoff)
	if r.bintap.delivered < r.bintap.written {
		r.detail = p.stderr.String()
	}
	return r
}

// printLatency prints the latency rows and their targets.
func printLatency(out io.Writer, measure time.Duration, outputs []latencyOutput, rs map[string][]latencyResult) {
	fmt.Fprintf(out, "\nlatency, commit → delivered: one-row INSERT transactions on a fixed schedule from %d connections, %s warm-up then %s measured per rate;\n"+
		"bintap from --start newest, its output read as it arrives; go-mysql's BinlogSyncer (the floor) reads the same rows in the same run;\n"+
		"a row not delivered %s after the writers stop is missing (and ranks above every delivered row)\n\n",
		latencyWriters, latencyWarmUp, measure, latencyDrain)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tmeasurement\tcommits/s asked\treached\tdelivered\tp50 ms\tp99 ms\tmax ms\t")
	row := func(key, name string, r latencyResult, s latencyStats) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%d/%d\t%s\t%s\t%s\t", key, name, r.rate, r.achieved, s.delivered, s.written, millis(s.p50), millis(s.p99), millis(s.max))
		if s.unreadable > 0 {
			fmt.Fprintf(tw, "%d unreadable records", s.unreadable)
		}
		fmt.Fprintln(tw)
	}
	for _, o := range outputs {
		for _, r := range rs[o.key] {
			if r.err != nil && r.bintap.written == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%d\t\t\t\t\t\tfailed: %v\n", o.key, o.name, r.rate, r.err)
				continue
			}
			row(o.key, o.name, r, r.bintap)
			row("", "go-mysql BinlogSyncer, same rows (floor)", r, r.floor)
			if r.err != nil {
				fmt.Fprintf(tw, "\t\t\t\t\t\t\t\tfailed: %v\n", r.err)
			}
		}
	}
	tw.Flush()
	fmt.Fprintln(out)
	for _, o := range outputs {
		for _, r := range rs[o.key] {
			if r.rate != o.targetRate || r.bintap.written == 0 {
				continue
			}
			verdict := "NOT MET"
			if r.bintap.p99 <= o.targetP99 {
				verdict = "MET"
			}
			fmt.Fprintf(out, "target %s p99 <= %d ms at %d commits/s: %s (p99 %s, %d/%d delivered, %.0f commits/s reached; floor p99 %s)\n",
				o.key, o.targetP99.Milliseconds(), o.targetRate, verdict, withUnit(r.bintap.p99), r.bintap.delivered, r.bintap.written, r.achieved, withUnit(r.floor.p99))
		}
	}
}

// withUnit is millis with its unit.
func withUnit(d time.Duration) string {
	if d == missing {
		return "missing (rows not delivered)"
	}
	return millis(d) + " ms"
}

// millis prints d in milliseconds, or "missing".
func millis(d time.Duration) string {
	if d == missing {
		return "missing"
	}
	return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000)
}
