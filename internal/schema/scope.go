package schema

// The schema history's scope (--schema-history): which tables' DDL the
// history keeps. A narrower scope than "all" keeps only the captured
// databases or tables, so the history file is smaller and restarts read
// less. The scope is stored in the history file; a restart whose scope
// takes in tables the stored one left out records a gap, and those tables
// are unknown (never guessed) until a definition proven against the binlog
// replaces them: binlog_row_metadata=FULL, a snapshot, or the live table
// when it matches the binlog's table map.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Scope modes (--schema-history).
const (
	ScopeAll              = "all"
	ScopeCapturedDatabase = "captured-databases"
	ScopeCapturedTables   = "captured-tables"
)

// ScopeModes lists the accepted --schema-history values.
var ScopeModes = []string{ScopeAll, ScopeCapturedDatabase, ScopeCapturedTables}

// Scope says which tables' DDL the history keeps: every table (Mode all),
// the tables of the captured databases, or the captured tables only. The
// capture is described by the stream's filter: databases (--schemas),
// db.table names (--tables), and the --match and --exclude patterns.
type Scope struct {
	Mode    string   `json:"mode"`
	Schemas []string `json:"schemas,omitempty"`
	Tables  []string `json:"tables,omitempty"` // db.table
	Match   string   `json:"match,omitempty"`
	Exclude string   `json:"exclude,omitempty"`

	match, exclude *regexp.Regexp
	schemas        map[string]bool
	tables         map[string]bool
	dbs            map[string]bool // the databases of Schemas and Tables
}

// NewScope builds a scope; the lists are copied and sorted, the patterns
// compiled (an error names the bad one).
func NewScope(mode string, schemas, tables []string, match, exclude string) (*Scope, error) {
	if !slices.Contains(ScopeModes, mode) {
		return nil, fmt.Errorf("schema history scope %q: accepted values are %s", mode, strings.Join(ScopeModes, ", "))
	}
	s := &Scope{Mode: mode}
	if mode != ScopeAll {
		s.Schemas = sortedSet(schemas)
		s.Tables = sortedSet(tables)
		s.Match, s.Exclude = match, exclude
	}
	if err := s.compile(); err != nil {
		return nil, err
	}
	return s, nil
}

