package schema

import "slices"

// Storage engines over time. bintap leaves tables of some engines (MEMORY,
// BLACKHOLE) out of the capture; whether a table was such a table depends on
// the point of the binary log, like its columns. The history keeps the
// engine of a table each time a statement (or the live server, when the
// tracking starts) set it, and is rewound with the rest, so that a stream
// resumed from a checkpoint captures what was capturable there.

// engineRecord is one table's storage engine from At on.
type engineRecord struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	At     Mark   `json:"at"`
	// Engine is upper-case; "" is the server's default engine, or a table
	// dropped.
	Engine string `json:"engine"`
}

// EnginesTracked reports whether engines are tracked from a point at or
// before the history's end: then a table without a record had an engine
// that does not matter (the default one), which is known, not guessed.
func (h *History) EnginesTracked() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.enginesFrom != nil
}

// TrackEngines starts tracking at mark, with the engines the live server
// reports for the tables that matter (the others are taken as "").
func (h *History) TrackEngines(at Mark, engines map[[2]string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := at
	h.enginesFrom = &m
	for k, e := range engines {
		h.setEngine(k[0], k[1], e, at)
	}
}

// SetEngine records that a statement at mark gave db.table the engine ("":
// the default one, or the table is dropped). It reports whether that
// changed the table's engine.
func (h *History) SetEngine(db, table, engine string, at Mark) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.setEngine(db, table, engine, at)
}

func (h *History) setEngine(db, table, engine string, at Mark) bool {
	if h.engine(db, table) == engine {
		return false
	}
	h.engines = append(h.engines, engineRecord{Schema: db, Name: table, At: at, Engine: engine})
	return true
}

// Engine is the engine db.table has at the history's end.
func (h *History) Engine(db, table string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engine(db, table)
}

func (h *History) engine(db, table string) string {
	for i := len(h.engines) - 1; i >= 0; i-- {
		if r := h.engines[i]; r.Schema == db && r.Name == table {
			return r.Engine
		}
	}
	return ""
}

// Engines returns every table whose engine is not the default one at the
// history's end: "db.table" → engine.
func (h *History) Engines() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for _, r := range h.engines {
		if r.Engine == "" {
			delete(out, r.Schema+"."+r.Name)
		} else {
			out[r.Schema+"."+r.Name] = r.Engine
		}
	}
	return out
}

// rewindEngines is Rewind for the engines (h.mu held).
func (h *History) rewindEngines(to Mark) {
	h.engines = slices.DeleteFunc(h.engines, func(r engineRecord) bool { return r.At.Compare(to) >= 0 })
	if h.enginesFrom != nil && h.enginesFrom.Compare(to) >= 0 {
		h.enginesFrom = nil
		h.engines = nil
	}
}
