package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/bintap/bintap/internal/change"
	"github.com/bintap/bintap/internal/position"
)

// FileName is the history file inside the state directory.
const FileName = "schema-history.json"

const fileFormat = 1

// ErrInvalidated is wrapped by ApplyDDL errors that left a table's definition
// unknown: the caller must reload the table (Define) before decoding its rows,
// or stop.
var ErrInvalidated = errors.New("table definition unknown")

// Mark is a binlog position (file name and offset) tagging each recorded
// version, so that Rewind can drop versions recorded past a checkpoint.
type Mark struct {
	File string `json:"file,omitempty"`
	Pos  uint32 `json:"pos,omitempty"`
}

// IsZero reports whether m is the empty mark (before every position).
func (m Mark) IsZero() bool { return m.File == "" && m.Pos == 0 }

func (m Mark) String() string { return fmt.Sprintf("%s:%d", m.File, m.Pos) }

// fileSeq is the numeric suffix of a binlog file name (mysql-bin.000012 → 12),
// -1 when there is none.
func fileSeq(name string) int64 {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return -1
	}
	n, err := strconv.ParseInt(name[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// Compare orders marks by binlog file sequence number, then offset. The
// empty mark sorts first. It returns -1, 0 or +1.
func (m Mark) Compare(o Mark) int {
	if m.File != o.File {
		switch {
		case m.File == "":
			return -1
		case o.File == "":
			return 1
		}
		a, b := fileSeq(m.File), fileSeq(o.File)
		if a != b {
			if a < b {
				return -1
			}
			return 1
		}
		if a < 0 {
			if c := strings.Compare(m.File, o.File); c != 0 {
				return c
			}
		}
	}
	switch {
	case m.Pos < o.Pos:
		return -1
	case m.Pos > o.Pos:
		return 1
	}
	return 0
}

// record states.
const (
	stateDefined = ""
	stateDropped = "dropped"
	stateUnknown = "unknown"
)

// record is one event in a table's life: a definition, a drop, or the loss
// of its definition.
type record struct {
	At      Mark          `json:"at"`
	GTID    string        `json:"gtid,omitempty"`
	State   string        `json:"state,omitempty"`
	Table   *change.Table `json:"table,omitempty"`   // stateDefined only
	Charset string        `json:"charset,omitempty"` // the table's default character set
	Reason  string        `json:"reason,omitempty"`  // stateUnknown: why
}

type tableHistory struct {
	Schema  string   `json:"schema"`
	Name    string   `json:"name"`
	Records []record `json:"records"`
}

type dbRecord struct {
	At      Mark   `json:"at"`
	Charset string `json:"charset,omitempty"`
	Dropped bool   `json:"dropped,omitempty"`
}

type dbHistory struct {
	Name    string     `json:"name"`
	Records []dbRecord `json:"records"`
}

type fileData struct {
	Format    int             `json:"format"`
	Tables    []*tableHistory `json:"tables"`
	Databases []*dbHistory    `json:"databases,omitempty"`
	// EnginesFrom is where the tracking of storage engines began; Engines
	// are the changes since (engines.go).
	EnginesFrom *Mark          `json:"engines_from,omitempty"`
	Engines     []engineRecord `json:"engines,omitempty"`
	// Scope is what the history keeps (--schema-history), absent for
	// every table; ScopeGaps are the restarts that widened it.
	Scope     *Scope     `json:"scope,omitempty"`
	ScopeGaps []scopeGap `json:"scope_gaps,omitempty"`
}

type key struct{ schema, name string }

// History is the versioned definition of every table seen, rebuilt from DDL
// in the binary log and persisted in the state directory. It is safe for
// concurrent use. Tables it returns are shared and must not be modified.
type History struct {
	saveMu        sync.Mutex // serialises Save
	mu            sync.Mutex
	dir           string
	tables        map[key]*tableHistory
	dbs           map[string]*dbHistory
	serverCharset string
	server        serverInfo
	enginesFrom   *Mark
	engines       []engineRecord
	// scope is what the history keeps (nil: every table); gaps are the
	// restarts that widened it (scope.go); checked are the tables
	// already compared with the gaps.
	scope   *Scope
	gaps    []scopeGap
	checked map[key]bool
}

// Open loads the history persisted in dir (dir/schema-history.json). A
// missing file gives an empty history; nothing is created until Save.
func Open(dir string) (*History, error) {
	h := &History{dir: dir, tables: map[key]*tableHistory{}, dbs: map[string]*dbHistory{}}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open schema history: %w", err)
	}
	var fd fileData
	if err := json.Unmarshal(b, &fd); err != nil {
		return nil, damaged(dir, err)
	}
	if fd.Format != fileFormat {
		return nil, fmt.Errorf("schema history %s has format %d, this bintap reads format %d: run the bintap version that wrote it, or start over with --reset", filepath.Join(dir, FileName), fd.Format, fileFormat)
	}
	if err := fd.check(); err != nil {
		return nil, damaged(dir, err)
	}
	for _, th := range fd.Tables {
		// Versions shared between records (a charset-only change) are
		// stored twice; share them again.
		for i := range th.Records {
			r := &th.Records[i]
			if i > 0 && r.Table != nil {
				if prev := th.Records[i-1].Table; prev != nil && prev.Version == r.Table.Version {
					r.Table = prev
				}
			}
		}
		h.tables[key{th.Schema, th.Name}] = th
	}
	for _, d := range fd.Databases {
		h.dbs[d.Name] = d
	}
	h.enginesFrom, h.engines = fd.EnginesFrom, fd.Engines
	if fd.Scope != nil {
		if err := fd.Scope.compile(); err != nil {
			return nil, damaged(dir, err)
		}
		h.scope = fd.Scope
	}
	for _, g := range fd.ScopeGaps {
		if g.Kept == nil {
			continue
		}
		if err := g.Kept.compile(); err != nil {
			return nil, damaged(dir, err)
		}
		h.gaps = append(h.gaps, g)
	}
	return h, nil
}

// check finds what the file's JSON can hold but bintap never writes: null
// entries, nameless tables, keys that name no column, impossible sizes.
func (fd *fileData) check() error {
	for i, th := range fd.Tables {
		if th == nil || th.Schema == "" || th.Name == "" {
			return fmt.Errorf("table %d has no schema or name", i)
		}
		for j, r := range th.Records {
			t := r.Table
			if t == nil {
				if r.State == stateDefined {
					return fmt.Errorf("table %s.%s: record %d defines no table", th.Schema, th.Name, j)
				}
				continue
			}
			for _, k := range t.PrimaryKey {
				if k < 0 || k >= len(t.Columns) {
					return fmt.Errorf("table %s.%s: record %d has a key column %d of %d", th.Schema, th.Name, j, k, len(t.Columns))
				}
			}
			for _, c := range t.Columns {
				if c.Precision < 0 || c.Precision > 65 || c.Scale < 0 || c.Scale > 38 || c.Length < -1 {
					return fmt.Errorf("table %s.%s: column %q has impossible sizes", th.Schema, th.Name, c.Name)
				}
			}
		}
	}
	for i, d := range fd.Databases {
		if d == nil {
			return fmt.Errorf("database %d is null", i)
		}
	}
	return nil
}

// damaged is the error of a schema history file that cannot be read: the
// stream must not go on without the table definitions it holds.
func damaged(dir string, err error) error {
	return fmt.Errorf("schema history %s is damaged (%v): restore it from a backup of the state dir, or start over with --reset (and a new snapshot); bintap will not stream without the table definitions it holds", filepath.Join(dir, FileName), err)
}

// SetServerCharset sets the character set of databases whose DDL the history
// has not seen (the server's character_set_server). DefaultCharset if unset.
func (h *History) SetServerCharset(cs string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.serverCharset = normCharset(cs)
}

// SetServer tells the history which server writes the DDL it applies:
// flavor "mysql" or "mariadb" and its VERSION(). Versioned comments
// (/*!NNNNN ... */, /*M!NNNNNN ... */) are then read as that server reads
// them; without it every versioned comment is taken as executed.
func (h *History) SetServer(flavor, version string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.server = serverInfo{mysql: flavor == "mysql", version: parseServerVersion(version)}
}

// DefineDatabase records a database's default character set, as loaded from
// the live server (information_schema.SCHEMATA) for databases created before
// the history started.
func (h *History) DefineDatabase(name, charset string, at Mark) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cs := normCharset(charset)
	if d := h.dbs[name]; d != nil && len(d.Records) > 0 {
		if r := d.Records[len(d.Records)-1]; !r.Dropped && r.Charset == cs {
			return
		}
	}
	h.setDB(name, dbRecord{At: at, Charset: cs})
}

