// Package server is bintap's HTTP interface: the dashboard (GET /, its
// assets embedded in the binary), GET /status (JSON), GET /history (lag and
// events per second over the last 15 minutes), GET /metrics (Prometheus,
// with the Go and process collectors), GET /healthz (503 once the stream is
// unhealthy), and POST /snapshot (and /snapshot/pause, /snapshot/resume,
// /snapshot/stop) to control incremental snapshots of the running stream.
//
// The POST endpoints take JSON only (a browser cannot send that from
// another site without asking first) and, when a token is configured, only
// with "Authorization: Bearer TOKEN". The wiring refuses a non-loopback
// address without a token. Optional TLS serves HTTPS.
//
// The server reads state through functions given by the wiring, so it
// imports nothing of the stream and can never block it: every reader takes
// a copy.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
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
	// Role is this process's part in a deployment: "single" (one process
	// streams; there is no standby), or in an HA group (--ha-group)
	// "active" (it streams) or "standby" (it waits for the group's lock).
	Role string `json:"role,omitempty"`
	// HAGroup is the group's name, HAHolder who holds its lock, and
	// HAEpoch the epoch this instance wrote with when it last was active.
	HAGroup  string `json:"ha_group,omitempty"`
	HAHolder string `json:"ha_holder,omitempty"`
	HAEpoch  uint64 `json:"ha_epoch,omitempty"`
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
	// SnapshotPaused is true while incremental snapshots are paused.
	SnapshotPaused bool `json:"snapshot_paused,omitempty"`
	// TokenRequired says the POST endpoints need the --http-token (never
	// the token itself). The server sets it.
	TokenRequired bool `json:"token_required"`
	// Notices are the last warnings and errors logged, newest first.
	Notices []Notice `json:"notices,omitempty"`
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
	// Position is the last position the output durably holds.
	Position string `json:"position,omitempty"`
}

// Progress is one table's snapshot progress.
type Progress struct {
	Kind      string `json:"kind"` // initial or incremental
	Table     string `json:"table"`
	Rows      int64  `json:"rows"`
	Estimated int64  `json:"estimated"`
	// RowsPerSecond is the reading rate; ETASeconds the estimated time
	// left (-1 when unknown, 0 when done).
	RowsPerSecond float64 `json:"rows_per_second"`
	ETASeconds    float64 `json:"eta_seconds"`
	Done          bool    `json:"done"`
}

// ErrNotReady is what a request handler returns while the stream is still
// starting: the answer is 503 with Retry-After.
var ErrNotReady = errors.New("the stream is starting; try again in a moment")

// Options configure the server.
type Options struct {
	// Addr is where to listen: "127.0.0.1:7070", ":0" for any free port.
	Addr string
	// Token, when set, is required on the POST endpoints as
	// "Authorization: Bearer TOKEN".
	Token string
	// TLSCert and TLSKey (PEM files), when set, serve HTTPS.
	TLSCert, TLSKey string
	// Status is called for every request that needs the state.
	Status func() Status
	Log    *slog.Logger
	// Figures, when set, gives the history its samples (events delivered
	// and lag) more cheaply than Status, which asks every output.
	Figures func() (events uint64, lag *float64)
	// HistoryEvery is the interval of the lag and rate history (default
	// 2s; 15 minutes of it are kept).
	HistoryEvery time.Duration
	// Snapshot and Control, when set, are what POST /snapshot and
	// /snapshot/{pause,resume,stop} call, from the first request on (see
	// OnSnapshot).
	Snapshot func(tables []string) error
	Control  SnapshotControl
}

// SnapshotControl is what POST /snapshot/pause, /snapshot/resume and
// /snapshot/stop call: action is "pause", "resume" or "stop"; tables
// (stop only) narrow it, none meaning all.
type SnapshotControl func(action string, tables []string) error

// Server serves the HTTP interface.
type Server struct {
	log      *slog.Logger
	srv      *http.Server
	ln       net.Listener
	status   func() Status
	tokenSum []byte // sha256 of the token; nil when none
	hist     *history
	stopHist func()

	mu       sync.Mutex
	snapshot func(tables []string) error
	control  SnapshotControl
}

