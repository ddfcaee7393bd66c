package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bintap/bintap/internal/position"
)

// FileName is the snapshot progress file inside the state dir.
const FileName = "snapshot.json"

// State is the persisted progress of an initial snapshot: where it is
// consistent with the binlog, which tables it covers, and for each table how
// far delivery is durable.
type State struct {
	// Start is the binlog position the first consistent view was taken at:
	// streaming begins here once the snapshot is complete, also after a
	// resume (see Resume in the package comment).
	Start    position.Checkpoint `json:"start"`
	Began    time.Time           `json:"began"`
	Complete bool                `json:"complete"`
	// Tables in the order they are read.
	Tables []*TableState `json:"tables"`
	// Numbered is the highest event number the snapshot may have handed
	// to a row (numbers are reserved ahead): a resumed snapshot numbers its
	// rows after it, so no two rows of one snapshot share a position.
	Numbered uint64 `json:"numbered,omitempty"`
}

// TableState is one table's durable progress.
type TableState struct {
	Name string `json:"name"` // db.table
	Done bool   `json:"done,omitempty"`
	// LastKey holds SQL literals of the primary key of the last row of the
	// last durable chunk; reading resumes after it.
	LastKey []string `json:"last_key,omitempty"`
	Rows    int64    `json:"rows"` // rows durably delivered
	// Ranges, when set, split the primary key into
	// ranges that several connections read at once; each range keeps its
	// own progress, and the table is done when every range is. LastKey is
	// then unused.
	Ranges []*RangeState `json:"ranges,omitempty"`
}

// RangeState is one key range of a table and its durable progress. Its rows
// are those with After < key <= Upto, an empty bound being open: the first
// range has no lower bound and the last no upper one, so a resume with a
// newer view also reads keys outside the original minimum and maximum.
// After and Upto bound the key's first column (a table whose key starts
// with an integer column); AfterKey and UptoKey bound the whole key (split
// at sampled keys).
type RangeState struct {
	After    string   `json:"after,omitempty"`     // SQL literal
	Upto     string   `json:"upto,omitempty"`      // SQL literal
	AfterKey []string `json:"after_key,omitempty"` // SQL literals, one per key column
	UptoKey  []string `json:"upto_key,omitempty"`
	LastKey  []string `json:"last_key,omitempty"`
	Rows     int64    `json:"rows"`
	Done     bool     `json:"done,omitempty"`
}

// LoadState reads dir/snapshot.json; nil and no error when there is none.
func LoadState(dir string) (*State, error) {
	raw, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot progress: %w", err)
	}
	var s State
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("snapshot progress %s is damaged (%v): remove it to take a new snapshot, or start over with --reset", filepath.Join(dir, FileName), err)
	}
	if s.Start.File == "" {
		return nil, fmt.Errorf("snapshot progress %s has no start position: remove it or use --reset", filepath.Join(dir, FileName))
	}
	if err := checkTables(s.Tables); err != nil {
		return nil, fmt.Errorf("snapshot progress %s is damaged (%v): remove it to take a new snapshot, or start over with --reset", filepath.Join(dir, FileName), err)
	}
	return &s, nil
}

// checkTables finds what a state file's JSON can hold but bintap never
// writes: a table without a "db.table" name, a null table or range.
func checkTables(tables []*TableState) error {
	for i, t := range tables {
		if t == nil {
			return fmt.Errorf("table %d is null", i)
		}
		if db, tbl, ok := strings.Cut(t.Name, "."); !ok || db == "" || tbl == "" {
			return fmt.Errorf("table %d has the name %q, not db.table", i, t.Name)
		}
		for j, r := range t.Ranges {
			if r == nil {
				return fmt.Errorf("table %s: range %d is null", t.Name, j)
			}
		}
	}
	return nil
}

func (s *State) save(dir string) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return position.WriteFileAtomic(filepath.Join(dir, FileName), append(raw, '\n'))
}

func (s *State) table(name string) *TableState {
	for _, t := range s.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// tracker holds the durable state and applies progress once the pipeline
// reports the batches that carry it durable.
type tracker struct {
	dir   string
	mu    sync.Mutex
	state *State
	dirty bool
}

// mark records progress of one table, or of its range rng (-1: the whole
// table), as durable (called from a batch's Done hook, after the outputs
// flushed it).
func (t *tracker) mark(name string, rng int, lastKey []string, rows int64, done bool, complete bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ts := t.state.table(name); ts != nil {
		ts.Rows += rows
		if rng >= 0 && rng < len(ts.Ranges) {
			r := ts.Ranges[rng]
			if lastKey != nil {
				r.LastKey = lastKey
			}
			r.Rows += rows
			r.Done = r.Done || done
			all := true
			for _, r := range ts.Ranges {
				all = all && r.Done
			}
			ts.Done = ts.Done || all
		} else {
			if lastKey != nil {
				ts.LastKey = lastKey
			}
			ts.Done = ts.Done || done
		}
	}
	if complete {
		t.state.Complete = true
	}
	t.dirty = true
}

// save writes the state when it changed (the pipeline's Durable hook).
// reserve records in the state file that event numbers up to upTo may be
// handed out.
func (t *tracker) reserve(upTo uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.state.Numbered = upTo
	if err := t.state.save(t.dir); err != nil {
		return fmt.Errorf("save snapshot progress: %w", err)
	}
	return nil
}

func (t *tracker) save() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.dirty {
		return nil
	}
	if err := t.state.save(t.dir); err != nil {
		return fmt.Errorf("save snapshot progress: %w", err)
	}
	t.dirty = false
	return nil
}
