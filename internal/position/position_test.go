package position

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	cases := []struct {
		fa   string
		pa   uint32
		fb   string
		pb   uint32
		want int
	}{
		{"mysql-bin.000002", 100, "mysql-bin.000010", 4, -1},
		{"mysql-bin.000010", 4, "mysql-bin.000002", 100, 1},
		{"mysql-bin.000003", 500, "mysql-bin.000003", 400, 1},
		{"mysql-bin.000003", 400, "mysql-bin.000003", 400, 0},
		{"mysql-bin.999999", 4, "mysql-bin.1000000", 4, -1},
	}
	for _, c := range cases {
		if got := Compare(c.fa, c.pa, c.fb, c.pb); got != c.want {
			t.Errorf("Compare(%s:%d, %s:%d) = %d, want %d", c.fa, c.pa, c.fb, c.pb, got, c.want)
		}
	}
}

func TestMariaDBPos(t *testing.T) {
	s, err := NewGTIDState("mariadb", "1-2-7, 0-1-40")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("0-1-41"); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("2-5-1"); err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "0-1-41,1-2-7,2-5-1" {
		t.Errorf("got %q", got)
	}
	if err := s.Add("0-1"); err == nil {
		t.Error("bad GTID accepted")
	}
}

func TestMySQLSet(t *testing.T) {
	s, err := NewGTIDState("mysql", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("3e11fa47-71ca-11e1-9e33-c80aa9429562:6"); err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6" {
		t.Errorf("got %q", got)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if c, err := Load(dir); c != nil || err != nil {
		t.Fatalf("empty dir: %v %v", c, err)
	}
	want := Checkpoint{Flavor: "mariadb", File: "mysql-bin.000003", Pos: 1234, Skip: 7, GTID: "0-1-9", GTIDState: "0-1-8"}
	if err := want.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got.Written = want.Written
	if *got != want {
		t.Errorf("got %+v want %+v", *got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
	os.WriteFile(filepath.Join(dir, FileName), []byte("{not json"), 0o644)
	if _, err := Load(dir); err == nil {
		t.Error("damaged checkpoint accepted")
	}
}

func TestCoversAndBefore(t *testing.T) {
	// Two row images of the transaction at bin.000002:100 were delivered.
	c := Checkpoint{File: "bin.000002", Pos: 100, Skip: 2}
	for _, tc := range []struct {
		file        string
		pos         uint32
		num, images uint64
		want        bool
	}{
		{"bin.000001", 900, 5, 1, true},  // an older file
		{"bin.000002", 50, 9, 2, true},   // an earlier transaction
		{"bin.000002", 100, 1, 1, true},  // first image of the transaction
		{"bin.000002", 100, 1, 2, true},  // an update: images 1 and 2
		{"bin.000002", 100, 2, 2, false}, // an update: images 2 and 3
		{"bin.000002", 100, 3, 1, false},
		{"bin.000002", 101, 1, 1, false}, // a later transaction
		{"bin.000010", 4, 1, 1, false},   // file numbers compare as numbers
	} {
		if got := c.Covers(tc.file, tc.pos, tc.num, tc.images); got != tc.want {
			t.Errorf("Covers(%s:%d #%d x%d) = %v, want %v", tc.file, tc.pos, tc.num, tc.images, got, tc.want)
		}
	}
	if (Checkpoint{}).Covers("bin.000001", 4, 1, 1) {
		t.Error("an empty checkpoint covers nothing")
	}
	older := &Checkpoint{File: "bin.000002", Pos: 100, Skip: 1}
	if !older.Before(&c) || c.Before(older) || c.Before(&c) {
		t.Error("Before orders by position, then by row images delivered")
	}
	var none *Checkpoint
	if !none.Before(&c) || c.Before(none) {
		t.Error("a missing checkpoint is older than any")
	}
}

// TestStateFilesArePrivate: a checkpoint names where the stream is and, with
// the schema history beside it, what the tables hold; the state dir it
// creates is 0700 and the file 0600, whatever the umask.
func TestStateFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "sub")
	c := &Checkpoint{File: "mysql-bin.000001", Pos: 4}
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, FileName): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
}

// TestRemoveTemporaries: the copies a killed writer left are removed, the
// state files and other files stay.
func TestRemoveTemporaries(t *testing.T) {
	dir := t.TempDir()
	c := &Checkpoint{File: "mysql-bin.000001", Pos: 4}
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{".checkpoint.json.tmp123", ".schema-history.json.tmp9", "keep.tmp", "lock"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveTemporaries(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := "checkpoint.json keep.tmp lock"; strings.Join(names, " ") != want {
		t.Errorf("left %v, want %s", names, want)
	}
}