// Save writes the history atomically: a temporary file, fsync, rename, and
// fsync of the directory.
func (h *History) Save() error {
	h.saveMu.Lock()
	defer h.saveMu.Unlock()
	h.mu.Lock()
	fd := fileData{Format: fileFormat}
	for _, th := range h.tables {
		fd.Tables = append(fd.Tables, th)
	}
	for _, d := range h.dbs {
		fd.Databases = append(fd.Databases, d)
	}
	sort.Slice(fd.Tables, func(i, j int) bool {
		a, b := fd.Tables[i], fd.Tables[j]
		if a.Schema != b.Schema {
			return a.Schema < b.Schema
		}
		return a.Name < b.Name
	})
	sort.Slice(fd.Databases, func(i, j int) bool { return fd.Databases[i].Name < fd.Databases[j].Name })
	fd.EnginesFrom, fd.Engines = h.enginesFrom, h.engines
	fd.Scope, fd.ScopeGaps = h.scope, h.gaps
	b, err := json.MarshalIndent(&fd, "", " ")
	h.mu.Unlock()
	if err != nil {
		return fmt.Errorf("save schema history: %w", err)
	}
	if err := position.WriteFileAtomic(filepath.Join(h.dir, FileName), b); err != nil {
		return fmt.Errorf("save schema history: %w", err)
	}
	return nil
}

