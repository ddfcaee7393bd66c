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

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bintap/bintap/internal/sink/files"
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
	if out, err := exec.Command("go", "build", "-o", binary, "../../cmd/bintap").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build bintap: %v\n%s", err, out)
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
}

func runSize() size {
	if os.Getenv("BINTAP_TORTURE") == "long" {
		s := size{changes: 1000000, kills: 50, sourceRestarts: 20, ddlEach: 25000, pace: 5 * time.Millisecond}
		if v, _ := strconv.ParseInt(os.Getenv("BINTAP_TORTURE_CHANGES"), 10, 64); v > 0 {
			s.changes = v
		}
		return s
	}
	return size{changes: 15000, kills: 6, sourceRestarts: 2, ddlEach: 2500, pace: 15 * time.Millisecond}
}

// process is one bintap stream the harness kills and restarts.
type process struct {
	name   string
	args   []string
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd ended
	err    error         // how it ended
	stderr *testutil.SyncBuffer
	kills  int
	// startStops counts exits because the source was unreachable while
	// bintap started (see connectionStop).
	startStops int
	mu         sync.Mutex
}

func (p *process) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd = exec.Command(binary, append([]string{"stream"}, p.args...)...)
	p.cmd.Stderr = p.stderr
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

// connectionStop tells the stops bintap makes when a connection fault hits
// one of its SQL queries to the source (at start-up, or after the
// replication connection was re-established): it does not retry those (it
// retries the replication connection), it exits 1 for a supervisor to
// start it again. Reported; the harness starts it again and counts them.
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
// through a proxy that cuts, stalls and slows it, and the source server is
// stopped and started. Stream A writes a file output and Kafka
// (at-least-once), the change index, a PostgreSQL target with _log tables
// and a files output; stream B writes Kafka exactly-once. At the end every
// change is in every output, none twice where exactly once is promised,
// and the repeats of the at-least-once outputs are counted.
func TestTortureKillsCutsRestarts(t *testing.T) {
	sz := runSize()
	seed := time.Now().UnixNano()
	if v, err := strconv.ParseInt(os.Getenv("BINTAP_TORTURE_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (BINTAP_TORTURE_SEED replays the choices, not the timing), %+v", seed, sz)
	rng := rand.New(rand.NewSource(seed))
	ctx := context.Background()

	src := testutil.NewMariaDB(t)
	pg := testutil.NewPostgres(t)
	_, brokerA := testutil.NewKafka(t)
	_, brokerB := testutil.NewKafka(t)
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

	root := t.TempDir()
	fileDir, filesDir := filepath.Join(root, "file"), filepath.Join(root, "files")
	srcURL := "mysql://root@" + proxy.Addr()
	common := []string{"--source", srcURL, "--schemas", "w", "--start", "oldest", "--checkpoint-interval", "300ms", "--source-timeout", "5s"}
	a := &process{name: "A (file, kafka at-least-once, index, postgres, files)", stderr: &testutil.SyncBuffer{}, args: append([]string{
		"--state-dir", filepath.Join(root, "stateA"),
		"--output", "file://" + fileDir + ",kafka://" + brokerA + "/alo,index," + pg.DSN(testutil.PostgresTestDB) + ",files://" + filesDir,
		"--file-window", "1s", "--target-log-tables", "--kafka-delivery", "at-least-once"}, common...)}
	b := &process{name: "B (kafka exactly-once)", stderr: &testutil.SyncBuffer{}, args: append([]string{
		"--state-dir", filepath.Join(root, "stateB"), "--output", "kafka://" + brokerB + "/eo", "--kafka-delivery", "exactly-once"}, common...)}
	procs := []*process{a, b}
	for _, p := range procs {
		p.start(t)
		defer p.kill()
	}

	stop := make(chan struct{})
	workDone := make(chan struct{})
	go func() { w.Run(ctx, stop); close(workDone) }()
	chaosStop := make(chan struct{})
	go proxy.Chaos(rand.New(rand.NewSource(seed+2)), chaosStop)

	// Kills and source restarts at random moments while the workload runs,
	// until both the faults are done and the workload reached its size.
	restarts, kills := 0, 0
	start := time.Now()
	every := max(1, sz.kills/max(1, sz.sourceRestarts))
	for kills < sz.kills || w.Changes.Load() < sz.changes {
		time.Sleep(time.Duration(300+rng.Intn(2500)) * time.Millisecond)
		for _, p := range procs {
			p.restartIfStopped(t)
		}
		if kills%every == every-1 && restarts < sz.sourceRestarts && restarts*every < kills {
			restarts++
			if rng.Intn(2) == 0 {
				src.Kill()
			} else {
				src.Stop()
			}
			time.Sleep(time.Duration(rng.Intn(3000)) * time.Millisecond)
			if err := src.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		kills++
		switch rng.Intn(3) {
		case 0:
			a.kill9(t)
		case 1:
			b.kill9(t)
		default: // both at once
			a.kill9(t)
			b.kill9(t)
		}
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

	want, err := Expected(ctx, wdb)
	if err != nil {
		t.Fatal(err)
	}
	// A change two 1-second windows later closes the files output's last
	// window of the workload.
	time.Sleep(2100 * time.Millisecond)
	if _, err := wdb.Exec("INSERT INTO w.acc VALUES (1000, 0)"); err != nil {
		t.Fatal(err)
	}
	want["acc:i:1000"] = true

	readers := []struct {
		name        string
		exactlyOnce bool
		read        func() (*Tally, error)
	}{
		{"file (at-least-once)", false, func() (*Tally, error) { return readJSONLines(fileDir) }},
		{"kafka at-least-once", false, func() (*Tally, error) { return readKafka(t, brokerA, "alo", false) }},
		{"kafka exactly-once", true, func() (*Tally, error) { return readKafka(t, brokerB, "eo", true) }},
		{"files (exactly once)", true, func() (*Tally, error) { return readFiles(filesDir) }},
		{"postgres _log tables", true, func() (*Tally, error) { return readPostgresLog(ctx, pg) }},
	}
	results := map[string]Result{}
	// The outputs catch up: a minute per 50,000 changes, at least 5.
	deadline := time.Now().Add(max(5*time.Minute, time.Duration(len(want)/50000)*time.Minute))
	for _, r := range readers {
		for {
			tl, err := r.read()
			var res Result
			if err == nil {
				res = tl.Compare(want)
				results[r.name] = res
				if res.Missing == 0 {
					break
				}
			}
			for _, p := range procs {
				p.restartIfStopped(t)
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %d of %d changes missing (%v), error %v\nA said:\n%s\nB said:\n%s", r.name, res.Missing, len(want), res.MissingSample, err,
					tail(a.stderr.String()), tail(b.stderr.String()))
				break
			}
			time.Sleep(time.Second)
		}
	}
	for _, p := range procs {
		p.stop(t)
	}
	// The index is read once its stream stopped.
	if tl, err := readIndex(filepath.Join(root, "stateA")); err != nil {
		t.Errorf("index: %v", err)
	} else {
		results["index"] = tl.Compare(want)
	}
	mirror, err := checkPostgresMirror(ctx, pg, wdb)
	if err != nil {
		t.Error(err)
	}

	t.Logf("TORTURE: %d changes checked; kills: A %d, B %d; source restarts %d; connection cuts %d, stalls %d; exits on a source query's connection fault (restarted): A %d, B %d",
		len(want), a.kills, b.kills, restarts, proxy.Cuts.Load(), proxy.Stalls.Load(), a.startStops, b.startStops)
	for _, r := range append(readers, struct {
		name        string
		exactlyOnce bool
		read        func() (*Tally, error)
	}{"index", true, nil}) {
		res := results[r.name]
		t.Logf("TORTURE: %-24s missing %d, repeats %d, unknown %d", r.name, res.Missing, res.Repeats, res.Extra)
		if res.Missing > 0 {
			t.Errorf("%s: %d changes missing, such as %v", r.name, res.Missing, res.MissingSample)
		}
		if r.exactlyOnce && res.Repeats > 0 {
			t.Errorf("%s promises exactly once: %d repeats", r.name, res.Repeats)
			if r.name == "postgres _log tables" {
				logDuplicates(t, ctx, pg)
			}
		}
		if res.Extra > 0 {
			t.Errorf("%s: %d changes the source does not hold", r.name, res.Extra)
		}
	}
	t.Logf("TORTURE: postgres mirror: %s", mirror)
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

func readKafka(t *testing.T, broker, topic string, committed bool) (*Tally, error) {
	tl := &Tally{Seen: map[string]int{}}
	for _, rec := range testutil.ReadTopic(t, committed, topic, kgo.SeedBrokers(broker)) {
		var r record
		if json.Unmarshal(rec.Value, &r) == nil {
			tl.add(r.identity())
		}
	}
	return tl, nil
}

func readFiles(dir string) (*Tally, error) {
	tl := &Tally{Seen: map[string]int{}}
	es, err := files.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if e.Database != "w" {
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
		err := files.Read(dir, e, func(r *files.Record) error {
			if r.Row == nil || idCol < 0 {
				return nil
			}
			var n int64
			if nCol >= 0 {
				n = r.Row[nCol].Int
			}
			typ := map[byte]string{'c': "insert", 'u': "update_after", 'd': "delete"}[r.Op]
			tl.add(Identity(e.Table, typ, r.Row[idCol].Int, n))
			return nil
		})
		if err != nil {
			return nil, err
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
