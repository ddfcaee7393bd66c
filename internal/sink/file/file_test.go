package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotateAndResume(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, 1024)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 99) + "\n"
	for i := 0; i < 25; i++ {
		if err := s.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	seqs, _ := existing(dir)
	if len(seqs) != 3 {
		t.Fatalf("want 3 files of at most 1024 bytes, got %v", seqs)
	}
	// A crash left half a record at the end of the newest file.
	last := filepath.Join(dir, "changes-000003.jsonl")
	f, _ := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"half":`)
	f.Close()
	s, err = New(dir, 1024)
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte(line))
	s.Close()
	total := 0
	for _, k := range []string{"000001", "000002", "000003"} {
		b, _ := os.ReadFile(filepath.Join(dir, "changes-"+k+".jsonl"))
		if len(b) > 1024 {
			t.Errorf("file %s has %d bytes", k, len(b))
		}
		if strings.Contains(string(b), "half") {
			t.Errorf("partial record kept in %s", k)
		}
		total += strings.Count(string(b), line)
	}
	if total != 26 {
		t.Errorf("want 26 records, got %d", total)
	}
}
