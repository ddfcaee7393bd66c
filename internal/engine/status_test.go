package engine

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/config"
	"github.com/bintap/bintap/internal/pipeline"
)

// flaky is an output whose health the test sets.
type flaky struct {
	plain
	state string
}

func (f *flaky) Health() (string, error) { return f.state, errors.New("broker b1 down") }

func TestStatusTellsTheTruth(t *testing.T) {
	cfg := &config.Config{HealthGrace: 10 * time.Second}
	e := New(cfg, Options{Version: "test"})
	out := &flaky{state: "ok"}
	e.outputs = []pipeline.Output{{Name: "kafka://b1/t", Dest: out}}
	if s := e.Status(); s.State != StateStarting || !s.Healthy {
		t.Fatalf("new engine: %s healthy %v", s.State, s.Healthy)
	}
	e.setState(StateStreaming)

	// The source goes away: retrying at once, unhealthy after the grace.
	e.sourceState(errors.New("dial tcp: connection refused"))
	s := e.Status()
	if s.State != StateRetrying || !s.Healthy || !strings.Contains(s.Reason, "source unreachable: dial tcp") {
		t.Fatalf("source down: %s healthy %v reason %q", s.State, s.Healthy, s.Reason)
	}
	e.mu.Lock()
	e.sourceDown = time.Now().Add(-11 * time.Second)
	e.mu.Unlock()
	e.sourceState(errors.New("still refused")) // a later failed attempt keeps the first time
	if s := e.Status(); s.Healthy || s.State != StateRetrying {
		t.Fatalf("source down past the grace: %s healthy %v", s.State, s.Healthy)
	}
	e.sourceState(nil)
	if s := e.Status(); s.State != StateStreaming || !s.Healthy || s.Reason != "" {
		t.Fatalf("source back: %s healthy %v reason %q", s.State, s.Healthy, s.Reason)
	}

	// An output down is retrying too, and a failed one is unhealthy.
	out.state = "retrying"
	if s := e.Status(); s.State != StateRetrying || !strings.Contains(s.Reason, "output kafka://b1/t down: broker b1 down") || !s.Healthy {
		t.Fatalf("output down: %s %q healthy %v", s.State, s.Reason, s.Healthy)
	}
	out.state = "failed"
	if s := e.Status(); s.Healthy {
		t.Fatalf("failed output: healthy")
	}

	// A stop is not a failure; a failure stays.
	out.state = "ok"
	e.setState(StateStopping)
	if s := e.Status(); s.State != StateStopping || !s.Healthy {
		t.Fatalf("stopping: %s healthy %v", s.State, s.Healthy)
	}
	e.mu.Lock()
	e.state, e.failure = StateFailed, "boom"
	e.mu.Unlock()
	e.setState(StateStreaming)
	if s := e.Status(); s.State != StateFailed || s.Healthy || s.Error != "boom" {
		t.Fatalf("failed: %s healthy %v error %q", s.State, s.Healthy, s.Error)
	}
}

// TestStatusNotices: what the engine logs as a warning or an error is in
// the status, newest first, even when the log level hides warnings; the
// role is single.
func TestStatusNotices(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))
	e := New(&config.Config{}, Options{Log: log})
	e.log.Info("not kept")
	e.log.Warn("first", "table", "db.t")
	e.log.Error("second")
	s := e.Status()
	if s.Role != "single" || len(s.Notices) != 2 || s.Notices[0].Message != "second" || s.Notices[0].Level != "ERROR" ||
		s.Notices[1].Message != "first table=db.t" || s.Notices[1].Time.IsZero() {
		t.Errorf("role %q, notices %+v", s.Role, s.Notices)
	}
	if strings.Contains(buf.String(), "first") || !strings.Contains(buf.String(), "second") {
		t.Errorf("the log level is not kept:\n%s", buf.String())
	}
}