// Listen binds opt.Addr and serves until Close.
func Listen(opt Options) (*Server, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	var tlsConf *tls.Config
	if opt.TLSCert != "" || opt.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(opt.TLSCert, opt.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("http: TLS certificate %s and key %s: %w", opt.TLSCert, opt.TLSKey, err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("http: listen on %s: %w", opt.Addr, err)
	}
	s := &Server{log: opt.Log, ln: ln, snapshot: opt.Snapshot, control: opt.Control}
	if opt.Token != "" {
		sum := sha256.Sum256([]byte(opt.Token))
		s.tokenSum = sum[:]
	}
	s.status = func() Status {
		st := opt.Status()
		st.TokenRequired = s.tokenSum != nil
		return st
	}
	figures := opt.Figures
	if figures == nil {
		figures = func() (uint64, *float64) { st := opt.Status(); return st.Events, st.LagSeconds }
	}
	s.hist, s.stopHist = startHistory(figures, opt.HistoryEvery)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collector{s.status})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleDashboard)
	mux.HandleFunc("GET /assets/{name}", s.handleAsset)
	mux.HandleFunc("GET /status", s.handleStatus)
	mux.HandleFunc("GET /history", s.handleHistory)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogError{opt.Log}}))
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("POST /snapshot", s.guard(s.handleSnapshot))
	mux.HandleFunc("POST /snapshot/{action}", s.guard(s.handleControl))
	s.srv = &http.Server{Handler: securityHeaders(mux), ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConf,
		ErrorLog: slog.NewLogLogger(opt.Log.Handler(), slog.LevelDebug)}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	go func() {
		var err error
		if tlsConf != nil {
			err = s.srv.ServeTLS(ln, "", "")
		} else {
			err = s.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			opt.Log.Error("http server stopped", "err", err)
		}
	}()
	opt.Log.Info("http status and dashboard listening", "url", scheme+"://"+ln.Addr().String()+"/", "token_required", s.tokenSum != nil)
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

// OnSnapshotControl sets what POST /snapshot/{pause,resume,stop} calls.
func (s *Server) OnSnapshotControl(f SnapshotControl) {
	s.mu.Lock()
	s.control = f
	s.mu.Unlock()
}

// Close stops the server, waiting up to five seconds for requests.
func (s *Server) Close() error {
	s.stopHist()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// guard admits a POST only with a JSON body type (so a page of another
// site cannot send it without a CORS preflight, which is never answered)
// and, when a token is configured, the right bearer token.
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "Content-Type: application/json is required")
			return
		}
		if s.tokenSum != nil {
			given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(given))
			if !ok || subtle.ConstantTimeCompare(sum[:], s.tokenSum) != 1 {
				s.log.Warn("http: refused a request without the right token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Bearer realm="bintap"`)
				writeError(w, http.StatusUnauthorized, "this endpoint needs the stream's --http-token as \"Authorization: Bearer TOKEN\"")
				return
			}
		}
		h(w, r)
	}
}

// securityHeaders keeps the dashboard to its own origin: its own scripts
// and styles only, no framing, no referrer.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
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

// readTables decodes a {"tables": [...]} body and checks each name; it
// answers the request itself and returns false when the body is bad.
func readTables(w http.ResponseWriter, r *http.Request, required bool) ([]string, bool) {
	var req snapshotRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && (required || !errors.Is(err, io.EOF)) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(`body: %v; expected {"tables": ["db.table", ...]}`, err))
		return nil, false
	}
	if required && len(req.Tables) == 0 {
		writeError(w, http.StatusBadRequest, `tables: at least one "db.table" is required`)
		return nil, false
	}
	for _, t := range req.Tables {
		if i := strings.IndexByte(t, '.'); i <= 0 || i == len(t)-1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("tables: %q is not db.table", t))
			return nil, false
		}
	}
	return req.Tables, true
}

// answer writes the result of a snapshot request or control.
func answer(w http.ResponseWriter, err error, ok any) {
	switch {
	case errors.Is(err, ErrNotReady):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case err != nil:
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeJSON(w, http.StatusAccepted, ok)
	}
}

func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.snapshot
	s.mu.Unlock()
	if f == nil {
		writeError(w, http.StatusNotImplemented, "incremental snapshots are not available in this stream")
		return
	}
	tables, ok := readTables(w, r, true)
	if !ok {
		return
	}
	answer(w, f(tables), map[string]any{"accepted": tables})
}

// handleControl is POST /snapshot/{pause,resume,stop}; stop takes an
// optional {"tables": [...]} (none: every queued table).
func (s *Server) handleControl(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != "pause" && action != "resume" && action != "stop" {
		writeError(w, http.StatusNotFound, fmt.Sprintf("snapshot action %q: accepted actions are pause, resume and stop", action))
		return
	}
	s.mu.Lock()
	f := s.control
	s.mu.Unlock()
	if f == nil {
		writeError(w, http.StatusNotImplemented, "incremental snapshots are not available in this stream")
		return
	}
	tables, ok := readTables(w, r, false)
	if !ok {
		return
	}
	if action != "stop" && len(tables) > 0 {
		writeError(w, http.StatusBadRequest, "tables: "+action+" applies to every incremental snapshot; name tables only with stop")
		return
	}
	answer(w, f(action, tables), map[string]any{"action": action, "tables": tables})
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
