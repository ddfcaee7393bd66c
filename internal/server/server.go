// Package server is bintap's HTTP interface: GET /status (JSON), GET
// /metrics (Prometheus, with the Go and process collectors), GET /healthz
// (503 once the stream is unhealthy), and POST /snapshot to request an
// incremental snapshot from the running stream.
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
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Status is what GET /status returns.
type Status struct {
	Version string `json:"version"`
	Source  string `json:"source"` // URL without the password
	Flavor  string `json:"flavor,omitempty"`
	// State is the lifecycle state: starting, snapshotting, streaming,
	// retrying, stopping or failed.
	State string `json:"state"`
	// Reason says why the stream is retrying (source unreachable, output
	// down); Error why it failed.
	Reason     string    `json:"reason,omitempty"`
	Error      string    `json:"error,omitempty"`
	StateSince time.Time `json:"state_since"`
	// Healthy is what /healthz and bintap_up report: false once the stream
	// failed, or while it has been retrying for longer than the grace period.
	Healthy bool      `json:"healthy"`
	Started time.Time `json:"started"`
	// Events and Batches written to every output so far.
	Events  uint64 `json:"events"`
	Batches uint64 `json:"batches"`
	// Checkpoint is the last position every output durably holds.
	Checkpoint        string    `json:"checkpoint,omitempty"`
	CheckpointWritten time.Time `json:"checkpoint_written,omitempty"`
	// LastCommit is the commit time of the newest change written.
	LastCommit time.Time `json:"last_commit,omitempty"`
	// LagSeconds is now minus the commit time of the last delivered change,
	// 0 when the stream has caught up with an idle source; absent before
	// either is known.
	LagSeconds *float64   `json:"lag_seconds,omitempty"`
	Tables     []Table    `json:"tables,omitempty"`
	Outputs    []Output   `json:"outputs"`
	Snapshots  []Progress `json:"snapshots,omitempty"`
	// Sections are added by parts of bintap that have their own figures
	// (snapshot details, the change index, Kafka).
	Sections map[string]any `json:"sections,omitempty"`
}

// Table counts the events of one captured table.
type Table struct {
	Name    string `json:"name"` // db.table
	Inserts uint64 `json:"inserts"`
	Updates uint64 `json:"updates"`
	Deletes uint64 `json:"deletes"`
	Reads   uint64 `json:"reads"` // snapshot reads
	// LastChange is the commit time of its newest event.
	LastChange time.Time `json:"last_change,omitempty"`
}

// Output is one destination's state.
type Output struct {
	Name     string `json:"name"`
	State    string `json:"state"` // ok, retrying, failed
	Error    string `json:"error,omitempty"`
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
}

// Progress is one table's snapshot progress.
type Progress struct {
	Kind      string `json:"kind"` // initial or incremental
	Table     string `json:"table"`
	Rows      int64  `json:"rows"`
	Estimated int64  `json:"estimated"`
	Done      bool   `json:"done"`
}

// ErrNotReady is what a request handler returns while the stream is still
// starting: the answer is 503 with Retry-After.
var ErrNotReady = errors.New("the stream is starting; try again in a moment")

// Server serves the HTTP interface.
type Server struct {
	log *slog.Logger
	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	status   func() Status
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collector{status})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", s.handleStatus)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogError{log}}))
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
	body := map[string]string{"state": st.State}
	if st.Reason != "" {
		body["reason"] = st.Reason
	}
	if st.Error != "" {
		body["error"] = st.Error
	}
	code := http.StatusOK
	if !st.Healthy {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
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
		if errors.Is(err, ErrNotReady) {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
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

// slogError is promhttp's error log.
type slogError struct{ log *slog.Logger }

func (l slogError) Println(v ...any) { l.log.Warn("metrics", "err", fmt.Sprint(v...)) }
