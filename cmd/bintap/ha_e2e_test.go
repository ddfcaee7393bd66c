package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bintap/bintap/internal/index"
	"github.com/bintap/bintap/internal/server"
	"github.com/bintap/bintap/internal/testutil"
)

// haInstance is one bintap process of a group.
type haInstance struct {
	name string
	cmd  *exec.Cmd
	addr string
	log  *testutil.SyncBuffer
	dead bool
}

// status asks the instance for its /status; ok is false when it does not
// answer (stopped, killed).
func (in *haInstance) status() (server.Status, bool) {
	var st server.Status
	c := http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get("http://" + in.addr + "/status")
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return st, false
	}
	return st, true
}

// metric returns the /metrics line that starts with name, "" if none.
func (in *haInstance) metric(t *testing.T, name string) string {
	resp, err := http.Get("http://" + in.addr + "/metrics")
	if err != nil {
		t.Fatalf("%s metrics: %v", in.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name) {
			return line
		}
	}
	return ""
}

// haGroup starts n instances of one configuration.
func haGroup(t *testing.T, n int, args ...string) []*haInstance {
	var group []*haInstance
	for i := range n {
		in := &haInstance{name: fmt.Sprintf("host%d", i+1), addr: freePort(t), log: &testutil.SyncBuffer{}}
		in.cmd = startBintap(t, in.log, append([]string{"--state-dir", t.TempDir(), "--http", in.addr,
			"--ha-instance", in.name, "--log-level", "debug"}, args...)...)
		group = append(group, in)
	}
	return group
}

