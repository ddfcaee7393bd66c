package testutil

import "testing"

func TestStartMariaDB(t *testing.T) {
	s := NewMariaDB(t)
	var logBin, format string
	if err := s.DB.QueryRow("SELECT @@log_bin, @@binlog_format").Scan(&logBin, &format); err != nil {
		t.Fatal(err)
	}
	if logBin != "1" || format != "ROW" {
		t.Fatalf("log_bin=%s binlog_format=%s, want 1 and ROW", logBin, format)
	}
}
