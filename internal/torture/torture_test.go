package torture

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bintap/bintap/internal/sink/kafka"
	"github.com/bintap/bintap/internal/testutil"
)

// binary is bintap, built once.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bintap-torture-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "bintap")
	built := filepath.Join(dir, "bintap-linked")
	if out, err := exec.Command("go", "build", "-o", built, "../../cmd/bintap").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build bintap: %v\n%s", err, out)
		os.Exit(1)
	}
	// A copy, not the linker's file: a process started from the file the
	// linker wrote maps it in large folios and reads ~20 MB more RSS
	// (docs/operations.md, Peak RSS), which the outages measure.
	if out, err := exec.Command("cp", built, binary).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "copy bintap: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// size is the run's scale: short (go test, make test) or long (make torture).
type size struct {
	changes        int64
	kills          int
	sourceRestarts int
	ddlEach        int64
	pace           time.Duration // between the workload's transactions
	outage         time.Duration // how long the brokers, then the target, are down
	long           bool
	// gap/2 scales the random wait between faults (0.3-2.8 s): the
	// workload is slowed to a trickle while the outputs catch up after
	// each, so the long run waits longer to reach its size with about its
	// faults; the short run waits less, to stay short.
	gap int
}

// kafkaBuffer is the streams' --kafka-max-buffered-bytes: smaller than the
// default (64 MiB) so that a long outage fills it (the binlog the source
// writes in 60 s of the long run is larger) and the back-pressure is what
// bounds memory.
const kafkaBuffer = 8 << 20

// rssAllowance is how much a stream's peak RSS may grow during an outage
// (and the catch-up after it) above its own peak before it: the Kafka
// buffer twice (the Go heap may grow to twice what is live before a
// collection) plus 48 MiB for the rest (the producer's batches in flight,
// the pipeline's bounded batches, the target's transaction, runtime
// overhead). Holding the whole backlog of a 60 s outage would need more.
const rssAllowance = 2*kafkaBuffer + 48<<20

func runSize() size {
	if os.Getenv("BINTAP_TORTURE") == "long" {
		s := size{changes: 1000000, kills: 50, sourceRestarts: 20, ddlEach: 25000, pace: 5 * time.Millisecond, outage: 60 * time.Second, long: true, gap: 8}
		if v, _ := strconv.ParseInt(os.Getenv("BINTAP_TORTURE_CHANGES"), 10, 64); v > 0 {
			s.changes = v
		}
		if d, err := time.ParseDuration(os.Getenv("BINTAP_TORTURE_OUTAGE")); err == nil {
			s.outage = d
		}
		return s
	}
	s := size{changes: 15000, kills: 6, sourceRestarts: 2, ddlEach: 2500, pace: 15 * time.Millisecond, outage: 3 * time.Second, gap: 1}
	if d, err := time.ParseDuration(os.Getenv("BINTAP_TORTURE_OUTAGE")); err == nil {
		s.outage = d
	}
	return s
}

// process is one bintap stream the harness kills and restarts.
type process struct {
	name   string
	short  string // A, B
	args   []string
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd ended
	err    error         // how it ended
	stderr *testutil.SyncBuffer
	kills  int
	// startStops counts exits on a connection fault to the source that
	// bintap does not retry (see connectionStop).
	startStops int
	// outageStops counts exits while a broker or the target was down.
	outageStops int
	mu          sync.Mutex
}

func (p *process) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd = exec.Command(binary, append([]string{"stream"}, p.args...)...)
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, done := p.cmd, make(chan struct{})
	p.done = done
	go func() { p.err = cmd.Wait(); close(done) }()
}

// kill9 kills the process at once and starts it again.
func (p *process) kill9(t *testing.T) {
	p.kill()
	p.kills++
	p.start(t)
}

func (p *process) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd.Process.Kill()
	<-p.done
}

