package torture

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/bintap/bintap/internal/testutil"
)

// broker is a kfake cluster of one broker that keeps its data on disk, so
// that it can be stopped and started again on the same port with the same
// topics, transactions and users: a broker outage.
type broker struct {
	t    *testing.T
	port int
	dir  string
	opts []kfake.Opt
	mu   sync.Mutex
	c    *kfake.Cluster
}

func newBroker(t *testing.T, opts ...kfake.Opt) *broker {
	t.Helper()
	port, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	b := &broker{t: t, port: port, dir: t.TempDir(), opts: opts}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

func (b *broker) start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	// The port of the stopped broker may take a moment to be free.
	for i := 0; i < 50; i++ {
		b.c, err = kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(b.port), kfake.DataDir(b.dir)}, b.opts...)...)
		if err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("start kfake on port %d: %v", b.port, err)
}

func (b *broker) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		b.c.Close()
		b.c = nil
	}
}

// procStatus reads a field of /proc/PID/status in bytes (VmHWM: the
// process's peak resident set so far; VmRSS: now).
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return 0
	default:
		return p.cmd.Process.Pid
	}
}

// peak is the highest VmHWM seen of a stream's processes (a restart starts
// a new process with its own).
func (p *process) peak() int64 {
	pid := p.pid()
	if pid == 0 {
		return 0
	}
	v, _ := procStatus(pid, "VmHWM")
	return v
}

// binlogBytes is the size of the source's binary logs: what it wrote.
func binlogBytes(ctx context.Context, db *sql.DB) (int64, error) {
	rows, err := db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var total int64
	for rows.Next() {
		vals := make([]any, len(cols))
		var name string
		var size int64
		vals[0], vals[1] = &name, &size
		for i := 2; i < len(cols); i++ {
			vals[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(vals...); err != nil {
			return 0, err
		}
		total += size
	}
	return total, rows.Err()
}

// httpProbe fetches a stream's HTTP pages (GETs, and POSTs with a wrong
// and with the right token) and keeps every answer, for the secrets grep.
type httpProbe struct {
	mu       sync.Mutex
	answers  []string // "URL STATUS\nbody"
	Fetches  int
	Retrying int // /status answers that showed the stream retrying
	Errors   int // fetches that got no answer (the stream restarting)
}

func (h *httpProbe) get(addr, token string) {
	for _, path := range []string{"/status", "/metrics", "/healthz", "/history", "/"} {
		h.fetch("GET", "http://"+addr+path, "", "")
	}
	h.fetch("POST", "http://"+addr+"/snapshot/pause", "wrong-"+token[:4], `{}`)
	h.fetch("POST", "http://"+addr+"/snapshot/stop", token, `{"tables":["w.nosuch"]}`)
}

func (h *httpProbe) fetch(method, url, token, body string) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Do(req)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		h.Errors++
		h.answers = append(h.answers, fmt.Sprintf("%s %s: %v", method, url, err))
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h.Fetches++
	if strings.HasSuffix(url, "/status") && strings.Contains(string(b), "retrying") {
		h.Retrying++
	}
	h.answers = append(h.answers, fmt.Sprintf("%s %s %d\n%s", method, url, resp.StatusCode, b))
}

func (h *httpProbe) all() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.answers, "\n")
}

// outageResult is what one outage measured.
type outageResult struct {
	what       string
	at         time.Time
	down       time.Duration
	backlog    int64            // binlog bytes written while it was down
	before     map[string]int64 // each stream's peak RSS before
	peak       map[string]int64 // during the outage and the catch-up after it
	stops      []string         // streams that stopped during it (and were started again)
	caughtUpOK bool
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (o outageResult) String() string {
	var parts []string
	for name, p := range o.peak {
		parts = append(parts, fmt.Sprintf("%s peak RSS %s (before %s)", name, mib(p), mib(o.before[name])))
	}
	return fmt.Sprintf("%s down %s from %s, binlog written meanwhile %s; %s; stops during it: %d %v", o.what, o.down.Round(time.Second), o.at.UTC().Format("15:04:05"), mib(o.backlog), strings.Join(parts, ", "), len(o.stops), o.stops)
}
