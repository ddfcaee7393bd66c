package index

import (
	"strings"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/config"
	_ "github.com/bintap/bintap/internal/sink/stdout"
)

func noEnv(string) string { return "" }

func TestIndexOptions(t *testing.T) {
	c, err := config.Load("stream", []string{"--source", "mysql://u@h", "--output", "index", "--output", "-", "--retain", "7d"},
		func(k string) string { return map[string]string{"BINTAP_BATCH_SIZE": "500"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Outputs[0].(output); len(c.Outputs) != 2 || o.Name() != "index" || o.opt.BatchSize != 500 || o.opt.Retain != 7*24*time.Hour {
		t.Errorf("outputs %v: %+v", c.Outputs, o)
	}
	c, err = config.Load("stream", []string{"--source", "mysql://u@h", "--output", "index+postgres://u:secret@h/idx"}, noEnv)
	if o := c.Outputs[0].(output); err != nil || o.opt.BatchSize != defaultBatch || o.opt.Retain != 0 || strings.Contains(o.Name(), "secret") {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--output", "index+mysql://h/idx"}, "a user, a host and a database are required"},
		{[]string{"--output", "index+postgres://u@h/idx?pool=2"}, `unknown parameter "pool"`},
		{[]string{"--output", "index+sqlite://u@h/idx"}, `unknown database "sqlite"`},
		{[]string{"--output", "sqlite"}, "index"},
		{[]string{"--batch-size", "0"}, "--batch-size"},
		{[]string{"--retain", "7 days"}, "--retain"},
		{[]string{"--retain", "30s"}, "at least 1m"},
	} {
		_, err := config.Load("stream", append([]string{"--source", "mysql://u@h", "--output", "index"}, tc.args...), noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
	for v, want := range map[string]time.Duration{"12h": 12 * time.Hour, "90m": 90 * time.Minute, "1d": 24 * time.Hour, "36h30m": 36*time.Hour + 30*time.Minute} {
		if got, err := ParseRetention(v); err != nil || got != want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
}
