package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func request(t *testing.T, method, url, auth, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTokenAndControl: with a token, every POST needs it (and JSON); the
// snapshot controls reach the handler with their action and tables; GETs
// stay open and never show the token.
func TestTokenAndControl(t *testing.T) {
	const token = "0123456789abcdef-token"
	var logs bytes.Buffer
	var mu sync.Mutex
	var calls []string
	s, err := Listen(Options{Addr: "127.0.0.1:0", Token: token, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Status: func() Status { return Status{State: "streaming", Healthy: true} }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.OnSnapshot(func(tables []string) error {
		mu.Lock()
		calls = append(calls, "start "+strings.Join(tables, ","))
		mu.Unlock()
		return nil
	})
	s.OnSnapshotControl(func(action string, tables []string) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, action+" "+strings.Join(tables, ","))
		return nil
	})
	base := "http://" + s.Addr()
	bearer := "Bearer " + token
	for _, c := range []struct {
		path, auth, ctype, body string
		code                    int
		want                    string
	}{
		{"/snapshot", "", "application/json", `{"tables":["db.t"]}`, 401, "--http-token"},
		{"/snapshot", "Bearer " + token + "x", "application/json", `{"tables":["db.t"]}`, 401, "--http-token"},
		{"/snapshot", token, "application/json", `{"tables":["db.t"]}`, 401, "--http-token"},
		{"/snapshot", bearer, "", `{"tables":["db.t"]}`, 415, "application/json"},
		{"/snapshot", bearer, "text/plain", `{"tables":["db.t"]}`, 415, "application/json"},
		{"/snapshot/pause", "", "application/json", `{}`, 401, "--http-token"},
		{"/snapshot/explode", bearer, "application/json", `{}`, 404, "accepted actions are pause, resume and stop"},
		{"/snapshot/pause", bearer, "application/json", `{"tables":["db.t"]}`, 400, "only with stop"},
		{"/snapshot/stop", bearer, "application/json", `{"tables":["nodot"]}`, 400, `nodot\" is not db.table`},
		{"/snapshot", bearer, "application/json; charset=utf-8", `{"tables":["db.t"]}`, 202, `"accepted"`},
		{"/snapshot/pause", bearer, "application/json", ``, 202, `"pause"`},
		{"/snapshot/resume", bearer, "application/json", `{}`, 202, `"resume"`},
		{"/snapshot/stop", bearer, "application/json", `{"tables":["db.t"]}`, 202, `"stop"`},
		{"/snapshot/stop", bearer, "application/json", `{}`, 202, `"stop"`},
	} {
		code, body := request(t, "POST", base+c.path, c.auth, c.ctype, c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("POST %s (auth %q, type %q, %s): %d %s, want %d with %q", c.path, c.auth, c.ctype, c.body, code, body, c.code, c.want)
		}
	}
	want := []string{"start db.t", "pause ", "resume ", "stop db.t", "stop "}
	if strings.Join(calls, "|") != strings.Join(want, "|") {
		t.Errorf("handlers got %q, want %q", calls, want)
	}
	code, body := request(t, "GET", base+"/status", "", "", "")
	if code != 200 || !strings.Contains(body, `"token_required": true`) {
		t.Errorf("status: %d %s", code, body)
	}
	for _, text := range []string{body, logs.String()} {
		if strings.Contains(text, token) {
			t.Errorf("the token appears in:\n%s", text)
		}
	}
	if !strings.Contains(logs.String(), "refused a request without the right token") {
		t.Errorf("refusals are not logged:\n%s", logs.String())
	}
}

// TestNoTokenOnLoopback: without a token the POSTs work, but still only
// with a JSON body type (a form posted by another site is refused).
func TestNoTokenOnLoopback(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0", Status: func() Status { return Status{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.OnSnapshotControl(func(string, []string) error { return nil })
	if code, _ := request(t, "POST", "http://"+s.Addr()+"/snapshot/pause", "", "application/x-www-form-urlencoded", "a=b"); code != 415 {
		t.Errorf("form post: %d, want 415", code)
	}
	if code, body := request(t, "POST", "http://"+s.Addr()+"/snapshot/pause", "", "application/json", "{}"); code != 202 {
		t.Errorf("json post: %d %s", code, body)
	}
	if code, body := request(t, "GET", "http://"+s.Addr()+"/status", "", "", ""); code != 200 || !strings.Contains(body, `"token_required": false`) {
		t.Errorf("status: %d %s", code, body)
	}
}

// TestDashboardAssets: the page and its two assets come from the binary
// with a policy that allows nothing from elsewhere, and the page refers to
// no other host.
func TestDashboardAssets(t *testing.T) {
	s, err := Listen(Options{Addr: "127.0.0.1:0", Status: func() Status { return Status{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()
	for path, ctype := range map[string]string{"/": "text/html", "/assets/dashboard.js": "text/javascript", "/assets/dashboard.css": "text/css"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(b) < 500 {
			t.Errorf("GET %s: %d %s, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(b))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if m := regexp.MustCompile(`(?:src|href)=["']?(?:https?:)?//`).Find(b); m != nil {
			t.Errorf("GET %s refers to another host: %s", path, m)
		}
	}
	for _, path := range []string{"/assets/", "/assets/dashboard.html", "/assets/../server.go", "/nothing"} {
		if resp, err := http.Get(base + path); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Errorf("GET %s: 200, want not found", path)
			}
		}
	}
}

// TestHistory: samples keep the lag and the rate between samples, and
// only the last 15 minutes.
func TestHistory(t *testing.T) {
	h := &history{every: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lag := 2.5
	for i := range 20 {
		h.take(func() (uint64, *float64) { return uint64(i * 600), &lag }, t0.Add(time.Duration(i)*time.Minute))
	}
	got := h.samples()
	if len(got) != 15 || !got[0].Time.Equal(t0.Add(5*time.Minute)) || got[14].EventsPerSec != 10 || *got[14].LagSeconds != 2.5 {
		t.Errorf("history: %d samples, first %v, last %+v", len(got), got[0].Time, got[len(got)-1])
	}
	// A restart of the counter (a new process) gives no negative rate.
	h.take(func() (uint64, *float64) { return 5, nil }, t0.Add(20*time.Minute))
	if s := h.samples(); s[len(s)-1].EventsPerSec != 0 || s[len(s)-1].LagSeconds != nil {
		t.Errorf("after a counter reset: %+v", s[len(s)-1])
	}

	// Served as JSON.
	srv, err := Listen(Options{Addr: "127.0.0.1:0", HistoryEvery: 50 * time.Millisecond, Status: func() Status { return Status{Events: 1} }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	time.Sleep(200 * time.Millisecond)
	code, body := request(t, "GET", "http://"+srv.Addr()+"/history", "", "", "")
	var reply struct {
		Samples []Sample `json:"samples"`
		Window  float64  `json:"window_seconds"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &reply) != nil || len(reply.Samples) < 2 || reply.Window != 900 {
		t.Errorf("GET /history: %d %s", code, body)
	}
}

// TestNotices: warnings and errors are kept newest first, with the
// handler's and the record's attributes, whatever the log level; other
// records pass through only.
func TestNotices(t *testing.T) {
	var out bytes.Buffer
	n := NewNotices(3)
	log := slog.New(n.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError})))
	log.Info("hello")
	log.With("output", "kafka://b/t").Warn("broker down", "err", "dial tcp: refused")
	log.WithGroup("g").Error("it broke", "n", 3)
	for i := range 3 {
		log.Warn("again", "i", i)
	}
	got := n.List()
	if len(got) != 3 || got[0].Message != "again i=2" || got[2].Message != "again i=0" {
		t.Errorf("notices: %+v", got)
	}
	n2 := NewNotices(10)
	log2 := slog.New(n2.Handler(slog.NewTextHandler(io.Discard, nil)))
	log2.With("output", "kafka://b/t").Warn("broker down", "err", "dial tcp: refused")
	log2.WithGroup("g").Error("it broke", "n", 3)
	got = n2.List()
	if len(got) != 2 || got[1].Message != `broker down output=kafka://b/t err="dial tcp: refused"` || got[1].Level != "WARN" ||
		got[0].Message != "it broke g.n=3" || got[0].Level != "ERROR" {
		t.Errorf("notices: %+v", got)
	}
	if !strings.Contains(out.String(), "it broke") || strings.Contains(out.String(), "broker down") || strings.Contains(out.String(), "hello") {
		t.Errorf("the level of the handler below is not kept:\n%s", out.String())
	}
}