// connectionStop tells a stop on a connection fault to the source. bintap
// retries those while starting and while streaming, and starts its run
// again when one cuts the initial snapshot, so none is expected; the
// harness starts such a stream again and counts them (reported).
var connectionStop = []string{"invalid connection", "bad connection", "cannot reach the source", "read the server greeting", "connection reset", "EOF", "broken pipe"}

// restartIfStopped starts the process again when it stopped because the
// source was unreachable at start-up (counted), and fails the test when
// it stopped for another reason.
func (p *process) restartIfStopped(t *testing.T) {
	t.Helper()
	if !p.exited() {
		return
	}
	out := p.stderr.String()
	i := strings.LastIndex(out, "bintap stream stopped")
	if i < 0 {
		t.Fatalf("%s stopped by itself:\n%s", p.name, tail(out))
	}
	last, _, _ := strings.Cut(out[i:], "\n")
	for _, c := range connectionStop {
		if strings.Contains(last, c) {
			p.startStops++
			p.start(t)
			return
		}
	}
	t.Fatalf("%s stopped by itself:\n%s", p.name, tail(out))
}

// exited reports whether the process ended by itself (an error stop).
func (p *process) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) stop(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s: bintap exited with %v on SIGTERM:\n%s", p.name, p.err, tail(p.stderr.String()))
		}
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("%s: bintap did not stop in 60 s after SIGTERM", p.name)
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "...\n" + s[len(s)-4000:]
	}
	return s
}

