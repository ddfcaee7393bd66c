package position

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckpoint: a checkpoint file (the same JSON is the Kafka position
// record) as a crash, a full disk or a person may leave it: Load either
// returns a usable checkpoint or an error naming the file; its GTID state
// parses or errs; nothing panics.
func FuzzCheckpoint(f *testing.F) {
	f.Add([]byte(`{"flavor":"mariadb","file":"mysql-bin.000003","pos":1234,"skip":2,"gtid":"0-1-7","gtid_state":"0-1-6,1-2-3","written":"2026-11-28T02:00:00Z"}`))
	f.Add([]byte(`{"flavor":"mysql","file":"binlog.000001","pos":4,"gtid_state":"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9,3e11fa47-71ca-11e1-9e33-c80aa9429563:1","written":"2026-11-28T02:00:00Z"}`))
	f.Add([]byte(`{"flavor":"mysql","file":"binlog.000001","pos":4,"gtid_state":"3e11fa47-71ca-11e1-9e33-c80aa9429562:tag_1:1-5"}`))
	f.Add([]byte(`{"flavor":"mariadb","file":"mysql-bin.0000`))
	f.Add([]byte{})
	dir := f.TempDir() // one per fuzzing process: a file a run is cheaper
	f.Fuzz(func(t *testing.T, raw []byte) {
		if err := os.WriteFile(filepath.Join(dir, FileName), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(dir)
		if err != nil {
			if !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
				t.Fatalf("the error does not name the file: %v", err)
			}
			return
		}
		if c == nil {
			t.Fatal("no checkpoint and no error for an existing file")
		}
		_ = c.String()
		other := &Checkpoint{File: "mysql-bin.000002", Pos: 4}
		c.Before(other)
		other.Before(c)
		c.Covers("mysql-bin.000002", 4, 1, 2)
		if s, err := NewGTIDState(c.Flavor, c.GTIDState); err == nil {
			_ = s.String()
		}
	})
}

// FuzzGTIDState: GTID positions and sets of both flavors parse or err, and
// what parses prints back to a state that parses to the same text.
func FuzzGTIDState(f *testing.F) {
	for _, s := range []string{"0-1-5", "0-1-5,1-2-9", " 0-1-5 , ", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7",
		"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429562:3", ""} {
		f.Add(s, strings.Contains(s, ":"), "0-1-6")
	}
	f.Fuzz(func(t *testing.T, s string, mysql bool, add string) {
		flavor := "mariadb"
		if mysql {
			flavor = "mysql"
		}
		st, err := NewGTIDState(flavor, s)
		if err != nil {
			return
		}
		st.Add(add)
		text := st.String()
		again, err := NewGTIDState(flavor, text)
		if err != nil {
			t.Fatalf("%s state %q prints %q, which does not parse: %v", flavor, s, text, err)
		}
		if again.String() != text {
			t.Fatalf("%s state %q prints %q, then %q", flavor, s, text, again.String())
		}
		ParseMariaDBGTID(add)
		FileSeq(add)
	})
}