func (h *History) last(k key) *record {
	h.fillGap(k)
	th := h.tables[k]
	if th == nil || len(th.Records) == 0 {
		return nil
	}
	return &th.Records[len(th.Records)-1]
}

// current is the table's present definition, nil when unknown, dropped or
// never seen.
func (h *History) current(k key) (*change.Table, string) {
	r := h.last(k)
	if r == nil || r.State != stateDefined {
		return nil, ""
	}
	return r.Table, r.Charset
}

func (h *History) maxVersion(k key) int {
	th := h.tables[k]
	if th == nil {
		return 0
	}
	v := 0
	for _, r := range th.Records {
		if r.Table != nil && r.Table.Version > v {
			v = r.Table.Version
		}
	}
	return v
}

func (h *History) add(k key, r record) {
	th := h.tables[k]
	if th == nil {
		th = &tableHistory{Schema: k.schema, Name: k.name}
		h.tables[k] = th
	}
	th.Records = append(th.Records, r)
}

// Get returns the current definition of schema.table: nil when the table is
// unknown (never seen, dropped, or invalidated; see IsUnknown).
func (h *History) Get(schema, table string) *change.Table {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, _ := h.current(key{schema, table})
	return t
}

// IsUnknown reports whether the table's definition was invalidated: DDL on it
// could not be applied, so it must be reloaded (Define) before its rows can
// be decoded.
func (h *History) IsUnknown(schema, table string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.last(key{schema, table})
	return r != nil && r.State == stateUnknown
}

func (h *History) isUnknown(k key) bool {
	r := h.last(k)
	return r != nil && r.State == stateUnknown
}

// UnknownReason says why the table's definition was invalidated ("" if it
// was not).
func (h *History) UnknownReason(schema, table string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.last(key{schema, table})
	if r == nil || r.State != stateUnknown {
		return ""
	}
	return r.Reason
}

// Versions returns every recorded version of schema.table, oldest first.
func (h *History) Versions(schema, table string) []*change.Table {
	h.mu.Lock()
	defer h.mu.Unlock()
	th := h.tables[key{schema, table}]
	if th == nil {
		return nil
	}
	var out []*change.Table
	for _, r := range th.Records {
		if r.Table != nil && (len(out) == 0 || out[len(out)-1] != r.Table) {
			out = append(out, r.Table)
		}
	}
	return out
}

// Version returns version v of schema.table, nil if there is none.
func (h *History) Version(schema, table string, v int) *change.Table {
	for _, t := range h.Versions(schema, table) {
		if t.Version == v {
			return t
		}
	}
	return nil
}

// Tables lists the tables with a current definition, sorted by name.
func (h *History) Tables() []*change.Table {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*change.Table
	for k := range h.tables {
		if t, _ := h.current(k); t != nil {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FullName() < out[j].FullName() })
	return out
}

// Define records a definition loaded from elsewhere (the live server, or the
// TABLE_MAP metadata). When it differs from the current one it becomes the
// next version (t.GTID is kept); otherwise the current version is returned.
// It clears an unknown state. The stored table is returned; t is not kept.
func (h *History) Define(t *change.Table, at Mark) *change.Table {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := key{t.Schema, t.Name}
	cur, cs := h.current(k)
	if cs == "" {
		if r := h.lastWithCharset(k); r != "" {
			cs = r
		} else {
			cs = h.dbCharset(t.Schema)
		}
	}
	return h.define(k, cloneTable(t), cs, t.GTID, at, cur)
}

// DefineSQL parses a CREATE TABLE statement (SHOW CREATE TABLE output) and
// records it like Define, with the table's default character set.
func (h *History) DefineSQL(defaultSchema, createSQL, gtid string, at Mark) (*change.Table, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := prepare(createSQL)
	db := defaultSchema
	if len(p.tables) > 0 && p.tables[0].schema != "" {
		db = p.tables[0].schema
	}
	t, cs, err := parseCreateTable(defaultSchema, createSQL, h.dbCharset(db))
	if err != nil {
		return nil, err
	}
	k := key{t.Schema, t.Name}
	cur, _ := h.current(k)
	return h.define(k, t, cs, gtid, at, cur), nil
}