// TestTortureKillsCutsRestarts: the workload (inserts, updates, deletes, a
// column added every so often) runs while two bintap streams are killed
// with SIGKILL at random moments, their replication connection goes
// through a proxy that cuts, stalls and slows it, the source server is
// stopped and started, and the Kafka brokers and the PostgreSQL target are
// each down for a while (sz.outage; the streams' peak RSS is measured
// meanwhile). Stream A writes a file output and Kafka (at-least-once), the
// change index, a PostgreSQL target with _log tables and a files output;
// stream B writes Kafka exactly-once. After each kill round, source
// restart and outage, and at the end, every output must catch up with
// every change the source holds, none twice where exactly once is
// promised; the repeats of the at-least-once outputs are counted. Every
// credential is distinctive (source user, Kafka SASL, target user, HTTP
// token): no log line, HTTP answer, Kafka record or file bintap wrote may
// hold one.
func TestTortureKillsCutsRestarts(t *testing.T) {
	sz := runSize()
	seed := time.Now().UnixNano()
	if v, err := strconv.ParseInt(os.Getenv("BINTAP_TORTURE_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (BINTAP_TORTURE_SEED replays the choices, not the timing), %+v", seed, sz)
	rng := rand.New(rand.NewSource(seed))
	ctx := context.Background()
	sec := newSecrets()

	src := testutil.NewMariaDB(t)
	pg := testutil.NewPostgres(t)
	targetURL := pgUserWithPassword(t, ctx, pg, "torture_target", sec.target)
	brokerA := newBroker(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "bintap", sec.kafkaA))
	brokerB := newBroker(t, kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "bintap", sec.kafkaB))
	proxy, err := NewProxy(fmt.Sprintf("127.0.0.1:%d", src.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()

	wdb, err := src.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer wdb.Close()
	wdb.SetMaxOpenConns(2)
	w := &Workload{DB: wdb, Rng: rand.New(rand.NewSource(seed + 1)), Target: sz.changes, DDLEach: sz.ddlEach, Pace: sz.pace}
	if err := w.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	// bintap reads the source as a user with a password.
	for _, q := range []string{"CREATE USER 'cdc'@'%' IDENTIFIED BY '" + sec.source + "'", "GRANT ALL PRIVILEGES ON *.* TO 'cdc'@'%'"} {
		if _, err := wdb.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	root := t.TempDir()
	fileDir, filesDir := filepath.Join(root, "file"), filepath.Join(root, "files")
	stateA, stateB := filepath.Join(root, "stateA"), filepath.Join(root, "stateB")
	srcURL := "mysql://cdc:" + sec.source + "@" + proxy.Addr()
	httpA, httpB := freeAddr(t), freeAddr(t)
	common := []string{"--source", srcURL, "--schemas", "w", "--start", "oldest", "--checkpoint-interval", "300ms", "--source-timeout", "5s",
		"--http-token", sec.token, "--kafka-max-buffered-bytes", strconv.Itoa(kafkaBuffer), "--kafka-sasl-user", "bintap"}
	a := &process{name: "A (file, kafka at-least-once, index, postgres, files)", short: "A", stderr: &testutil.SyncBuffer{}, args: append([]string{
		"--state-dir", stateA, "--http", httpA,
		"--output", "file://" + fileDir + ",kafka://" + brokerA.addr() + "/alo,index," + targetURL + ",files://" + filesDir,
		"--file-window", "1s", "--target-log-tables", "--kafka-delivery", "at-least-once",
		"--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-password", sec.kafkaA}, common...)}
	b := &process{name: "B (kafka exactly-once)", short: "B", stderr: &testutil.SyncBuffer{}, args: append([]string{
		"--state-dir", stateB, "--http", httpB, "--output", "kafka://" + brokerB.addr() + "/eo", "--kafka-delivery", "exactly-once",
		"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-password", sec.kafkaB}, common...)}
	procs := []*process{a, b}
	for _, p := range procs {
		p.start(t)
		defer p.kill()
	}
	probe := &httpProbe{}
	// normalPeak is each stream's highest peak RSS outside outages (over
	// its processes, sampled at every turn of the fault loop).
	normalPeak := map[string]int64{}
	probeAll := func() {
		probe.get(httpA, sec.token)
		probe.get(httpB, sec.token)
	}

	// Every Kafka record read back is grepped for the secrets too.
	var leaks leakLog
	// The grep must find a secret where there is one.
	selfTest := &leakLog{}
	selfTest.grep("self-test", []byte("say "+srcURL), sec.list())
	if len(selfTest.hits()) == 0 {
		t.Fatal("the secrets grep does not find the source password in the source URL")
	}
	see := func(where string, b []byte) { leaks.grep(where, b, sec.list()) }
	outputs := []*output{
		{name: "file (at-least-once)", read: newLineReader(fileDir, nil).read},
		{name: "kafka at-least-once", read: newKafkaReader("alo", false, see, kgo.SeedBrokers(brokerA.addr()), kgo.SASL(kafka.Mechanism("PLAIN", "bintap", sec.kafkaA))).read},
		{name: "kafka exactly-once", exactlyOnce: true, read: newKafkaReader("eo", true, see, kgo.SeedBrokers(brokerB.addr()), kgo.SASL(kafka.Mechanism("SCRAM-SHA-512", "bintap", sec.kafkaB))).read},
		{name: "files (exactly once)", exactlyOnce: true, read: newFilesReader(filesDir).read},
		{name: "postgres _log tables", exactlyOnce: true, read: func() (*Tally, error) { return readPostgresLog(ctx, pg) }},
	}
	chk := &checker{
		ctx:     ctx,
		want:    func() (map[string]bool, error) { return Expected(ctx, wdb) },
		outputs: outputs,
		poll: func() {
			for _, p := range procs {
				p.restartIfStopped(t)
			}
		},
		logs: func() string { return "A:\n" + tail(a.stderr.String()) + "\nB:\n" + tail(b.stderr.String()) },
		hold: func(on bool) {
			w.Paused.Store(on)
			// The short run (make test) keeps the proxy quiet while
			// the outputs catch up, to keep it short; the long run
			// goes on cutting and stalling.
			if !sz.long {
				proxy.Quiet.Store(on)
			}
		},
	}

	stop := make(chan struct{})
	workDone := make(chan struct{})
	go func() { w.Run(ctx, stop); close(workDone) }()
	chaosStop := make(chan struct{})
	go proxy.Chaos(rand.New(rand.NewSource(seed+2)), chaosStop)

	// outage takes a part down for sz.outage while the workload runs,
	// measuring the streams' peak RSS, then brings it back and checks.
	var outages []outageResult
	outage := func(what string, down, up func()) {
		for _, p := range procs {
			p.restartIfStopped(t)
		}
		res := outageResult{what: what, before: map[string]int64{}, peak: map[string]int64{}}
		var mu sync.Mutex
		sample := func() {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range procs {
				res.peak[p.short] = max(res.peak[p.short], p.peak())
			}
		}
		for _, p := range procs {
			res.before[p.short] = max(normalPeak[p.short], p.peak())
		}
		b0, err := binlogBytes(ctx, wdb)
		if err != nil {
			t.Fatal(err)
		}
		down()
		t0 := time.Now()
		res.at = t0
		stopped := map[*process]bool{}
		lastProbe := time.Time{}
		for time.Since(t0) < sz.outage {
			sample()
			for _, p := range procs {
				if !stopped[p] && p.exited() {
					stopped[p] = true
					res.stops = append(res.stops, p.short+": "+lastStop(p))
				}
			}
			if time.Since(lastProbe) > 2*time.Second {
				probeAll()
				lastProbe = time.Now()
			}
			time.Sleep(250 * time.Millisecond)
		}
		b1, err := binlogBytes(ctx, wdb)
		if err != nil {
			t.Fatal(err)
		}
		res.backlog = b1 - b0
		res.down = time.Since(t0)
		up()
		for p := range stopped {
			p.outageStops++
			p.start(t)
		}
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				select {
				case <-done:
					return
				case <-time.After(250 * time.Millisecond):
					sample()
				}
			}
		}()
		res.caughtUpOK = chk.check(t, "after the "+what+" outage", false)
		close(done)
		<-sampled
		sample()
		probeAll()
		t.Logf("OUTAGE: %s", res)
		for _, s := range res.stops {
			// Documented: A rides out both outages (Kafka at-least-once
			// holds and retries, the target retries with backoff); B
			// (exactly-once) stops only when the outage cut a commit.
			if strings.HasPrefix(s, "A") || !strings.Contains(strings.ToLower(s), "transaction") {
				t.Errorf("%s outage: a stream stopped instead of waiting: %s", what, s)
			}
		}
		for name, p := range res.peak {
			if limit := res.before[name] + rssAllowance; p > limit {
				t.Errorf("%s outage: stream %s peaked at %s RSS, above its peak before the outage (%s) + %s", what, name, mib(p), mib(res.before[name]), mib(rssAllowance))
			}
		}
		outages = append(outages, res)
	}

	// Kills and source restarts at random moments while the workload runs,
	// until both the faults are done and the workload reached its size;
	// the Kafka brokers go down a third of the way, the target two thirds.
	restarts, kills := 0, 0
	start := time.Now()
	every := max(1, sz.kills/max(1, sz.sourceRestarts))
	brokersDown, targetDown := false, false
	for kills < sz.kills || w.Changes.Load() < sz.changes {
		time.Sleep(time.Duration(300+rng.Intn(2500)) * time.Millisecond * time.Duration(sz.gap) / 2)
		for _, p := range procs {
			p.restartIfStopped(t)
			normalPeak[p.short] = max(normalPeak[p.short], p.peak())
		}
		probeAll()
		switch {
		case !brokersDown && kills >= sz.kills/3:
			brokersDown = true
			outage("Kafka brokers", func() { brokerA.stop(); brokerB.stop() }, func() { brokerA.start(); brokerB.start() })
			continue
		case !targetDown && kills >= 2*sz.kills/3:
			targetDown = true
			outage("PostgreSQL target", pg.Stop, func() {
				if err := pg.Restart(ctx); err != nil {
					t.Fatal(err)
				}
			})
			continue
		}
		if kills%every == every-1 && restarts < sz.sourceRestarts && restarts*every < kills {
			restarts++
			how := "stopped"
			if rng.Intn(2) == 0 {
				how = "killed"
				src.Kill()
			} else {
				src.Stop()
			}
			time.Sleep(time.Duration(rng.Intn(3000)) * time.Millisecond)
			if err := src.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			chk.check(t, fmt.Sprintf("after source restart %d (%s)", restarts, how), false)
			continue
		}
		kills++
		var who []*process
		switch rng.Intn(3) {
		case 0:
			who = []*process{a}
		case 1:
			who = []*process{b}
		default: // both at once
			who = []*process{a, b}
		}
		for _, p := range who {
			normalPeak[p.short] = max(normalPeak[p.short], p.peak())
			p.kill9(t)
		}
		label := fmt.Sprintf("after kill round %d (%s", kills, who[0].short)
		if len(who) == 2 {
			label += " and B"
		}
		// A third of the rounds kill again while the stream restarts and
		// catches up.
		if rng.Intn(3) == 0 {
			time.Sleep(time.Duration(100+rng.Intn(1500)) * time.Millisecond)
			for _, p := range who {
				p.kill9(t)
			}
			label += ", twice"
		}
		chk.check(t, label+")", false)
	}
	for restarts < sz.sourceRestarts {
		restarts++
		src.Stop()
		if err := src.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("faults done in %s: workload at %d changes", time.Since(start).Round(time.Second), w.Changes.Load())
	close(stop)
	<-workDone
	close(chaosStop)
	t.Logf("workload: %d changes in %d transactions, %d DDL, %d errors (restarts)", w.Changes.Load(), w.Txs.Load(), w.DDLs.Load(), w.Errors.Load())

	// A change two 1-second windows later closes the files output's last
	// window of the workload.
	time.Sleep(2100 * time.Millisecond)
	if _, err := wdb.Exec("INSERT INTO w.acc VALUES (1000, 0)"); err != nil {
		t.Fatal(err)
	}
	chk.check(t, "at the end", true)
	want, err := Expected(ctx, wdb)
	if err != nil {
		t.Fatal(err)
	}
	probeAll()
	for _, p := range procs {
		p.stop(t)
	}
	// The index is read once its stream stopped.
	var indexRes Result
	if tl, err := readIndex(stateA); err != nil {
		t.Errorf("index: %v", err)
	} else {
		indexRes = tl.Compare(want)
		if indexRes.Missing > 0 || indexRes.Repeats > 0 || indexRes.Extra > 0 {
			t.Errorf("index: %d of %d changes missing (%v), %d repeats, %d unknown", indexRes.Missing, len(want), indexRes.MissingSample, indexRes.Repeats, indexRes.Extra)
		}
	}
	mirror, err := checkPostgresMirror(ctx, pg, wdb)
	if err != nil {
		t.Error(err)
	}
	for _, o := range outputs {
		if o.exactlyOnce && o.last.Repeats > 0 && o.name == "postgres _log tables" {
			logDuplicates(t, ctx, pg)
		}
	}
	logs := a.stderr.String() + b.stderr.String()
	// BINTAP_TORTURE_LOGS=DIR keeps what the streams said and the HTTP
	// answers.
	if dir := os.Getenv("BINTAP_TORTURE_LOGS"); dir != "" {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "streamA.log"), []byte(a.stderr.String()), 0o644)
		os.WriteFile(filepath.Join(dir, "streamB.log"), []byte(b.stderr.String()), 0o644)
		os.WriteFile(filepath.Join(dir, "http.log"), []byte(probe.all()), 0o644)
	}
	if strings.Contains(logs, "panic") || strings.Contains(logs, "goroutine ") {
		t.Errorf("a stream panicked:\n%s", tail(logs))
	}

	// Secrets: every log line, HTTP answer, Kafka record (grepped as read)
	// and file the streams wrote.
	leaks.grep("stream A's stderr and stdout", []byte(a.stderr.String()), sec.list())
	leaks.grep("stream B's stderr and stdout", []byte(b.stderr.String()), sec.list())
	leaks.grep("HTTP answers", []byte(probe.all()), sec.list())
	nfiles, nbytes := leaks.grepTree(t, sec.list(), stateA, stateB, fileDir, filesDir)
	for _, l := range leaks.hits() {
		t.Errorf("secret leaked: %s", l)
	}
	modes := checkStateModes(t, stateA, stateB)

	t.Logf("TORTURE: %d changes checked; kills: A %d, B %d; source restarts %d; connection cuts %d, stalls %d; exits on a source query's connection fault (restarted): A %d, B %d",
		len(want), a.kills, b.kills, restarts, proxy.Cuts.Load(), proxy.Stalls.Load(), a.startStops, b.startStops)
	t.Logf("TORTURE: checks after restarts and outages: %d passed, %d failed, longest catch-up %s", chk.Checks, chk.Failed, chk.MaxCatchUp.Round(time.Second))
	for _, o := range outages {
		t.Logf("TORTURE: outage: %s", o)
	}
	for _, o := range outputs {
		t.Logf("TORTURE: %-24s missing %d, repeats %d, unknown %d", o.name, o.last.Missing, o.last.Repeats, o.last.Extra)
	}
	t.Logf("TORTURE: %-24s missing %d, repeats %d, unknown %d", "index", indexRes.Missing, indexRes.Repeats, indexRes.Extra)
	t.Logf("TORTURE: postgres mirror: %s", mirror)
	t.Logf("TORTURE: secrets: %d leaks in %d KiB of logs, %d HTTP answers (%d showing the stream retrying), %d Kafka records' bytes grepped, %d files (%d KiB); state modes: %s",
		len(leaks.hits()), len(logs)>>10, probe.Fetches, probe.Retrying, leaks.kafkaBytes>>10, nfiles, nbytes>>10, modes)
}

