package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/testutil"
)

// TestTimeZoneServer: a server in +05:30 with --timezone SERVER writes
// TIMESTAMP values as the server shows them, in the snapshot and in the
// stream alike; the default stays UTC.
func TestTimeZoneServer(t *testing.T) {
	s := testutil.NewMariaDB(t, "--default-time-zone=+05:30")
	s.Exec("CREATE DATABASE z", "CREATE TABLE z.t (id INT PRIMARY KEY, ts TIMESTAMP(3) NULL, dt DATETIME)",
		"INSERT INTO z.t VALUES (1, '2024-01-01 10:00:00.125', '2024-01-01 10:00:00')")
	stream := func(dir string, extra ...string) (string, string) {
		var out, errOut bytes.Buffer
		args := append([]string{"stream", "--source", s.URL(), "--stop-at-end", "--state-dir", dir, "--output", "-"}, extra...)
		if code := run(args, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d\n%s", extra, code, errOut.String())
		}
		return out.String(), errOut.String()
	}
	dir := t.TempDir()
	out, log := stream(dir, "--timezone", "SERVER")
	if !strings.Contains(out, `"ts":"2024-01-01 10:00:00.125"`) || !strings.Contains(out, `"snapshot":true`) {
		t.Errorf("snapshot with --timezone SERVER:\n%s", out)
	}
	if !strings.Contains(log, "TIMESTAMP values are written in the source's time zone") || !strings.Contains(log, "zone=+05:30") {
		t.Errorf("the zone is not logged:\n%s", log)
	}
	s.Exec("INSERT INTO z.t VALUES (2, '2024-06-30 23:59:59.000', '2024-06-30 23:59:59')")
	out, _ = stream(dir, "--timezone", "SERVER")
	if !strings.Contains(out, `"ts":"2024-06-30 23:59:59.000"`) || strings.Contains(out, `"snapshot":true`) {
		t.Errorf("stream with --timezone SERVER:\n%s", out)
	}
	out, _ = stream(t.TempDir())
	if !strings.Contains(out, `"ts":"2024-01-01 04:30:00.125"`) || !strings.Contains(out, `"dt":"2024-01-01 10:00:00"`) {
		t.Errorf("default (UTC):\n%s", out)
	}
}
