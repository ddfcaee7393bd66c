package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/testutil"
)

// TestSourceTLS streams from a server whose user must use TLS: both the
// metadata connection and the replication connection go through TLS.
func TestSourceTLS(t *testing.T) {
	f := testutil.NewTLSFiles(t)
	s := testutil.NewMariaDB(t, "--ssl-ca="+f.CA, "--ssl-cert="+f.ServerCert, "--ssl-key="+f.ServerKey)
	s.Exec("CREATE USER tlsu@'%' IDENTIFIED BY 'pw' REQUIRE SSL",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, SELECT ON *.* TO tlsu@'%'",
		"CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY)", "INSERT INTO k.t VALUES (1),(2),(3)")
	other := testutil.NewTLSFiles(t) // a CA that did not sign the server's certificate
	url := func(params string) string { return fmt.Sprintf("mysql://tlsu:pw@127.0.0.1:%d%s", s.Port, params) }
	stream := func(source string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run([]string{"stream", "--source", source, "--start", "oldest", "--stop-at-end", "--state-dir", t.TempDir(), "--output", "-"}, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	for _, params := range []string{"?tls=verify-identity&ca=" + f.CA, "?tls=verify-ca&ca=" + f.CA, "?tls=required",
		"?tls=verify-identity&ca=" + f.CA + "&cert=" + f.ClientCert + "&key=" + f.ClientKey} {
		code, out, errOut := stream(url(params))
		if code != 0 || strings.Count(out, `"event_type":"insert"`) != 3 {
			t.Errorf("%s: exit %d, output:\n%s\nlog:\n%s", params, code, out, errOut)
		}
	}
	for _, bad := range []struct{ params, want string }{
		{"", "Access denied"}, // the user requires TLS
		{"?tls=verify-identity&ca=" + other.CA, "certificate"},
		{"?tls=verify-ca&ca=" + other.CA, "certificate"},
	} {
		code, _, errOut := stream(url(bad.params))
		if code != 1 || !strings.Contains(errOut, bad.want) {
			t.Errorf("%q: exit %d, want 1 and a log mentioning %q:\n%s", bad.params, code, bad.want, errOut)
		}
	}
	for _, bad := range []struct{ params, want string }{
		{"?tls=maybe", "accepted values are off, required, verify-ca, verify-identity"},
		{"?tls=required&cert=" + f.ClientCert, "cert and key go together"},
		{"?ca=" + f.CA, "need tls="},
		{"?tls=verify-ca&ca=/nonexistent.pem", "ca: open /nonexistent.pem"},
		{"?sslmode=on", `unknown parameter "sslmode"`},
	} {
		code, _, errOut := stream(url(bad.params))
		if code != 2 || !strings.Contains(errOut, bad.want) || !strings.Contains(errOut, "--source") {
			t.Errorf("%q: exit %d, want 2 naming --source and %q:\n%s", bad.params, code, bad.want, errOut)
		}
	}
}