// lastStop is the last "bintap stream stopped" line of a stream.
func lastStop(p *process) string {
	out := p.stderr.String()
	i := strings.LastIndex(out, "bintap stream stopped")
	if i < 0 {
		return strings.TrimSpace(tail(out))
	}
	line, _, _ := strings.Cut(out[i:], "\n")
	return line
}

// record is a change in bintap's maxscale JSON.
type record struct {
	Table string `json:"table_name"`
	Type  string `json:"event_type"`
	ID    *int64 `json:"id"`
	N     *int64 `json:"n"`
}

func (r record) identity() string {
	if r.ID == nil {
		return ""
	}
	var n int64
	if r.N != nil {
		n = *r.N
	}
	return Identity(r.Table, r.Type, *r.ID, n)
}

func (t *Tally) add(k string) {
	if k != "" {
		t.Seen[k]++
	}
}

func readJSONLines(dir string) (*Tally, error) {
	tl := &Tally{Seen: map[string]int{}}
	paths, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var r record
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				tl.add(r.identity())
			}
		}
	}
	return tl, nil
}

func readPostgresLog(ctx context.Context, pg *testutil.PGServer) (*Tally, error) {
	tl := &Tally{Seen: map[string]int{}}
	for _, tb := range []string{"ev", "acc", "del", "dlog"} {
		n := "0"
		if tb == "acc" {
			n = "n"
		}
		rows, err := pg.DB.QueryContext(ctx, fmt.Sprintf(`SELECT __op, id, %s FROM w.%s_log`, n, tb))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var op string
			var id, nv int64
			if err := rows.Scan(&op, &id, &nv); err != nil {
				rows.Close()
				return nil, err
			}
			typ := map[string]string{"c": "insert", "u": "update_after", "d": "delete"}[op]
			tl.add(Identity(tb, typ, id, nv))
		}
		rows.Close()
	}
	return tl, nil
}

