package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDebeziumOptionDefaults(t *testing.T) {
	c, err := Load("stream", []string{"--source", "mysql://u@h"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != "maxscale" || c.TopicPrefix != "bintap" || c.DebeziumDecimalHandling != "precise" || c.DebeziumBinaryHandling != "bytes" ||
		c.DebeziumBigintUnsigned != "long" || c.DebeziumTimePrecision != "adaptive_time_microseconds" ||
		!c.DebeziumTombstones || c.DebeziumSchemas || c.DebeziumTransactionMetadata {
		t.Errorf("defaults: %+v", c)
	}
}

func TestDebeziumOptionsFromFlagsEnvAndFile(t *testing.T) {
	c, err := Load("stream", []string{"--source", "mysql://u@h", "--format", "debezium", "--debezium-decimal-handling", "string",
		"--debezium-binary-handling", "base64-url-safe", "--debezium-bigint-unsigned", "precise", "--debezium-time-precision", "connect",
		"--debezium-tombstones=false", "--debezium-schemas", "--topic-prefix", "shop-db.1"},
		func(k string) string { return map[string]string{"BINTAP_DEBEZIUM_TRANSACTION_METADATA": "true"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != "debezium" || c.DebeziumDecimalHandling != "string" || c.DebeziumBinaryHandling != "base64-url-safe" ||
		c.DebeziumBigintUnsigned != "precise" || c.DebeziumTimePrecision != "connect" || c.DebeziumTombstones ||
		!c.DebeziumSchemas || !c.DebeziumTransactionMetadata || c.TopicPrefix != "shop-db.1" {
		t.Errorf("flags and env: %+v", c)
	}

	// Debezium's own dotted property names work as YAML keys.
	path := filepath.Join(t.TempDir(), "bintap.yaml")
	yaml := "source: mysql://u@h\nformat: debezium\ntopic.prefix: dbserver1\ndecimal.handling.mode: double\nbinary.handling.mode: hex\n" +
		"bigint.unsigned.handling.mode: precise\ntime.precision.mode: connect\ntombstones.on.delete: false\nschemas.enable: true\n" +
		"provide.transaction.metadata: true\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = Load("stream", []string{"--config", path}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.TopicPrefix != "dbserver1" || c.DebeziumDecimalHandling != "double" || c.DebeziumBinaryHandling != "hex" ||
		c.DebeziumBigintUnsigned != "precise" || c.DebeziumTimePrecision != "connect" || c.DebeziumTombstones ||
		!c.DebeziumSchemas || !c.DebeziumTransactionMetadata {
		t.Errorf("dotted YAML keys: %+v", c)
	}

	// One setting under both names is refused.
	if err := os.WriteFile(path, []byte("source: mysql://u@h\ntopic.prefix: a\ntopic_prefix: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load("stream", []string{"--config", path}, noEnv); err == nil || !strings.Contains(err.Error(), "topic.prefix and topic_prefix") {
		t.Errorf("both names: %v", err)
	}
}

func TestDebeziumOptionErrorsNameTheField(t *testing.T) {
	cases := [][2]string{
		{"format", "avro"},
		{"debezium-decimal-handling", "float"},
		{"debezium-binary-handling", "base32"},
		{"debezium-bigint-unsigned", "exact"},
		{"debezium-time-precision", "adaptive"},
		{"debezium-tombstones", "maybe"},
		{"debezium-schemas", "2"},
		{"debezium-transaction-metadata", "sometimes"},
		{"topic-prefix", "has space"},
		{"topic-prefix", ""},
	}
	for _, c := range cases {
		_, err := Load("stream", []string{"--source", "mysql://u@h", "--" + c[0] + "=" + c[1]}, noEnv)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c[0] || !strings.Contains(fe.Reason, "accepted") {
			t.Errorf("--%s=%q: %v", c[0], c[1], err)
		}
	}
}