func (h *History) lastWithCharset(k key) string {
	if th := h.tables[k]; th != nil {
		for i := len(th.Records) - 1; i >= 0; i-- {
			if th.Records[i].Charset != "" {
				return th.Records[i].Charset
			}
		}
	}
	return ""
}

// define stores t (owned by the history from now on) as the next version
// unless it equals cur.
func (h *History) define(k key, t *change.Table, cs, gtid string, at Mark, cur *change.Table) *change.Table {
	if cur != nil && sameDefinition(cur, t) {
		if r := h.last(k); r.Charset != cs {
			h.add(k, record{At: at, GTID: gtid, Table: cur, Charset: cs})
		}
		return cur
	}
	t.Schema, t.Name = k.schema, k.name
	t.Version = h.maxVersion(k) + 1
	t.GTID = gtid
	h.add(k, record{At: at, GTID: gtid, Table: t, Charset: cs})
	return t
}

// invalidate marks a table unknown.
func (h *History) invalidate(k key, at Mark, gtid, reason string) {
	if r := h.last(k); r != nil && r.State == stateUnknown {
		return
	}
	h.add(k, record{At: at, GTID: gtid, State: stateUnknown, Reason: reason, Charset: h.lastWithCharset(k)})
}

// drop records that a table no longer exists.
func (h *History) drop(k key, at Mark, gtid string) bool {
	r := h.last(k)
	if r == nil || r.State == stateDropped {
		return false
	}
	h.add(k, record{At: at, GTID: gtid, State: stateDropped})
	return true
}

// Rewind discards everything recorded at or after mark to (used at resume
// when the history got ahead of the checkpoint). Entries recorded with an
// empty mark are kept unless to is empty too.
func (h *History) Rewind(to Mark) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unchecked()
	for k, th := range h.tables {
		th.Records = slices.DeleteFunc(th.Records, func(r record) bool { return r.At.Compare(to) >= 0 })
		if len(th.Records) == 0 {
			delete(h.tables, k)
		}
	}
	for name, d := range h.dbs {
		d.Records = slices.DeleteFunc(d.Records, func(r dbRecord) bool { return r.At.Compare(to) >= 0 })
		if len(d.Records) == 0 {
			delete(h.dbs, name)
		}
	}
	h.rewindEngines(to)
}

// dbCharset is the default character set of a database.
func (h *History) dbCharset(db string) string {
	if d := h.dbs[db]; d != nil && len(d.Records) > 0 {
		if r := d.Records[len(d.Records)-1]; !r.Dropped && r.Charset != "" {
			return r.Charset
		}
	}
	if h.serverCharset != "" {
		return h.serverCharset
	}
	return DefaultCharset
}

func (h *History) setDB(db string, r dbRecord) {
	d := h.dbs[db]
	if d == nil {
		d = &dbHistory{Name: db}
		h.dbs[db] = d
	}
	d.Records = append(d.Records, r)
}

func cloneTable(t *change.Table) *change.Table {
	c := *t
	c.Columns = make([]change.Column, len(t.Columns))
	for i, col := range t.Columns {
		col.Members = slices.Clone(col.Members)
		c.Columns[i] = col
	}
	c.PrimaryKey = slices.Clone(t.PrimaryKey)
	return &c
}

// sameDefinition compares what matters for decoding and reporting rows:
// columns and primary key. Integer display widths are ignored (MariaDB prints
// int(11) where the DDL said INT, MySQL 8 prints neither).
func sameDefinition(a, b *change.Table) bool {
	if len(a.Columns) != len(b.Columns) || !slices.Equal(a.PrimaryKey, b.PrimaryKey) {
		return false
	}
	for i := range a.Columns {
		x, y := a.Columns[i], b.Columns[i]
		if x.Name != y.Name || x.Type != y.Type || normSQLType(x) != normSQLType(y) || x.Length != y.Length ||
			x.Precision != y.Precision || x.Scale != y.Scale || x.Unsigned != y.Unsigned ||
			x.Nullable != y.Nullable || x.Charset != y.Charset || x.Generated != y.Generated ||
			!slices.Equal(x.Members, y.Members) {
			return false
		}
	}
	return true
}

// normSQLType drops display widths of integer and YEAR types.
func normSQLType(c change.Column) string {
	switch c.Type {
	case "tinyint", "smallint", "mediumint", "int", "bigint", "year":
		s := c.SQLType
		if i := strings.IndexByte(s, '('); i >= 0 {
			if j := strings.IndexByte(s[i:], ')'); j >= 0 {
				s = s[:i] + s[i+j+1:]
			}
		}
		return s
	}
	return c.SQLType
}