func readIndex(stateDir string) (*Tally, error) {
	tl := &Tally{Seen: map[string]int{}}
	for _, tb := range []string{"ev", "acc", "del", "dlog"} {
		out, err := exec.Command(binary, "query", "--state-dir", stateDir, "--table", "w."+tb, "--format", "json", "--limit", "0", "--order", "oldest").Output()
		if err != nil {
			return nil, fmt.Errorf("bintap query w.%s: %v", tb, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var c struct {
				Table  string          `json:"table_name"`
				Type   string          `json:"type"`
				Before json.RawMessage `json:"before"`
				After  json.RawMessage `json:"after"`
			}
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				return nil, err
			}
			img := c.After
			typ := c.Type
			switch c.Type {
			case "update":
				typ = "update_after"
			case "delete":
				img = c.Before
			}
			var v struct{ ID, N int64 }
			json.Unmarshal(img, &v)
			tl.add(Identity(c.Table, typ, v.ID, v.N))
		}
	}
	return tl, nil
}

// checkPostgresMirror compares the mirrored tables with the source: row
// counts and sums of ids and of acc.n, deleted rows left out.
func checkPostgresMirror(ctx context.Context, pg *testutil.PGServer, src *sql.DB) (string, error) {
	var report []string
	for _, q := range []struct{ table, expr string }{{"ev", "SUM(id)"}, {"acc", "SUM(n)"}, {"del", "SUM(id)"}, {"dlog", "SUM(id)"}} {
		var sc, tc int64
		var ss, ts sql.NullString
		if err := src.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*), CAST(%s AS CHAR) FROM w.%s", q.expr, q.table)).Scan(&sc, &ss); err != nil {
			return "", err
		}
		if err := pg.DB.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*), CAST(%s AS TEXT) FROM w.%s WHERE NOT __deleted", q.expr, q.table)).Scan(&tc, &ts); err != nil {
			return "", err
		}
		if sc != tc || ss.String != ts.String {
			return "", fmt.Errorf("postgres mirror w.%s: %d rows, %s %s; the source %d rows, %s", q.table, tc, q.expr, ts.String, sc, ss.String)
		}
		report = append(report, fmt.Sprintf("w.%s %d rows", q.table, tc))
	}
	return strings.Join(report, ", ") + " equal to the source", nil
}

