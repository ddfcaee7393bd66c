package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	var state atomic.Value
	state.Store("streaming")
	var healthy atomic.Bool
	healthy.Store(true)
	commit := time.Unix(1700000000, 0)
	lag := 1.5
	s, err := Listen(Options{Addr: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Status: func() Status {
		return Status{Version: "test", State: state.Load().(string), Healthy: healthy.Load(), Events: 42, Batches: 3, LastCommit: commit, LagSeconds: &lag,
			Tables:    []Table{{Name: `db."t"`, Inserts: 5, Deletes: 1}},
			Snapshots: []Progress{{Kind: "initial", Table: "db.t", Rows: 7, Estimated: 10}},
			Outputs:   []Output{{Name: "kafka://b/t", State: "retrying", Error: "broker down", Messages: 9, Bytes: 900}, {Name: "stdout", State: "ok"}}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()

	code, body := get(t, base+"/status")
	var st Status
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Events != 42 || len(st.Outputs) != 2 || st.Outputs[0].Error != "broker down" {
		t.Fatalf("status: %d %s", code, body)
	}

	_, body = get(t, base+"/metrics")
	for _, want := range []string{
		"# TYPE bintap_events_total counter\nbintap_events_total 42\n",
		"bintap_last_commit_timestamp_seconds 1.7e+09\n",
		`bintap_output_up{output="kafka://b/t"} 0` + "\n",
		`bintap_output_up{output="stdout"} 1` + "\n",
		`bintap_output_bytes_total{output="kafka://b/t"} 900` + "\n",
		`bintap_table_events_total{op="insert",table="db.\"t\""} 5` + "\n",
		`bintap_snapshot_rows{kind="initial",table="db.t"} 7` + "\n",
		`bintap_state{state="streaming"} 1` + "\n",
		`bintap_state{state="retrying"} 0` + "\n",
		"bintap_replication_lag_seconds 1.5\n",
		"bintap_up 1\n",
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if n := strings.Count(body, "# HELP bintap_output_up"); n != 1 {
		t.Errorf("bintap_output_up has %d HELP lines, want 1", n)
	}

	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("healthz while streaming: %d", code)
	}
	state.Store("retrying")
	healthy.Store(false)
	if code, body := get(t, base+"/healthz"); code != 503 || !strings.Contains(body, "retrying") {
		t.Errorf("healthz when unhealthy: %d %s, want 503", code, body)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "bintap_up 0\n") || !strings.Contains(body, `bintap_state{state="retrying"} 1`) {
		t.Errorf("metrics when unhealthy:\n%s", body)
	}

	// Snapshot requests: refused until a handler is set, then validated.
	if code, body := post(t, base+"/snapshot", `{"tables":["db.t"]}`); code != 501 || !strings.Contains(body, "not available") {
		t.Errorf("snapshot without handler: %d %s", code, body)
	}
	var got atomic.Value
	s.OnSnapshot(func(tables []string) error { got.Store(tables); return nil })
	for _, bad := range []struct{ body, want string }{
		{`{"tables":[]}`, "at least one"},
		{`{"tables":["nodot"]}`, `"nodot" is not db.table`},
		{`{"table":"db.t"}`, "unknown field"},
		{`not json`, "expected {\"tables\""},
	} {
		code, body := post(t, base+"/snapshot", bad.body)
		var e struct{ Error string }
		if code != 400 || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, bad.want) {
			t.Errorf("POST %s: %d %s, want 400 mentioning %q", bad.body, code, body, bad.want)
		}
	}
	if code, _ := post(t, base+"/snapshot", `{"tables":["db.t1","db.t2"]}`); code != 202 || len(got.Load().([]string)) != 2 || got.Load().([]string)[1] != "db.t2" {
		t.Errorf("good snapshot request: %d, handler got %v", code, got.Load())
	}
}

// TestSnapshotWhileStarting: a stream still starting answers 503 with
// Retry-After, so clients wait rather than fail.
func TestSnapshotWhileStarting(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0", Status: func() Status { return Status{State: "starting", Healthy: true} }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.OnSnapshot(func([]string) error { return ErrNotReady })
	resp, err := http.Post("http://"+s.Addr()+"/snapshot", "application/json", strings.NewReader(`{"tables":["db.t"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("%d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