func sortedSet(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

func (s *Scope) compile() error {
	var err error
	if s.Match != "" {
		if s.match, err = regexp.Compile(s.Match); err != nil {
			return fmt.Errorf("schema history scope: match %q: %w", s.Match, err)
		}
	}
	if s.Exclude != "" {
		if s.exclude, err = regexp.Compile(s.Exclude); err != nil {
			return fmt.Errorf("schema history scope: exclude %q: %w", s.Exclude, err)
		}
	}
	s.schemas, s.tables, s.dbs = nil, nil, nil
	if len(s.Schemas) > 0 || len(s.Tables) > 0 {
		s.schemas, s.tables, s.dbs = map[string]bool{}, map[string]bool{}, map[string]bool{}
		for _, d := range s.Schemas {
			s.schemas[d], s.dbs[d] = true, true
		}
		for _, t := range s.Tables {
			s.tables[t] = true
			if db, _, ok := strings.Cut(t, "."); ok {
				s.dbs[db] = true
			}
		}
	}
	return nil
}

// all reports whether the scope keeps every table (a nil scope does).
func (s *Scope) all() bool { return s == nil || s.Mode == ScopeAll || s.Mode == "" }

// Contains reports whether the history keeps the DDL of db.table.
func (s *Scope) Contains(db, table string) bool {
	if s.all() {
		return true
	}
	if systemSchema(db) {
		return false
	}
	if s.Mode == ScopeCapturedDatabase {
		return s.ContainsDatabase(db)
	}
	full := db + "." + table
	if s.tables != nil && !s.schemas[db] && !s.tables[full] {
		return false
	}
	if s.match != nil && !s.match.MatchString(full) {
		return false
	}
	if s.exclude != nil && s.exclude.MatchString(full) {
		return false
	}
	return true
}

// ContainsDatabase reports whether the history keeps anything of database
// db (its character set, some of its tables). A capture given by patterns
// only (--match, --exclude) may take a table of any database: every
// database is then kept.
func (s *Scope) ContainsDatabase(db string) bool {
	if s.all() {
		return true
	}
	if systemSchema(db) {
		return false
	}
	return s.dbs == nil || s.dbs[db]
}

// Equal reports whether two scopes keep the same tables by construction.
func (s *Scope) Equal(o *Scope) bool {
	if s.all() || o.all() {
		return s.all() == o.all()
	}
	return s.Mode == o.Mode && slices.Equal(s.Schemas, o.Schemas) && slices.Equal(s.Tables, o.Tables) &&
		s.Match == o.Match && s.Exclude == o.Exclude
}

// String describes the scope for messages.
func (s *Scope) String() string {
	if s.all() {
		return ScopeAll
	}
	var parts []string
	if len(s.Schemas) > 0 {
		parts = append(parts, "schemas "+strings.Join(s.Schemas, ","))
	}
	if len(s.Tables) > 0 {
		parts = append(parts, "tables "+strings.Join(s.Tables, ","))
	}
	if s.Match != "" {
		parts = append(parts, "match "+s.Match)
	}
	if s.Exclude != "" {
		parts = append(parts, "exclude "+s.Exclude)
	}
	if len(parts) == 0 {
		return s.Mode
	}
	return s.Mode + " (" + strings.Join(parts, "; ") + ")"
}

func systemSchema(db string) bool {
	switch strings.ToLower(db) {
	case "mysql", "information_schema", "performance_schema", "sys":
		return true
	}
	return false
}

// scopeGap records that, before At, the history was kept under the scope
// Kept: tables outside it have no history before At.
type scopeGap struct {
	At   Mark   `json:"at"`
	Kept *Scope `json:"kept"`
}

// SetScope sets the scope the history keeps from now on; at is where the
// stream resumes (the checkpoint; the zero mark without one). Definitions
// of tables outside the scope are forgotten. When the scope the history
// was kept under left out tables the new one keeps, those tables have no
// history before at: they read as unknown (IsUnknown, UnknownReason) until
// defined again, and SetScope returns the earlier scope (nil otherwise).
// Save persists the scope.
func (h *History) SetScope(sc *Scope, at Mark) (earlier *Scope, err error) {
	if sc != nil && (sc.match == nil && sc.Match != "" || sc.exclude == nil && sc.Exclude != "") {
		if err := sc.compile(); err != nil {
			return nil, err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	prev := h.scope
	h.scope = sc
	h.unchecked()
	if !sc.all() {
		for k := range h.tables {
			if !sc.Contains(k.schema, k.name) {
				delete(h.tables, k)
			}
		}
		for name := range h.dbs {
			if !sc.ContainsDatabase(name) {
				delete(h.dbs, name)
			}
		}
	}
	if prev.all() || prev.Equal(sc) {
		return nil, nil
	}
	h.gaps = append(h.gaps, scopeGap{At: at, Kept: prev})
	return prev, nil
}

// Scope is the scope the history keeps (nil: all).
func (h *History) Scope() *Scope {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.scope
}

// inScope reports whether the history keeps DDL of k.
func (h *History) inScope(k key) bool { return h.scope.Contains(k.schema, k.name) }

// OutsideEarlierScope says, for a table the current scope keeps, why it has
// no history before a restart that widened the scope ("" when it has).
func (h *History) OutsideEarlierScope(db, table string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := key{db, table}
	if g := h.gapFor(k); g != nil {
		return gapReason(g)
	}
	if th := h.tables[k]; th != nil && len(th.Records) > 0 {
		if r := th.Records[len(th.Records)-1]; r.State == stateUnknown && strings.HasPrefix(r.Reason, gapReasonPrefix) {
			return r.Reason
		}
	}
	return ""
}

const gapReasonPrefix = "outside the schema-history scope "

func gapReason(g *scopeGap) string {
	return fmt.Sprintf(gapReasonPrefix+"%s kept before %s: its DDL was not recorded. "+
		"It needs binlog_row_metadata=FULL on the source, or a snapshot of it (bintap snapshot, or the signal table), "+
		"to have a definition proven against the binlog", g.Kept, g.At)
}

// gapFor is the latest scope gap that left k out and that nothing recorded
// for k since has filled, nil if none.
func (h *History) gapFor(k key) *scopeGap {
	if len(h.gaps) == 0 || !h.inScope(k) {
		return nil
	}
	var lastAt *Mark
	if th := h.tables[k]; th != nil && len(th.Records) > 0 {
		lastAt = &th.Records[len(th.Records)-1].At
	}
	for i := len(h.gaps) - 1; i >= 0; i-- {
		g := &h.gaps[i]
		if lastAt != nil && lastAt.Compare(g.At) >= 0 {
			return nil // defined (or dropped) since
		}
		if !g.Kept.Contains(k.schema, k.name) {
			return g
		}
	}
	return nil
}

// unchecked forgets which tables were checked against the scope gaps.
func (h *History) unchecked() { h.checked = nil }

// fillGap marks k unknown, at the gap's mark, when a scope gap left it
// without history. It runs once per table (until Rewind or SetScope).
func (h *History) fillGap(k key) {
	if len(h.gaps) == 0 || h.checked[k] {
		return
	}
	if h.checked == nil {
		h.checked = map[key]bool{}
	}
	h.checked[k] = true
	if g := h.gapFor(k); g != nil {
		th := h.tables[k]
		if th != nil && len(th.Records) > 0 && th.Records[len(th.Records)-1].State == stateUnknown {
			return
		}
		h.add(k, record{At: g.At, State: stateUnknown, Reason: gapReason(g), Charset: h.lastWithCharset(k)})
	}
}
