package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bintap/bintap/internal/testutil"
)

func TestSplitOutputsKeepsKafkaBrokers(t *testing.T) {
	cases := map[string]string{
		"-":                                   "-",
		"-,file:///tmp/x":                     "-|file:///tmp/x",
		"kafka://h1:9092,h2:9092/t":           "kafka://h1:9092,h2:9092/t",
		"kafka://h1:9092,h2:9092/t,-":         "kafka://h1:9092,h2:9092/t|-",
		"file:///a,kafka://h1:1,h2:2/t,index": "file:///a|kafka://h1:1,h2:2/t|index",
		"kafka://a:1/x,kafka://b:2,c:3/y":     "kafka://a:1/x|kafka://b:2,c:3/y",
	}
	for in, want := range cases {
		if got := strings.Join(splitOutputs(in), "|"); got != want {
			t.Errorf("splitOutputs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKafkaOutputs(t *testing.T) {
	c, err := Load("stream", []string{"--source", "mysql://u@h", "--output", "kafka://h1:9092,h2:9093/{prefix}.{database}.{table}"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ko, err := ParseKafkaOutput(c.Outputs[0])
	if err != nil || strings.Join(ko.Brokers, ",") != "h1:9092,h2:9093" || ko.Topic != "{prefix}.{database}.{table}" {
		t.Fatalf("outputs %v: %+v %v", c.Outputs, ko, err)
	}
	if c.Kafka.Key != "pk" || c.Kafka.Delivery != DeliveryAtLeastOnce || !c.Kafka.ReadPosition || c.Kafka.TopicPrefix != "bintap" ||
		c.Kafka.Partitions != 1 || c.HeartbeatInterval.String() != "10s" || c.Kafka.FlushTimeout.String() != "30s" {
		t.Errorf("defaults: %+v heartbeat %v", c.Kafka, c.HeartbeatInterval)
	}

	// The config-file form replaces the default stdout output.
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("source: mysql://u@h\nbootstrap_servers: [k1:9092, k2:9092]\ntopic: cdc\nkafka_delivery: exactly-once\n"), 0o644)
	c, err = Load("stream", []string{"--config", path}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Outputs, "|") != "kafka://k1:9092,k2:9092/cdc" || c.Kafka.Delivery != DeliveryExactlyOnce {
		t.Fatalf("outputs %v delivery %s", c.Outputs, c.Kafka.Delivery)
	}
	// ...and joins outputs given explicitly.
	c, err = Load("stream", []string{"--config", path, "--output", "-"}, noEnv)
	if err != nil || strings.Join(c.Outputs, "|") != "-|kafka://k1:9092,k2:9092/cdc" {
		t.Fatalf("outputs %v: %v", c.Outputs, err)
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
		{[]string{"--output", k, "--kafka-sasl-user", "u", "--kafka-sasl-password", "hunter2"}, "kafka-sasl-mechanism", "--kafka-sasl-user", "hunter2"},
		{[]string{"--output", k, "--kafka-sasl-mechanism", "GSSAPI"}, "kafka-sasl-mechanism", "SCRAM-SHA-512", ""},
		{[]string{"--output", k, "--kafka-tls-cert", tf.ClientCert}, "kafka-tls-cert", "--kafka-tls-key", ""},
		{[]string{"--output", k, "--kafka-tls-key", tf.ClientKey}, "kafka-tls-cert", "--kafka-tls-key", ""},
		{[]string{"--output", k, "--kafka-tls-ca", missing}, "kafka-tls-ca", missing, ""},
		{[]string{"--output", k, "--kafka-tls-ca", notPEM}, "kafka-tls-ca", "PEM", ""},
		{[]string{"--output", k, "--kafka-tls-cert", notPEM, "--kafka-tls-key", tf.ClientKey}, "kafka-tls-cert", tf.ClientKey, ""},
		{[]string{"--output", k, "--kafka-tls-cert", tf.ClientCert, "--kafka-tls-key", missing}, "kafka-tls-key", missing, ""},
		{[]string{"--output", k, "--heartbeat-interval", "5ms"}, "heartbeat-interval", "0", ""},
		{[]string{"--output", k, "--kafka-partitions", "0"}, "kafka-partitions", "at least 1", ""},
	}
	for _, tc := range cases {
		_, err := Load("stream", append([]string{"--source", "mysql://u@h"}, tc.args...), noEnv)
		var fe *FieldError
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
	c, err := Load("stream", []string{"--source", "mysql://u@h", "--output", "kafka://h:9092/t",
		"--kafka-tls-ca", tf.CA, "--kafka-tls-cert", tf.ClientCert, "--kafka-tls-key", tf.ClientKey}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.TLS == nil || c.Kafka.TLS.RootCAs == nil || len(c.Kafka.TLS.Certificates) != 1 {
		t.Fatalf("TLS config %+v", c.Kafka.TLS)
	}
	c, _ = Load("stream", []string{"--source", "mysql://u@h", "--output", "kafka://h:9092/t"}, noEnv)
	if c.Kafka.TLS != nil {
		t.Error("TLS on without kafka_tls")
	}
	c, _ = Load("stream", []string{"--source", "mysql://u@h", "--output", "kafka://h:9092/t", "--kafka-tls"}, noEnv)
	if c.Kafka.TLS == nil || c.Kafka.TLS.RootCAs != nil {
		t.Error("--kafka-tls alone: TLS with the system's CAs")
	}
}