// waitActive waits until one live instance other than the excluded ones
// reports itself active, and returns it with how long that took.
func waitActive(t *testing.T, group []*haInstance, within time.Duration, exclude ...*haInstance) (*haInstance, time.Duration) {
	t.Helper()
	began := time.Now()
	for time.Since(began) < within {
		for _, in := range group {
			skip := in.dead
			for _, x := range exclude {
				skip = skip || x == in
			}
			if skip {
				continue
			}
			if st, ok := in.status(); ok && st.Role == "active" && st.State == "streaming" {
				return in, time.Since(began)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, in := range group {
		t.Logf("%s said:\n%s", in.name, in.log.String())
	}
	t.Fatalf("no instance became active within %s", within)
	return nil, 0
}

// writer inserts one row per transaction into h.t until stopped; it
// returns the number of rows inserted.
func writer(t *testing.T, s *testutil.Server) (stop func() int) {
	var n atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if _, err := s.DB.Exec("INSERT INTO h.t VALUES (?, 'x')", i); err != nil {
				t.Errorf("insert %d: %v", i, err)
				return
			}
			n.Store(int64(i))
			time.Sleep(3 * time.Millisecond)
		}
	}()
	return func() int { close(done); wg.Wait(); return int(n.Load()) }
}

// TestHAGroupKafka runs three instances of one configuration against one
// source and one Kafka under a steady write load: one is active, the
// others standby. The active one is killed with kill -9: another takes over
// within seconds from the position stored in Kafka. That one is stopped
// (SIGSTOP) for longer than the lease: the third takes over; continued, the
// stale one writes nothing (no message of its epoch after the new active's
// first) and falls back to standby. Every row arrives: exactly once with
// exactly-once delivery, with few repeats in at-least-once.
func TestHAGroupKafka(t *testing.T) {
	for _, delivery := range []string{"exactly-once", "at-least-once"} {
		t.Run(delivery, func(t *testing.T) { testHAGroupKafka(t, delivery) })
	}
}

func testHAGroupKafka(t *testing.T, delivery string) {
	s := testutil.NewMariaDB(t)
	_, broker := testutil.NewKafka(t)
	s.Exec("CREATE DATABASE h", "CREATE TABLE h.t (id INT PRIMARY KEY, note VARCHAR(20))")
	// BINTAP_TEST_HA_LEASE and BINTAP_TEST_HA_STOP run it as a user would
	// (10s, 60s); the defaults keep it short.
	lease, stopFor := 5*time.Second, 8*time.Second
	if v, err := time.ParseDuration(os.Getenv("BINTAP_TEST_HA_LEASE")); err == nil {
		lease, stopFor = v, v+3*time.Second
	}
	if v, err := time.ParseDuration(os.Getenv("BINTAP_TEST_HA_STOP")); err == nil {
		stopFor = v
	}
	args := []string{"--source", s.URL(), "--output", "kafka://" + broker + "/h", "--kafka-delivery", delivery,
		"--ha-group", "orders", "--ha-lease", lease.String(), "--start", "oldest", "--snapshot", "never",
		"--checkpoint-interval", "1s", "--source-timeout", "5s"}
	indexURL := ""
	var pg *testutil.PGServer
	if delivery == "at-least-once" {
		// The change index on a server next to it: exactly once as well.
		ix := testutil.NewMariaDB(t)
		ix.Exec("CREATE DATABASE changes")
		indexURL = fmt.Sprintf("index+mysql://root@127.0.0.1:%d/changes", ix.Port)
		args = append(args, "--output", indexURL)
		// And a PostgreSQL target with its _log tables: one row per change.
		pg = testutil.NewPostgres(t)
		args = append(args, "--output", pg.DSN(testutil.PostgresTestDB), "--target-log-tables")
	}
	group := haGroup(t, 3, args...)
	stopWriter := writer(t, s)

	first, _ := waitActive(t, group, 2*time.Minute)
	time.Sleep(2 * time.Second) // the standbys asked for the lock at least once
	for _, in := range group {
		st, ok := in.status()
		if !ok {
			t.Fatalf("%s does not answer", in.name)
		}
		if in != first && (st.Role != "standby" || !st.Healthy || st.HAGroup != "orders") {
			t.Fatalf("%s: role %q healthy %v group %q, want a healthy standby of orders", in.name, st.Role, st.Healthy, st.HAGroup)
		}
		if in != first && !strings.Contains(st.HAHolder, "connection") {
			t.Errorf("%s does not say who holds the group: %q", in.name, st.HAHolder)
		}
		want := map[bool]string{true: `bintap_ha_active{group="orders"} 1`, false: `bintap_ha_active{group="orders"} 0`}[in == first]
		if got := in.metric(t, "bintap_ha_active"); got != want {
			t.Errorf("%s: metric %q, want %q", in.name, got, want)
		}
	}

	// kill -9 of the active instance.
	first.cmd.Process.Signal(syscall.SIGKILL)
	first.cmd.Wait()
	first.dead = true
	second, took := waitActive(t, group, time.Minute)
	t.Logf("%s killed; %s active after %s", first.name, second.name, took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("takeover after kill -9 took %s, documented: within 10 s", took)
	}
	time.Sleep(2 * time.Second)

	// SIGSTOP of the next active for longer than the lease.
	second.cmd.Process.Signal(syscall.SIGSTOP)
	third, took := waitActive(t, group, time.Minute, second)
	t.Logf("%s stopped; %s active after %s", second.name, third.name, took.Round(time.Millisecond))
	if took > lease+5*time.Second {
		t.Errorf("takeover after SIGSTOP took %s, documented: within the lease (%s) and a second or two", took, lease)
	}
	time.Sleep(stopFor - took)
	second.cmd.Process.Signal(syscall.SIGCONT)
	continued := time.Now()
	deadline := time.Now().Add(time.Minute)
	for {
		st, ok := second.status()
		if ok && st.Role == "standby" && st.State == "standby" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not fall back to standby after SIGCONT (role %q state %q); it said:\n%s", second.name, st.Role, st.State, second.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s continued; standby after %s", second.name, time.Since(continued).Round(time.Millisecond))
	if d := time.Since(continued); d > 15*time.Second {
		t.Errorf("the continued instance took %s to fall back to standby", d)
	}
	if !strings.Contains(second.log.String(), "deposed") {
		t.Errorf("%s does not log why it stopped:\n%s", second.name, second.log.String())
	}
	if st, _ := third.status(); st.Role != "active" {
		t.Errorf("%s is %q after the stale one woke up", third.name, st.Role)
	}
	time.Sleep(2 * time.Second)
	rows := stopWriter()

	// Every row arrives.
	committed := delivery == "exactly-once"
	deadline = time.Now().Add(2 * time.Minute)
	var ids map[int]int
	for {
		ids = kafkaIDs(t, broker, "h", committed)
		if len(ids) >= rows || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	dups := 0
	for id := 1; id <= rows; id++ {
		switch c := ids[id]; {
		case c == 0:
			t.Errorf("row %d missing", id)
		case c > 1:
			dups += c - 1
		}
	}
	t.Logf("%d rows, %d repeated", rows, dups)
	switch {
	case committed && dups > 0:
		t.Errorf("exactly-once: %d rows delivered twice", dups)
	case dups > 300:
		t.Errorf("at-least-once: %d rows delivered twice, want at most a few hundred", dups)
	}

	if indexURL != "" {
		store, err := index.OpenServer(indexURL, true)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		var n, txs, distinct int64
		deadline = time.Now().Add(time.Minute)
		for {
			n, err = store.Count(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n >= int64(rows) || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err := store.DB().QueryRow("SELECT COUNT(*), COUNT(DISTINCT gtid) FROM transactions").Scan(&txs, &distinct); err != nil {
			t.Fatal(err)
		}
		t.Logf("the index holds %d changes of %d transactions", n, distinct)
		// The stopped instance held the index's writer lock: the one that
		// took over from it ended its session.
		if !strings.Contains(third.log.String(), "ended the session of the index's previous writer") {
			t.Errorf("%s did not end the stopped writer's session:\n%s", third.name, third.log.String())
		}
		if n != int64(rows) || txs != int64(rows) || distinct != int64(rows) {
			t.Errorf("the index holds %d changes, %d transactions (%d distinct), want %d: every row once", n, txs, distinct, rows)
		}
	}

	if pg != nil {
		var logRows, distinct, mirror int64
		deadline = time.Now().Add(time.Minute)
		for {
			err := pg.DB.QueryRow("SELECT count(*), count(DISTINCT id) FROM h.t_log").Scan(&logRows, &distinct)
			if err == nil && logRows >= int64(rows) || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		pg.DB.QueryRow("SELECT count(*) FROM h.t").Scan(&mirror)
		t.Logf("the PostgreSQL target's log holds %d rows (%d ids), its mirror %d", logRows, distinct, mirror)
		if logRows != int64(rows) || distinct != int64(rows) || mirror != int64(rows) {
			t.Errorf("the target's log holds %d rows of %d ids and its mirror %d, want %d: every change once", logRows, distinct, mirror, rows)
		}
	}

	if delivery == "at-least-once" {
		// A clean stop of the active one hands over at once; a standby stops
		// at once.
		third.cmd.Process.Signal(syscall.SIGTERM)
		stopped := time.Now()
		if err := third.cmd.Wait(); err != nil {
			t.Errorf("%s exited with %v after SIGTERM", third.name, err)
		}
		third.dead = true
		next, took := waitActive(t, group, time.Minute)
		t.Logf("%s stopped cleanly; %s active %s after SIGTERM", third.name, next.name, time.Since(stopped).Round(time.Millisecond))
		if took > 5*time.Second {
			t.Errorf("takeover after a clean stop took %s", took)
		}
	}

	// The stale instance wrote nothing after the new active's first
	// message: no message of its epoch after one of a newer epoch.
	newest := uint64(0)
	for _, r := range testutil.ReadTopic(t, false, "h", kgo.SeedBrokers(broker)) {
		if r.Attrs.IsControl() {
			continue // a transaction marker
		}
		epoch, found := uint64(0), false
		for _, h := range r.Headers {
			if h.Key == "bintap.epoch" {
				epoch, _ = strconv.ParseUint(string(h.Value), 10, 64)
				found = true
			}
		}
		if !found {
			t.Fatalf("message at offset %d has no epoch header", r.Offset)
		}
		if epoch < newest {
			t.Fatalf("message at offset %d of epoch %d follows one of epoch %d: a deposed instance wrote", r.Offset, epoch, newest)
		}
		newest = epoch
	}
	// At-least-once epochs count the holders; exactly-once's are the
	// producer epochs of the transactional id, bumped at least once per
	// holder.
	if (!committed && newest != 3) || newest < 2 {
		t.Errorf("the newest epoch is %d after three holders", newest)
	}
}
