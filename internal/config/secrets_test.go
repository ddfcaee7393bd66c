package config

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/format"
	"github.com/bintap/bintap/internal/sink"
)

// secret is a password no error message can hold by chance.
const secret = "Pw7SecretZq"

// badURLs are URLs with a password that every kind of output must refuse
// or accept without echoing the password: the scheme and what follows the
// host vary; {S} is the scheme.
var badURLs = []string{
	"{S}://u:" + secret + "@host/t",                                  // no port
	"{S}://u:" + secret + "@host:9092/t",                             // well formed
	"{S}://u:" + secret + "@host:99999/t",                            // port out of range
	"{S}://u:" + secret + "@host:port/t",                             // port not a number
	"{S}://u:" + secret + "@host:3306/db?bogus=1",                    // unknown parameter
	"{S}://u:" + secret + "@host:3306/",                              // no database or topic
	"{S}://u:" + secret + "@/db",                                     // no host
	"{S}://u:" + secret + "@host:3306/a/b",                           // path too deep
	"{S}://u:" + secret + "@host:3306/t?sslmode=bogus",               // bad value
	"{S}://u:" + secret + "@h1:1,h2/t",                               // list
	"{S}://u:" + secret + "@host:3306/t with space",                  // bad topic
	"{S}://u:" + url.QueryEscape(secret+"/@:") + "@host:3306/db?x=1", // escaped
	"{S}://:" + secret + "@host:3306/db",                             // no user
	"{S}://u:" + secret + "@host:3306/db?tls=bogus",                  // bad tls
}

// kindSchemes are the URL schemes each kind of output answers to, read off
// its Form (the test fails when a kind has none it can be tried with).
func kindSchemes(k *sink.Kind) []string {
	var out []string
	for _, f := range strings.Fields(strings.NewReplacer(",", " ", "(", " ", ")", " ").Replace(k.Form)) {
		if s, _, ok := strings.Cut(f, "://"); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// TestNoOutputErrorShowsPassword tries every kind of output with URLs that
// carry a password and are wrong in each way the kinds check, and a few
// that are right: no error, no output name and no error of opening an
// output (its server is not there) holds the password.
func TestNoOutputErrorShowsPassword(t *testing.T) {
	kinds := sink.Kinds()
	if len(kinds) < 5 {
		t.Fatalf("only %d kinds of output registered", len(kinds))
	}
	tried := map[string]int{}
	for _, k := range kinds {
		schemes := kindSchemes(k)
		if len(schemes) == 0 {
			// stdout, the state-dir index, duckdb: no URL, no password;
			// still tried below with a password glued on.
			schemes = []string{k.Name}
		}
		for _, scheme := range append(schemes, "file", "files") {
			for _, tmpl := range badURLs {
				spec := strings.ReplaceAll(tmpl, "{S}", scheme)
				owner, err := sink.Lookup(spec)
				if err != nil || owner.Name != k.Name {
					continue
				}
				tried[k.Name]++
				c, err := Load("stream", []string{"--source", "mysql://root@127.0.0.1:1", "--output", spec, "--state-dir", t.TempDir()}, noEnv)
				if err != nil {
					if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), url.QueryEscape(secret)) {
						t.Errorf("%s: %q: the error shows the password: %v", k.Name, spec, err)
					}
					continue
				}
				for _, out := range c.Outputs {
					if strings.Contains(out.Name(), secret) {
						t.Errorf("%s: %q: the output's name shows the password: %s", k.Name, spec, out.Name())
					}
					openAndCheck(t, k.Name, spec, out)
				}
			}
		}
	}
	for _, k := range kinds {
		if len(kindSchemes(k)) > 0 && tried[k.Name] == 0 {
			t.Errorf("kind %s (%s) was not tried with any URL", k.Name, k.Form)
		}
	}
	t.Logf("URLs tried per kind: %v", tried)
}

// openAndCheck opens an output whose server is not there (port 1) and
// checks the error of opening does not show the password.
func openAndCheck(t *testing.T, kind, spec string, out sink.Output) {
	t.Helper()
	if !strings.Contains(spec, "@host:3306/db") && !strings.Contains(spec, "@host:9092/t") {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := out.Open(ctx, sink.Env{StateDir: t.TempDir(), Stdout: io.Discard, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewEncoder: func() (format.Encoder, error) { return nil, errors.New("no encoder in this test") }})
	if d != nil {
		d.Close(ctx)
	}
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("%s: %q: opening shows the password: %v", kind, spec, err)
	}
}

// TestSourceAndSettingErrorsHidePassword: --source values that are wrong in
// each way, and a wrong setting next to a source with a password.
func TestSourceAndSettingErrorsHidePassword(t *testing.T) {
	for _, src := range []string{
		"mysql://u:" + secret + "@host:99999",
		"mysql://u:" + secret + "@host:3306/db",
		"mysql://u:" + secret + "@host:3306?bogus=1",
		"mysql://u:" + secret + "@host:3306?ssl-mode=bogus",
		"mysql://u:" + secret + "@h1,h1",
		"mysql://u:" + secret + "@,",
		"mysql://u:" + secret + "@ho st",
		"mysql://u:" + secret + "/x@host",
		"mysql://u:" + secret + "?@host",
		"mysql://:" + secret + "@host",
		"postgres://u:" + secret + "@host",
		"mysql//u:" + secret + "@host",
	} {
		_, err := Load("stream", []string{"--source", src}, noEnv)
		if err == nil {
			t.Errorf("%q: accepted", src)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q: the error shows the password: %v", src, err)
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "source" {
			t.Errorf("%q: the error does not name --source: %v", src, err)
		}
	}
	_, err := Load("stream", []string{"--source", "mysql://u:" + secret + "@host", "--kafka-sasl-user", "u", "--kafka-sasl-password", secret, "--kafka-delivery", "bogus", "--output", "kafka://h:1/t"}, noEnv)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("a bad Kafka setting: %v", err)
	}
}
