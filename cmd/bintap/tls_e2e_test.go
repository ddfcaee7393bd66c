package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/testutil"
)

// TestSourceTLS streams from a server whose user must use TLS, through the
// default path: the initial snapshot, then the binlog. Every connection
// (queries, snapshot, replication) must go through TLS or the server
// refuses it. Each ssl-mode is tried, with a right and a wrong CA.
func TestSourceTLS(t *testing.T) {
	f := testutil.NewTLSFiles(t)
	s := testutil.NewMariaDB(t, "--ssl-ca="+f.CA, "--ssl-cert="+f.ServerCert, "--ssl-key="+f.ServerKey)
	s.Exec("CREATE USER tlsu@'%' IDENTIFIED BY 'pw' REQUIRE SSL",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, SELECT, RELOAD ON *.* TO tlsu@'%'",
		"CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY)", "INSERT INTO k.t VALUES (1),(2),(3)")
	other := testutil.NewTLSFiles(t) // a CA that did not sign the server's certificate
	url := func(params string) string { return fmt.Sprintf("mysql://tlsu:pw@127.0.0.1:%d%s", s.Port, params) }
	stream := func(source, stateDir string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run([]string{"stream", "--source", source, "--stop-at-end", "--state-dir", stateDir, "--output", "-"}, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	next := 4
	for _, params := range []string{
		"", // ssl-mode=preferred
		"?ssl-mode=required",
		"?ssl-mode=verify-ca&ssl-ca=" + f.CA,
		"?ssl_ca=" + f.CA, // alone: verify-ca
		"?ssl-mode=verify-full&ssl-ca=" + f.CA + "&ssl-cert=" + f.ClientCert + "&ssl-key=" + f.ClientKey,
		"?tls=verify-identity&ca=" + f.CA, // the earlier names
	} {
		dir := t.TempDir()
		// First start: the initial snapshot of every row there is.
		code, out, errOut := stream(url(params), dir)
		if want := `"snapshot":true`; code != 0 || strings.Count(out, want) != next-1 {
			t.Errorf("%q snapshot: exit %d, want %d snapshot rows; output:\n%s\nlog:\n%s", params, code, next-1, out, errOut)
			continue
		}
		if !strings.Contains(errOut, "source connection uses TLS") {
			t.Errorf("%q: the log does not say the connection uses TLS:\n%s", params, errOut)
		}
		// Second start: a new row, from the binlog.
		s.Exec(fmt.Sprintf("INSERT INTO k.t VALUES (%d)", next))
		next++
		code, out, errOut = stream(url(params), dir)
		if code != 0 || strings.Count(out, `"event_type":"insert"`) != 1 || strings.Contains(out, `"snapshot":true`) {
			t.Errorf("%q stream: exit %d, want one binlog insert; output:\n%s\nlog:\n%s", params, code, out, errOut)
		}
	}
	for _, bad := range []struct{ params, want string }{
		{"?ssl-mode=disabled", "Access denied"}, // the user requires TLS
		{"?ssl-mode=verify-full&ssl-ca=" + other.CA, "certificate"},
		{"?ssl-mode=verify-ca&ssl-ca=" + other.CA, "certificate"},
	} {
		code, _, errOut := stream(url(bad.params), t.TempDir())
		if code != 1 || !strings.Contains(errOut, bad.want) {
			t.Errorf("%q: exit %d, want 1 and a log mentioning %q:\n%s", bad.params, code, bad.want, errOut)
		}
	}
	for _, bad := range []struct{ params, want string }{
		{"?ssl-mode=maybe", "accepted values are disabled, preferred, required, verify-ca, verify-full"},
		{"?ssl-mode=required&ssl-cert=" + f.ClientCert, "ssl-cert and ssl-key go together"},
		{"?ssl-mode=disabled&ssl-ca=" + f.CA, "do not go with ssl-mode=disabled"},
		{"?ssl-mode=required&ssl-ca=" + f.CA, "ssl-ca is checked only with ssl-mode=verify-ca or verify-full"},
		{"?ssl-mode=verify-ca&ssl-ca=/nonexistent.pem", "ssl-ca: open /nonexistent.pem"},
		{"?ssl-mode=required&tls=required", "given twice"},
		{"?sslmode=on", `unknown parameter "sslmode"`},
	} {
		code, _, errOut := stream(url(bad.params), t.TempDir())
		if code != 2 || !strings.Contains(errOut, bad.want) || !strings.Contains(errOut, "--source") {
			t.Errorf("%q: exit %d, want 2 naming --source and %q:\n%s", bad.params, code, bad.want, errOut)
		}
	}
}

// TestSourceWithoutTLS: against a server that offers no TLS, the default
// (preferred) connects in plain text and says so; required refuses.
func TestSourceWithoutTLS(t *testing.T) {
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY)", "INSERT INTO k.t VALUES (1),(2)")
	stream := func(params string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run([]string{"stream", "--source", s.URL() + params, "--stop-at-end", "--state-dir", t.TempDir(), "--output", "-"}, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	for _, params := range []string{"", "?ssl-mode=preferred", "?ssl-mode=disabled"} {
		code, out, errOut := stream(params)
		if code != 0 || strings.Count(out, `"snapshot":true`) != 2 {
			t.Errorf("%q: exit %d, want 2 snapshot rows; output:\n%s\nlog:\n%s", params, code, out, errOut)
		}
		if params != "?ssl-mode=disabled" && !strings.Contains(errOut, "the source offers no TLS: connecting in plain text") {
			t.Errorf("%q: the log does not say the connection is plain:\n%s", params, errOut)
		}
	}
	for _, params := range []string{"?ssl-mode=required", "?ssl-mode=verify-ca"} {
		code, _, errOut := stream(params)
		if code != 1 || !strings.Contains(errOut, "the source offers no TLS, but ssl-mode in --source requires it") {
			t.Errorf("%q: exit %d, want 1 saying the server offers no TLS:\n%s", params, code, errOut)
		}
	}
}
