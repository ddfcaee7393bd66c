// Package server is bintap's HTTP interface: GET /status (JSON), GET
// /metrics (Prometheus text format), GET /healthz, and POST /snapshot to
// request an incremental snapshot from the running stream.
//
// The server reads state through functions given by the wiring, so it
// imports nothing of the stream and can never block it: every reader takes
// a copy.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Status is what GET /status returns.
type Status struct {
	Version string    `json:"version"`
	Source  string    `json:"source"` // URL without the password
	Flavor  string    `json:"flavor,omitempty"`
	State   string    `json:"state"` // starting, streaming, stopping, failed
	Error   string    `json:"error,omitempty"`
	Started time.Time `json:"started"`
	// Events and Batches written to every output so far.
	Events  uint64 `json:"events"`
	Batches uint64 `json:"batches"`
	// Checkpoint is the last position every output durably holds.
	Checkpoint        string    `json:"checkpoint,omitempty"`
	CheckpointWritten time.Time `json:"checkpoint_written,omitempty"`
	// LastCommit is the commit time of the newest change written.
	LastCommit time.Time `json:"last_commit,omitempty"`
	Outputs    []Output  `json:"outputs"`
	// Sections are added by parts of bintap that have their own figures
	// (snapshot progress, the change index).
	Sections map[string]any `json:"sections,omitempty"`
}

// Output is one destination's state.
type Output struct {
	Name  string `json:"name"`
	State string `json:"state"` // ok, retrying, failed
	Error string `json:"error,omitempty"`
}

// Metric is one extra Prometheus sample a section contributes.
type Metric struct {
	Name   string // bintap_...
	Help   string
	Type   string // gauge or counter
	Labels map[string]string
	Value  float64
}

// Server serves the HTTP interface.
type Server struct {
	log *slog.Logger
	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	status   func() Status
	metrics  []func() []Metric
	snapshot func(tables []string) error
}

// Listen binds addr ("127.0.0.1:7070", ":0" for any free port) and serves
// until Close. status is called for every request that needs the state.
func Listen(addr string, status func() Status, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http: listen on %s: %w", addr, err)
	}
	s := &Server{log: log, ln: ln, status: status}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", s.handleStatus)
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("POST /snapshot", s.handleSnapshot)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	log.Info("http status listening", "addr", ln.Addr().String())
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// AddMetrics adds a source of extra samples.
func (s *Server) AddMetrics(f func() []Metric) {
	s.mu.Lock()
	s.metrics = append(s.metrics, f)
	s.mu.Unlock()
}

// OnSnapshot sets what POST /snapshot calls with the requested tables.
func (s *Server) OnSnapshot(f func(tables []string) error) {
	s.mu.Lock()
	s.snapshot = f
	s.mu.Unlock()
}

// Close stops the server, waiting up to five seconds for requests.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.status())
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	st := s.status()
	if st.State == "failed" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"state": st.State, "error": st.Error})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": st.State})
}

// snapshotRequest is the body of POST /snapshot.
type snapshotRequest struct {
	Tables []string `json:"tables"`
}

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.snapshot
	s.mu.Unlock()
	if f == nil {
		writeError(w, http.StatusNotImplemented, "incremental snapshots are not available in this stream")
		return
	}
	var req snapshotRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`body: %v; expected {"tables": ["db.table", ...]}`, err))
		return
	}
	if len(req.Tables) == 0 {
		writeError(w, http.StatusBadRequest, `tables: at least one "db.table" is required`)
		return
	}
	for _, t := range req.Tables {
		if i := strings.IndexByte(t, '.'); i <= 0 || i == len(t)-1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("tables: %q is not db.table", t))
			return
		}
	}
	if err := f(req.Tables); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"accepted": req.Tables})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (s *Server) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	st := s.status()
	ms := []Metric{
		{Name: "bintap_up", Help: "1 while the stream runs, 0 once it failed", Type: "gauge", Value: boolFloat(st.State != "failed")},
		{Name: "bintap_events_total", Help: "Change events written to every output", Type: "counter", Value: float64(st.Events)},
		{Name: "bintap_batches_total", Help: "Batches written to every output", Type: "counter", Value: float64(st.Batches)},
		{Name: "bintap_last_commit_timestamp_seconds", Help: "Commit time of the newest change written (0 before the first)", Type: "gauge", Value: unixOrZero(st.LastCommit)},
		{Name: "bintap_checkpoint_timestamp_seconds", Help: "When the last checkpoint was written (0 before the first)", Type: "gauge", Value: unixOrZero(st.CheckpointWritten)},
		{Name: "bintap_start_timestamp_seconds", Help: "When this process started streaming", Type: "gauge", Value: unixOrZero(st.Started)},
	}
	for _, o := range st.Outputs {
		ms = append(ms, Metric{Name: "bintap_output_up", Help: "1 when the output accepts writes, 0 while it retries or failed", Type: "gauge",
			Labels: map[string]string{"output": o.Name}, Value: boolFloat(o.State == "ok")})
	}
	s.mu.Lock()
	extra := append([]func() []Metric(nil), s.metrics...)
	s.mu.Unlock()
	for _, f := range extra {
		ms = append(ms, f()...)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write(AppendMetrics(nil, ms))
}

// AppendMetrics renders samples in the Prometheus text exposition format,
// one HELP/TYPE header per metric name, samples of a name together.
func AppendMetrics(dst []byte, ms []Metric) []byte {
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	for i, m := range ms {
		if i == 0 || ms[i-1].Name != m.Name {
			dst = fmt.Appendf(dst, "# HELP %s %s\n# TYPE %s %s\n", m.Name, m.Help, m.Name, m.Type)
		}
		dst = append(dst, m.Name...)
		if len(m.Labels) > 0 {
			keys := make([]string, 0, len(m.Labels))
			for k := range m.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			dst = append(dst, '{')
			for j, k := range keys {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, k...)
				dst = append(dst, '=')
				dst = strconv.AppendQuote(dst, m.Labels[k])
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ' ')
		dst = strconv.AppendFloat(dst, m.Value, 'g', -1, 64)
		dst = append(dst, '\n')
	}
	return dst
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixOrZero(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
