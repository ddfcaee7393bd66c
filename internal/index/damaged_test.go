package index

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDamagedIndexFile: an index file that is not SQLite stops the stream
// with a message naming it and saying what to do, instead of a bare
// "file is not a database".
func TestDamagedIndexFile(t *testing.T) {
	if errNoCgo != nil {
		t.Skip(errNoCgo)
	}
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, []byte("garbage\x00\x01 not an index at all, longer than a header of one hundred bytes......................................"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("a garbage index file was opened")
	}
	for _, want := range []string{path, "is damaged", "--reset"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q: %v", want, err)
		}
	}
}
