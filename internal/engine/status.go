package engine

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/server"
	"github.com/bintap/bintap/internal/snapshot"
)

// caughtUpFor is how long a "caught up with an idle source" report counts:
// the source hears from an idle server every second.
const caughtUpFor = 3 * time.Second

// Status is the stream's state for the HTTP server. The lifecycle state is
// the phase of the run, unless the source is unreachable or an output is
// down: then it is retrying, with the reason. The stream is unhealthy once
// it failed, or while it has been retrying for longer than --health-grace.
func (e *Engine) Status() server.Status {
	now := time.Now()
	e.mu.Lock()
	s := server.Status{Version: e.opt.Version, Source: e.cfg.Source.Redacted(), Flavor: e.flavor, Role: "single", State: e.state, StateSince: e.since,
		Error: e.failure, Started: e.began, Notices: e.notices.List()}
	outputs, p, plan := e.outputs, e.pipe, e.plan
	sourceErr, sourceDown := e.sourceErr, e.sourceDown
	el := e.elector
	e.mu.Unlock()
	if el != nil {
		hs := el.Status()
		s.Role, s.HAGroup, s.HAHolder, s.HAEpoch = hs.Role, hs.Group, hs.Holder, hs.Epoch
		s.Sections = map[string]any{"ha": hs}
	}

	var retrying []string
	var retryingSince time.Time
	if !sourceDown.IsZero() {
		retrying = append(retrying, fmt.Sprintf("source unreachable: %v", sourceErr))
		retryingSince = sourceDown
	}
	for _, o := range outputs {
		out := e.outputStatus(o, now)
		if out.State == "retrying" {
			retrying = append(retrying, fmt.Sprintf("output %s down: %s", o.Name, out.Error))
			if since := e.outputDownSince(o.Name); retryingSince.IsZero() || since.Before(retryingSince) {
				retryingSince = since
			}
		}
		s.Outputs = append(s.Outputs, out)
		if sr, ok := o.Dest.(pipeline.StatusReporter); ok {
			if s.Sections == nil {
				s.Sections = map[string]any{}
			}
			s.Sections[o.Name] = sr.Status()
		}
	}
	if len(retrying) > 0 && s.State != StateFailed && s.State != StateStopping {
		s.State, s.StateSince, s.Reason = StateRetrying, retryingSince, strings.Join(retrying, "; ")
	}
	s.Healthy = s.State != StateFailed && (s.State != StateRetrying || now.Sub(s.StateSince) <= e.cfg.HealthGrace)
	for _, o := range s.Outputs {
		s.Healthy = s.Healthy && o.State != "failed"
	}
	if p != nil {
		e.addStats(&s, p.Stats(), now)
	}
	e.addSnapshots(&s, plan)
	for i := range s.Outputs {
		// The checkpoint is written once every output flushed up to it.
		s.Outputs[i].Position = s.Checkpoint
	}
	return s
}

// figures are the events delivered and the lag, for the HTTP server's
// history: the pipeline's figures only, without asking the outputs.
func (e *Engine) figures() (uint64, *float64) {
	e.mu.Lock()
	p := e.pipe
	e.mu.Unlock()
	if p == nil {
		return 0, nil
	}
	st := p.Stats()
	var last time.Time
	if st.LastCommit != 0 {
		last = time.Unix(int64(st.LastCommit), 0).UTC()
	}
	if lag, ok := lagSeconds(time.Now(), last, st.CaughtUp); ok {
		return st.Events, &lag
	}
	return st.Events, nil
}

// outputStatus is one output's health and counts; it records since when an
// output is retrying.
func (e *Engine) outputStatus(o pipeline.Output, now time.Time) server.Output {
	out := server.Output{Name: o.Name, State: "ok"}
	if h, ok := o.Dest.(pipeline.Reporter); ok {
		if state, err := h.Health(); state != "" {
			out.State = state
			if err != nil {
				out.Error = err.Error()
			}
		}
	}
	if c, ok := o.Dest.(pipeline.Counter); ok {
		out.Messages, out.Bytes = c.Counts()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch _, known := e.outputDown[o.Name]; {
	case out.State == "retrying" && !known:
		e.outputDown[o.Name] = now
	case out.State != "retrying":
		delete(e.outputDown, o.Name)
	}
	return out
}

func (e *Engine) outputDownSince(name string) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.outputDown[name]
}

// addStats adds the pipeline's figures: events, tables, checkpoint and lag.
func (e *Engine) addStats(s *server.Status, st pipeline.Stats, now time.Time) {
	s.Events, s.Batches = st.Events, st.Batches
	if st.Checkpoint.File != "" {
		s.Checkpoint, s.CheckpointWritten = st.Checkpoint.String(), st.Checkpoint.Written
	}
	var last time.Time
	if st.LastCommit != 0 {
		last = time.Unix(int64(st.LastCommit), 0).UTC()
		s.LastCommit = last
	}
	if lag, ok := lagSeconds(now, last, st.CaughtUp); ok {
		s.LagSeconds = &lag
	}
	for name, c := range st.Tables {
		t := server.Table{Name: name, Inserts: c.Inserts, Updates: c.Updates, Deletes: c.Deletes, Reads: c.Reads}
		if c.LastChange != 0 {
			t.LastChange = time.Unix(int64(c.LastChange), 0).UTC()
		}
		s.Tables = append(s.Tables, t)
	}
	sort.Slice(s.Tables, func(i, j int) bool { return s.Tables[i].Name < s.Tables[j].Name })
}

// lagSeconds is now minus the commit time of the last delivered change, or
// 0 when the source said recently that everything is delivered (an idle
// server). While the source is unreachable its reports stop, and the lag
// grows from the last one. ok is false before either is known.
func lagSeconds(now, lastCommit, caughtUp time.Time) (float64, bool) {
	switch {
	case !caughtUp.IsZero() && !caughtUp.Before(lastCommit) && now.Sub(caughtUp) <= caughtUpFor:
		return 0, true
	case !caughtUp.IsZero() && caughtUp.After(lastCommit):
		return max(now.Sub(caughtUp).Seconds(), 0), true
	case !lastCommit.IsZero():
		return max(now.Sub(lastCommit).Seconds(), 0), true
	}
	return 0, false
}

// addSnapshots adds the snapshot progress: figures for metrics and the
// detailed sections.
func (e *Engine) addSnapshots(s *server.Status, plan snapshotPlan) {
	add := func(kind, section string, tables []snapshot.TableProgress) {
		for _, t := range tables {
			s.Snapshots = append(s.Snapshots, server.Progress{Kind: kind, Table: t.Table, Rows: t.Rows, Estimated: t.Estimated,
				RowsPerSecond: t.RowsPerSec, ETASeconds: t.ETASeconds, Done: t.Done})
		}
		if s.Sections == nil {
			s.Sections = map[string]any{}
		}
		s.Sections[section] = tables
	}
	if plan.snap != nil {
		add("initial", "initial_snapshot", plan.snap.Progress().Status())
	}
	if plan.inc != nil {
		add("incremental", "incremental_snapshot", plan.inc.Status())
		s.SnapshotPaused = plan.inc.Paused()
	}
}
