package config

import (
	"strings"
	"testing"
	"time"
)

func TestIndexOptions(t *testing.T) {
	c, err := Load("stream", []string{"--source", "mysql://u@h", "--output", "index", "--output", "-", "--retain", "7d"},
		func(k string) string { return map[string]string{"BINTAP_BATCH_SIZE": "500"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Outputs) != 2 || c.Outputs[0] != "index" || c.BatchSize != 500 || c.Retain != 7*24*time.Hour {
		t.Errorf("outputs %v, batch size %d, retain %v", c.Outputs, c.BatchSize, c.Retain)
	}
	if c, _ := Load("stream", []string{"--source", "mysql://u@h"}, noEnv); c.BatchSize != 1000 || c.Retain != 0 {
		t.Errorf("defaults: batch size %d, retain %v", c.BatchSize, c.Retain)
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
		_, err := Load("stream", append([]string{"--source", "mysql://u@h"}, tc.args...), noEnv)
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
