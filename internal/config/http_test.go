package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/testutil"
)

// TestHTTPSettings: a non-loopback --http needs a token (from the flag or
// BINTAP_HTTP_TOKEN), the TLS files go together and must load, and a bad
// token is never echoed.
func TestHTTPSettings(t *testing.T) {
	certs := testutil.NewTLSFiles(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123"
	src := []string{"--source", "mysql://u:pw@db:3306"}
	for _, c := range []struct {
		args  []string
		env   map[string]string
		field string // "" for no error
		want  string
	}{
		{args: []string{"--http", "127.0.0.1:7070"}},
		{args: []string{"--http", "localhost:7070"}},
		{args: []string{"--http", "[::1]:7070"}},
		{args: []string{"--http", ":7070"}, field: "http-token", want: "not a loopback address"},
		{args: []string{"--http", "0.0.0.0:7070"}, field: "http-token", want: "BINTAP_HTTP_TOKEN"},
		{args: []string{"--http", "10.1.2.3:7070"}, field: "http-token", want: "not a loopback address"},
		{args: []string{"--http", "status.example.com:7070"}, field: "http-token", want: "not a loopback address"},
		{args: []string{"--http", "0.0.0.0:7070", "--http-token", token}},
		{args: []string{"--http", "0.0.0.0:7070"}, env: map[string]string{"BINTAP_HTTP_TOKEN": token}},
		{args: []string{"--http", "0.0.0.0:7070", "--http-token", "short-secret"}, field: "http-token", want: "at least 16 characters"},
		{args: []string{"--http-token", token}, field: "http-token", want: "needs --http"},
		{args: []string{"--http", "127.0.0.1:7070", "--http-tls-cert", certs.ServerCert}, field: "http-tls-key", want: "required with --http-tls-cert"},
		{args: []string{"--http", "127.0.0.1:7070", "--http-tls-key", certs.ServerKey}, field: "http-tls-cert", want: "required with --http-tls-key"},
		{args: []string{"--http", "127.0.0.1:7070", "--http-tls-cert", garbage, "--http-tls-key", certs.ServerKey}, field: "http-tls-cert", want: "cannot be used"},
		{args: []string{"--http", "127.0.0.1:7070", "--http-tls-cert", certs.ServerCert, "--http-tls-key", certs.ServerKey}},
	} {
		cfg, err := Load("stream", append(append([]string{}, src...), c.args...), func(k string) string { return c.env[k] })
		if c.field == "" {
			if err != nil {
				t.Errorf("%v: %v", c.args, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error on --%s saying %q", c.args, err, c.field, c.want)
			continue
		}
		if cfg != nil {
			t.Errorf("%v: a config with an error", c.args)
		}
		if strings.Contains(err.Error(), "short-secret") {
			t.Errorf("the token is echoed: %v", err)
		}
	}
}
