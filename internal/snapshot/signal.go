package snapshot

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/bintap/bintap/internal/change"
)

// signal is one row inserted into the signal table: columns id, type and
// data, whatever their order and the table's other columns (the layouts of
// Debezium's debezium_signal and the hosted source's streamkap_signal).
type signal struct {
	id, typ, data string
}

// signalData is the JSON in the data column.
type signalData struct {
	DataCollections []string `json:"data-collections"`
	Type            string   `json:"type"`
	Message         string   `json:"message"`
}

// signalRow takes a signal table insert (on the stream goroutine): it is
// queued for the reader goroutine, which may query the server.
func (inc *Incremental) signalRow(t *change.Table, row []change.Value) {
	var sg signal
	for i, c := range t.Columns {
		if i >= len(row) {
			break
		}
		v := string(row[i].Text)
		switch strings.ToLower(c.Name) {
		case "id":
			if row[i].Text == nil && !row[i].IsNull() { // a numeric id
				v = fmt.Sprint(row[i].Int + int64(row[i].Uint))
			}
			sg.id = v
		case "type":
			sg.typ = v
		case "data":
			sg.data = v
		}
	}
	inc.mu.Lock()
	inc.signals = append(inc.signals, sg)
	inc.mu.Unlock()
	inc.poke()
}

// handleSignals executes the queued signals (reader goroutine).
func (inc *Incremental) handleSignals() {
	inc.mu.Lock()
	sigs := inc.signals
	inc.signals = nil
	inc.mu.Unlock()
	for _, sg := range sigs {
		inc.handle(sg)
	}
}

func (inc *Incremental) handle(sg signal) {
	log := inc.opt.Log.With("signal_id", sg.id, "signal_type", sg.typ)
	inc.mu.Lock()
	seen := sg.id != "" && slices.Contains(inc.state.Signals, sg.id)
	if sg.id != "" && !seen {
		inc.state.Signals = append(inc.state.Signals, sg.id)
		if len(inc.state.Signals) > 1000 {
			inc.state.Signals = inc.state.Signals[len(inc.state.Signals)-1000:]
		}
		inc.dirty = true
	}
	inc.mu.Unlock()
	if seen {
		log.Debug("signal already handled (replayed after a restart)")
		return
	}
	var d signalData
	if strings.TrimSpace(sg.data) != "" {
		if err := json.Unmarshal([]byte(sg.data), &d); err != nil {
			log.Warn("ignoring a signal: its data is not valid JSON", "data", truncate(sg.data, 200), "err", err)
			return
		}
	}
	switch sg.typ {
	case "execute-snapshot":
		if d.Type != "" && !strings.EqualFold(d.Type, "incremental") {
			log.Warn("ignoring a signal: only incremental snapshots can be executed", "snapshot_type", d.Type)
			return
		}
		if len(d.DataCollections) == 0 {
			log.Warn("ignoring a signal: execute-snapshot needs data-collections, such as {\"data-collections\": [\"db.t1\"], \"type\": \"incremental\"}")
			return
		}
		var ok []string
		for _, t := range d.DataCollections {
			if reason := inc.checkTable(t); reason != "" {
				log.Warn("ignoring a table of an execute-snapshot signal", "table", t, "why", reason)
				continue
			}
			ok = append(ok, t)
		}
		inc.enqueue(ok)
	case "stop-snapshot":
		inc.stop(d.DataCollections)
		log.Info("incremental snapshots stopped", "tables", d.DataCollections)
	case "pause-snapshot":
		inc.setPaused(true)
		log.Info("incremental snapshots paused")
	case "resume-snapshot":
		inc.setPaused(false)
		log.Info("incremental snapshots resumed")
	case "log":
		log.Info("signal", "message", d.Message)
	default:
		log.Warn("ignoring a signal of unknown type (accepted: execute-snapshot, stop-snapshot, pause-snapshot, resume-snapshot, log)")
	}
}

// Control pauses, resumes or stops incremental snapshots (action "pause",
// "resume" or "stop"), as the pause-snapshot, resume-snapshot and
// stop-snapshot signals do: the HTTP API's POST /snapshot/{action}. Stop
// takes the tables to drop, none meaning all.
func (inc *Incremental) Control(action string, tables []string) error {
	switch action {
	case "pause", "resume", "stop":
	default:
		return fmt.Errorf("snapshot action %q: accepted actions are pause, resume and stop", action)
	}
	if action == "stop" {
		// Stopping a table that is not queued would do nothing: say so.
		var idle []string
		inc.mu.Lock()
		for _, t := range tables {
			if !slices.ContainsFunc(inc.state.Tables, func(ts *TableState) bool { return ts.Name == t }) && inc.cursor[t] == nil {
				idle = append(idle, t)
			}
		}
		inc.mu.Unlock()
		if len(idle) > 0 {
			return fmt.Errorf("no incremental snapshot of %s to stop (queued: %s)", strings.Join(idle, ", "), strings.Join(inc.queued(), ", "))
		}
	}
	data, err := json.Marshal(signalData{DataCollections: tables})
	if err != nil {
		return err
	}
	inc.handle(signal{typ: action + "-snapshot", data: string(data)})
	return nil
}

// queued names the tables queued for an incremental snapshot, or "none".
func (inc *Incremental) queued() []string {
	inc.mu.Lock()
	defer inc.mu.Unlock()
	var names []string
	for _, ts := range inc.state.Tables {
		names = append(names, ts.Name)
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

// stop drops the tables (all when none are named) from the queue and
// abandons a chunk of theirs being read.
func (inc *Incremental) stop(tables []string) {
	match := func(name string) bool { return len(tables) == 0 || slices.Contains(tables, name) }
	inc.mu.Lock()
	inc.state.Tables = slices.DeleteFunc(inc.state.Tables, func(ts *TableState) bool { return match(ts.Name) })
	for name := range inc.cursor {
		if match(name) {
			delete(inc.cursor, name)
			inc.prog.remove(name)
		}
	}
	inc.dirty = true
	inc.mu.Unlock()
	if w := inc.window.Load(); w != nil && match(w.schema+"."+w.name) {
		w.aborted.Store(true)
	}
}

func (inc *Incremental) setPaused(p bool) {
	inc.mu.Lock()
	inc.state.Paused = p
	inc.dirty = true
	inc.mu.Unlock()
	inc.poke()
}
