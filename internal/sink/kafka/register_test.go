package kafka

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/config"
	_ "github.com/bintap/bintap/internal/sink/stdout"
	"github.com/bintap/bintap/internal/testutil"
)

func noEnv(string) string { return "" }

// load loads a stream configuration with the flags and no environment.
func load(args ...string) (*config.Config, error) {
	return config.Load("stream", args, noEnv)
}

// names are the configured outputs' names.
func names(c *config.Config) string {
	var out []string
	for _, o := range c.Outputs {
		out = append(out, o.Name())
	}
	return strings.Join(out, "|")
}

func TestKafkaOutputs(t *testing.T) {
	c, err := load("--source", "mysql://u@h", "--output", "kafka://h1:9092,h2:9093/{prefix}.{database}.{table}")
	if err != nil {
		t.Fatal(err)
	}
	o := c.Outputs[0].(output).opt
	if strings.Join(o.Brokers, ",") != "h1:9092,h2:9093" || o.Topic != "{prefix}.{database}.{table}" {
		t.Fatalf("outputs %v: %+v", names(c), o)
	}
	if o.Key != "pk" || o.ExactlyOnce || !o.ReadPosition || o.Prefix != "bintap" ||
		o.Partitions != 1 || c.HeartbeatInterval.String() != "10s" || o.FlushTimeout.String() != "30s" ||
		o.Compression != CompressionNone || o.MaxBufferedBytes != 8<<20 {
		t.Errorf("defaults: %+v heartbeat %v", o, c.HeartbeatInterval)
	}

	// The config-file form replaces the default stdout output.
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("source: mysql://u@h\nbootstrap_servers: [k1:9092, k2:9092]\ntopic: cdc\nkafka_delivery: exactly-once\n"), 0o644)
	c, err = load("--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if names(c) != "kafka://k1:9092,k2:9092/cdc" || !c.Outputs[0].(output).opt.ExactlyOnce {
		t.Fatalf("outputs %v", names(c))
	}
	// ...and joins outputs given explicitly.
	c, err = load("--config", path, "--output", "-")
	if err != nil || names(c) != "stdout|kafka://k1:9092,k2:9092/cdc" {
		t.Fatalf("outputs %v: %v", names(c), err)
	}
}

func TestKafkaErrorsNameTheFields(t *testing.T) {
	tf := testutil.NewTLSFiles(t)
	missing := filepath.Join(t.TempDir(), "nope.pem")
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	k := "kafka://h:9092/t"
	cases := []struct {
		args   []string
		field  string
		also   string // a second thing the message must name
		secret string // must not appear
	}{
		{[]string{"--output", "kafka://h/t"}, "output", "HOST:PORT", ""},
		{[]string{"--output", "kafka://h:9092"}, "output", "topic", ""},
		{[]string{"--output", "kafka://h:9092/a b"}, "output", "topic", ""},
		{[]string{"--topic", "t"}, "bootstrap-servers", "--topic", ""},
		{[]string{"--bootstrap-servers", "h:9092"}, "topic", "--bootstrap-servers", ""},
		{[]string{"--bootstrap-servers", "h:9092", "--topic", "t", "--output", k}, "bootstrap-servers", "not both", ""},
		{[]string{"--output", k, "--kafka-key", "row"}, "kafka-key", "pk, table, gtid", ""},
		{[]string{"--output", k, "--kafka-delivery", "maybe"}, "kafka-delivery", "exactly-once", ""},
		{[]string{"--output", k, "--kafka-delivery", "exactly-once", "--read-position-from-kafka=false"}, "read-position-from-kafka", "exactly-once", ""},
		{[]string{"--output", k, "--kafka-sasl-user", "u"}, "kafka-sasl-user", "--kafka-sasl-password", ""},
		{[]string{"--output", k, "--kafka-sasl-password", "hunter2"}, "kafka-sasl-user", "--kafka-sasl-password", "hunter2"},
		{[]string{"--output", k, "--kafka-sasl-mechanism", "PLAIN"}, "kafka-sasl-mechanism", "--kafka-sasl-user", ""},
		{[]string{"--output", k, "--kafka-sasl-mechanism", "GSSAPI"}, "kafka-sasl-mechanism", "SCRAM-SHA-512", ""},
		{[]string{"--output", k, "--kafka-tls-cert", tf.ClientCert}, "kafka-tls-cert", "--kafka-tls-key", ""},
		{[]string{"--output", k, "--kafka-tls-key", tf.ClientKey}, "kafka-tls-cert", "--kafka-tls-key", ""},
		{[]string{"--output", k, "--kafka-tls-ca", missing}, "kafka-tls-ca", missing, ""},
		{[]string{"--output", k, "--kafka-tls-ca", notPEM}, "kafka-tls-ca", "PEM", ""},
		{[]string{"--output", k, "--kafka-tls-cert", notPEM, "--kafka-tls-key", tf.ClientKey}, "kafka-tls-cert", tf.ClientKey, ""},
		{[]string{"--output", k, "--kafka-tls-cert", tf.ClientCert, "--kafka-tls-key", missing}, "kafka-tls-key", missing, ""},
		{[]string{"--output", k, "--heartbeat-interval", "5ms"}, "heartbeat-interval", "0", ""},
		{[]string{"--output", k, "--kafka-partitions", "0"}, "kafka-partitions", "at least 1", ""},
		{[]string{"--output", k, "--kafka-compression", "brotli"}, "kafka-compression", "none, snappy, lz4, zstd, gzip", ""},
	}
	for _, tc := range cases {
		_, err := load(append([]string{"--source", "mysql://u@h"}, tc.args...)...)
		var fe *config.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%v: got %v, want an error for --%s", tc.args, err, tc.field)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "--"+tc.field) || !strings.Contains(msg, tc.also) {
			t.Errorf("%v: error %q does not name --%s and %q", tc.args, msg, tc.field, tc.also)
		}
		if tc.secret != "" && strings.Contains(msg, tc.secret) {
			t.Errorf("%v: error %q shows the password", tc.args, msg)
		}
	}
}

