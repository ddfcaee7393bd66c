package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHASettings(t *testing.T) {
	env := func(string) string { return "" }
	c, err := Load("stream", []string{"--source", "mysql://u@h", "--output", "kafka://k:9092/t", "--output", "index+postgres://u@h/idx",
		"--ha-group", "orders", "--ha-lease", "5s"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.HAGroup != "orders" || c.HALease != 5*time.Second || !strings.Contains(c.HAInstance, ":") {
		t.Errorf("group %q lease %s instance %q", c.HAGroup, c.HALease, c.HAInstance)
	}
	if c, err := Load("stream", []string{"--source", "mysql://u@h", "--output", "kafka://k:9092/t"}, env); err != nil || c.HAGroup != "" || c.HALease != 10*time.Second {
		t.Errorf("default: group %q lease %s, %v", c.HAGroup, c.HALease, err)
	}
	// MaxScale's cooperative_replication names the group after the output.
	file := filepath.Join(t.TempDir(), "bintap.yaml")
	os.WriteFile(file, []byte("source: mysql://u@h\noutput: kafka://k:9092/t\ncooperative_replication: true\n"), 0o644)
	if c, err := Load("stream", []string{"--config", file}, env); err != nil || c.HAGroup != "kafka://k:9092/t" {
		t.Errorf("cooperative_replication: group %q, %v", c.HAGroup, err)
	}

	for _, tc := range []struct {
		args       []string
		field, msg string
	}{
		{[]string{"--ha-group", "g"}, "ha-group", "output stdout cannot be written by a group"},
		{[]string{"--ha-group", "g", "--output", "index"}, "ha-group", "the index in the state dir is on this host only"},
		{[]string{"--ha-group", "g", "--output", "file:///tmp/x"}, "ha-group", "output file:///tmp/x cannot be written by a group"},
		{[]string{"--ha-group", "g", "--output", "duckdb"}, "ha-group", "a DuckDB file is on this host only"},
		{[]string{"--ha-group", "g", "--output", "kafka://k:9092/t", "--read-position-from-kafka=false"}, "ha-group", "read_position_from_kafka is false"},
		{[]string{"--ha-group", "a b"}, "ha-group", "letters, digits"},
		{[]string{"--ha-group", "g", "--output", "kafka://k:9092/t", "--reset"}, "reset", "not with --ha-group"},
		{[]string{"--ha-group", "g", "--output", "kafka://k:9092/t", "--ha-lease", "500ms"}, "ha-lease", "whole seconds from 2s to 1h"},
		{[]string{"--ha-group", "g", "--output", "kafka://k:9092/t", "--ha-lease", "2.5s"}, "ha-lease", "whole seconds"},
	} {
		_, err := Load("stream", append([]string{"--source", "mysql://u@h"}, tc.args...), env)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: %v, want a %s error with %q", tc.args, err, tc.field, tc.msg)
		}
	}
}
