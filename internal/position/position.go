// Package position owns where bintap is in a binary log: binlog file
// coordinates and their order, MariaDB GTID positions and MySQL GTID sets,
// and the checkpoint record that is written atomically to the state dir.
package position

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// FileSeq is the numeric suffix of a binlog file name ("mysql-bin.000042" → 42).
func FileSeq(name string) uint64 {
	i := strings.LastIndexByte(name, '.')
	n, err := strconv.ParseUint(name[i+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// Compare orders two binlog coordinates of one server: -1, 0 or 1.
func Compare(fileA string, posA uint32, fileB string, posB uint32) int {
	sa, sb := FileSeq(fileA), FileSeq(fileB)
	switch {
	case sa < sb:
		return -1
	case sa > sb:
		return 1
	case posA < posB:
		return -1
	case posA > posB:
		return 1
	}
	return 0
}

// GTIDState tracks the GTIDs executed so far: a MariaDB GTID position (the
// last GTID of each domain) or a MySQL GTID set.
type GTIDState interface {
	// Add records one transaction's GTID as executed.
	Add(gtid string) error
	String() string
}

// NewGTIDState parses a GTID state of the flavor ("mariadb" or "mysql"); an
// empty string is the empty state.
func NewGTIDState(flavor, s string) (GTIDState, error) {
	if flavor == "mariadb" {
		p := &MariaDBPos{domains: map[uint32]mariaGTID{}}
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			if err := p.Add(part); err != nil {
				return nil, err
			}
		}
		return p, nil
	}
	set, err := mysql.ParseMysqlGTIDSet(s)
	if err != nil {
		return nil, fmt.Errorf("parse MySQL GTID set %q: %w", s, err)
	}
	return &MySQLSet{set: set.(*mysql.MysqlGTIDSet)}, nil
}

type mariaGTID struct {
	server uint32
	seq    uint64
}

// MariaDBPos is a MariaDB GTID position: the last GTID of each domain.
type MariaDBPos struct{ domains map[uint32]mariaGTID }

// ParseMariaDBGTID splits "domain-server-seq".
func ParseMariaDBGTID(g string) (domain, server uint32, seq uint64, err error) {
	parts := strings.Split(g, "-")
	if len(parts) != 3 {
		return 0, 0, 0, fmt.Errorf("MariaDB GTID %q is not domain-server-sequence", g)
	}
	d, err1 := strconv.ParseUint(parts[0], 10, 32)
	s, err2 := strconv.ParseUint(parts[1], 10, 32)
	q, err3 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, fmt.Errorf("MariaDB GTID %q is not domain-server-sequence", g)
	}
	return uint32(d), uint32(s), q, nil
}

// Add records gtid as the last of its domain.
func (p *MariaDBPos) Add(gtid string) error {
	d, s, q, err := ParseMariaDBGTID(gtid)
	if err != nil {
		return err
	}
	p.domains[d] = mariaGTID{server: s, seq: q}
	return nil
}

func (p *MariaDBPos) String() string {
	ds := make([]uint32, 0, len(p.domains))
	for d := range p.domains {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	var b []byte
	for i, d := range ds {
		g := p.domains[d]
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(d), 10)
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(g.server), 10)
		b = append(b, '-')
		b = strconv.AppendUint(b, g.seq, 10)
	}
	return string(b)
}

// MySQLSet is a MySQL GTID set.
type MySQLSet struct{ set *mysql.MysqlGTIDSet }

// Add adds "uuid:n" to the set.
func (s *MySQLSet) Add(gtid string) error { return s.set.Update(gtid) }

func (s *MySQLSet) String() string { return s.set.String() }

// Checkpoint is the position of the last event the sinks durably accepted.
//
// Resuming restarts replication at File:Pos, the first event of the
// transaction that holds the checkpoint (or of the next transaction when
// Skip is 0), and skips the first Skip row images of that transaction.
type Checkpoint struct {
	Flavor string `json:"flavor"`
	File   string `json:"file"`
	Pos    uint32 `json:"pos"`
	// Skip row images of the transaction at File:Pos were delivered already.
	Skip uint64 `json:"skip"`
	// GTID of the transaction at File:Pos when Skip > 0 (a check on resume).
	GTID string `json:"gtid,omitempty"`
	// GTIDState is the executed GTID state of every transaction before File:Pos.
	GTIDState string `json:"gtid_state,omitempty"`
	// Start marks the checkpoint written where a new stream began (no
	// checkpoint, no snapshot): nothing before it was to be delivered, so
	// an output that holds no position past it lost nothing.
	Start   bool      `json:"start,omitempty"`
	Written time.Time `json:"written"`
}

func (c Checkpoint) String() string {
	s := fmt.Sprintf("%s:%d", c.File, c.Pos)
	if c.Skip > 0 {
		s += fmt.Sprintf(" (+%d row images of %s)", c.Skip, c.GTID)
	}
	return s
}

// FileName is the checkpoint's file name inside the state dir.
const FileName = "checkpoint.json"

// Load reads the checkpoint in dir; it returns nil and no error when there is none.
func Load(dir string) (*Checkpoint, error) {
	raw, err := os.ReadFile(filepath.Join(dir, FileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var c Checkpoint
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("checkpoint %s is damaged (%v): restore it or start over with --reset", filepath.Join(dir, FileName), err)
	}
	if c.File == "" || c.Pos < 4 {
		return nil, fmt.Errorf("checkpoint %s has no binlog position: start over with --reset", filepath.Join(dir, FileName))
	}
	return &c, nil
}

// Save writes the checkpoint atomically: temp file, fsync, rename, fsync dir.
func (c *Checkpoint) Save(dir string) error {
	c.Written = time.Now().UTC()
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, FileName), append(raw, '\n'))
}

// WriteFileAtomic replaces path with data so that a crash leaves either the
// old or the new content, never a mix.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RemoveTemporaries deletes the temporary copies WriteFileAtomic left in
// dir when the process died between writing one and renaming it. Call it
// only while holding the dir (its lock): a live writer's copy would go too.
func RemoveTemporaries(dir string) error {
	names, err := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Covers reports whether the checkpoint already includes the row image group
// numbered num (images long: 2 for an update) of the transaction that starts
// at file:pos. A destination that stores its own checkpoint with its data
// uses it to drop what it already holds when the stream restarts from an
// older position.
func (c Checkpoint) Covers(file string, pos uint32, num, images uint64) bool {
	if c.File == "" {
		return false
	}
	switch cmp := Compare(file, pos, c.File, c.Pos); {
	case cmp < 0:
		return true
	case cmp > 0:
		return false
	}
	return num+images-1 <= c.Skip
}

// Before reports whether c is an older position than d (nil-safe: a
// missing checkpoint is older than any).
func (c *Checkpoint) Before(d *Checkpoint) bool {
	switch {
	case d == nil:
		return false
	case c == nil:
		return true
	}
	if cmp := Compare(c.File, c.Pos, d.File, d.Pos); cmp != 0 {
		return cmp < 0
	}
	return c.Skip < d.Skip
}