func TestKafkaTLSFiles(t *testing.T) {
	tf := testutil.NewTLSFiles(t)
	tlsOf := func(args ...string) *tls.Config {
		c, err := load(append([]string{"--source", "mysql://u@h", "--output", "kafka://h:9092/t"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return c.Outputs[0].(output).opt.TLS
	}
	if c := tlsOf("--kafka-tls-ca", tf.CA, "--kafka-tls-cert", tf.ClientCert, "--kafka-tls-key", tf.ClientKey); c == nil || c.RootCAs == nil || len(c.Certificates) != 1 {
		t.Fatalf("TLS config %+v", c)
	}
	if tlsOf() != nil {
		t.Error("TLS on without kafka_tls")
	}
	if c := tlsOf("--kafka-tls"); c == nil || c.RootCAs != nil {
		t.Error("--kafka-tls alone: TLS with the system's CAs")
	}
}

// TestKafkaSASLDefaultsToPlain: a user and password without a mechanism
// mean PLAIN, as MaxScale does.
func TestKafkaSASLDefaultsToPlain(t *testing.T) {
	c, err := load("--source", "mysql://u@h", "--output", "kafka://h:9092/t", "--kafka-sasl-user", "u", "--kafka-sasl-password", "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Outputs[0].(output).opt.SASL; m == nil || m.Name() != "PLAIN" {
		t.Errorf("mechanism %v, want PLAIN", m)
	}
	if c, err = load("--source", "mysql://u@h", "--output", "kafka://h:9092/t"); err != nil || c.Outputs[0].(output).opt.SASL != nil {
		t.Errorf("no SASL user: SASL must be off (%v)", err)
	}
	c, err = load("--source", "mysql://u@h", "--output", "kafka://h:9092/t", "--kafka-sasl-user", "u", "--kafka-sasl-password", "hunter2", "--kafka-sasl-mechanism", "scram-sha-256")
	if err != nil || c.Outputs[0].(output).opt.SASL.Name() != "SCRAM-SHA-256" {
		t.Errorf("explicit mechanism: %v", err)
	}
	// Without a user: no SASL at all (a PLAIN mechanism with empty
	// credentials made every connection fail, found by the torture test).
	c, err = load("--source", "mysql://u@h", "--output", "kafka://h:9092/t")
	if err != nil || c.Outputs[0].(output).opt.SASL != nil {
		t.Errorf("no SASL user: %v, mechanism %v", err, c.Outputs[0].(output).opt.SASL)
	}
}