// logDuplicates shows changes a _log table holds twice: their transaction,
// event number and order, and how many times.
func logDuplicates(t *testing.T, ctx context.Context, pg *testutil.PGServer) {
	for _, tb := range []string{"ev", "acc", "del", "dlog"} {
		rows, err := pg.DB.QueryContext(ctx, fmt.Sprintf(`SELECT __transaction_id, __event_number, __transaction_order, COUNT(*), COUNT(DISTINCT __ts_ms), MIN(id), MAX(id)
			FROM w.%s_log GROUP BY 1, 2, 3 HAVING COUNT(*) > 1 ORDER BY 3, 2 LIMIT 8`, tb))
		if err != nil {
			t.Logf("w.%s_log: %v", tb, err)
			continue
		}
		for rows.Next() {
			var tx string
			var ev, order, n, ts, lo, hi int64
			rows.Scan(&tx, &ev, &order, &n, &ts, &lo, &hi)
			t.Logf("w.%s_log holds %d times: transaction %s event %d order %d (distinct ts %d, ids %d..%d)", tb, n, tx, ev, order, ts, lo, hi)
		}
		rows.Close()
		var groups, total int64
		pg.DB.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*), COALESCE(SUM(c), 0) FROM (SELECT COUNT(*) - 1 AS c FROM w.%s_log GROUP BY __transaction_order, __event_number HAVING COUNT(*) > 1) x`, tb)).Scan(&groups, &total)
		t.Logf("w.%s_log: %d (transaction order, event number) pairs repeated, %d extra rows", tb, groups, total)
	}
}
