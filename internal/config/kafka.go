package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Kafka holds the settings of kafka:// outputs.
type Kafka struct {
	// BootstrapServers and Topic (the config-file form of an output
	// kafka://HOST:PORT,.../TOPIC) add a Kafka output when set.
	BootstrapServers []string
	Topic            string
	// TopicPrefix is what {prefix} stands for in topic names.
	TopicPrefix       string
	Key               string // pk, table or gtid
	Delivery          string // at-least-once or exactly-once
	PositionTopic     string // "" means derived from the topic
	ReadPosition      bool
	Partitions        int32
	ReplicationFactor int16
	FlushTimeout      time.Duration
	MaxBufferedBytes  int64
	// TLS is nil unless kafka_tls (or one of its files) is set.
	TLS            *tls.Config
	SASLMechanism  string // "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	SASLUser       string
	SASLPassword   string
	HeartbeatTopic string

	tls                    bool
	tlsCA, tlsCert, tlsKey string
}

// Delivery modes.
const (
	DeliveryAtLeastOnce = "at-least-once"
	DeliveryExactlyOnce = "exactly-once"
)

// The options of kafka:// outputs; they join the option table in init.
var kafkaOptions = []option{
	{name: "bootstrap-servers", usage: "Kafka brokers HOST:PORT,...; with --topic, adds a Kafka output (same as --output kafka://HOST:PORT,.../TOPIC)", set: func(c *Config, v string) error {
		servers := listValue(v)
		for _, s := range servers {
			if err := checkHostPort(s); err != nil {
				return err
			}
		}
		c.Kafka.BootstrapServers = servers
		return nil
	}},
	{name: "topic", usage: "Kafka topic with --bootstrap-servers; may hold {prefix}, {database} and {table}", set: func(c *Config, v string) error {
		c.Kafka.Topic = v
		return checkTopicTemplate(v)
	}},
	{name: "kafka-key", def: "pk", usage: "Kafka message key: pk (JSON of the primary key; tables without one use the table key), table or gtid", set: func(c *Config, v string) error {
		c.Kafka.Key = v
		return oneOf(v, "pk", "table", "gtid")
	}},
	{name: "kafka-delivery", def: DeliveryAtLeastOnce, usage: "Kafka delivery: at-least-once (idempotent producer, acks=all) or exactly-once (transactions holding the events and the position)", set: func(c *Config, v string) error {
		c.Kafka.Delivery = v
		return oneOf(v, DeliveryAtLeastOnce, DeliveryExactlyOnce)
	}},
	{name: "kafka-position-topic", usage: "Kafka topic holding the stream position (default TOPIC.bintap-position, or {prefix}.bintap-position when the topic is a template)", set: func(c *Config, v string) error {
		c.Kafka.PositionTopic = v
		return checkTopicTemplate(v)
	}},
	{name: "read-position-from-kafka", isBool: true, def: "true", usage: "Kafka: resume from the position stored in Kafka when it is older than the state dir's", set: func(c *Config, v string) (err error) {
		c.Kafka.ReadPosition, err = parseBool(v)
		return err
	}},
	{name: "kafka-partitions", def: "1", usage: "Kafka: partitions of the topics bintap creates", set: func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			return errors.New("accepted values are integers of at least 1")
		}
		c.Kafka.Partitions = int32(n)
		return nil
	}},
	{name: "kafka-replication-factor", def: "-1", usage: "Kafka: replication factor of the topics bintap creates (-1: the broker's default)", set: func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 16)
		if err != nil || n == 0 || n < -1 {
			return errors.New("accepted values are -1 (broker default) or integers of at least 1")
		}
		c.Kafka.ReplicationFactor = int16(n)
		return nil
	}},
	{name: "kafka-flush-timeout", def: "30s", usage: "Kafka: on shutdown, how long to wait for buffered messages to be delivered", set: func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return errors.New("accepted values are positive durations such as 30s")
		}
		c.Kafka.FlushTimeout = d
		return nil
	}},
	{name: "kafka-max-buffered-bytes", def: "67108864", usage: "Kafka: bytes of messages held while the brokers are behind or down (back-pressure beyond)", set: func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1<<20 {
			return errors.New("accepted values are integers of at least 1048576")
		}
		c.Kafka.MaxBufferedBytes = n
		return nil
	}},
	{name: "kafka-tls", isBool: true, def: "false", usage: "Kafka: connect with TLS (implied by the other kafka-tls settings)", set: func(c *Config, v string) (err error) {
		c.Kafka.tls, err = parseBool(v)
		return err
	}},
	{name: "kafka-tls-ca", usage: "Kafka: PEM file of the CA certificates that sign the brokers' (default: the system's)", set: func(c *Config, v string) error {
		c.Kafka.tlsCA = v
		return nil
	}},
	{name: "kafka-tls-cert", usage: "Kafka: PEM file of the client certificate (with --kafka-tls-key)", set: func(c *Config, v string) error {
		c.Kafka.tlsCert = v
		return nil
	}},
	{name: "kafka-tls-key", usage: "Kafka: PEM file of the client certificate's private key (with --kafka-tls-cert)", set: func(c *Config, v string) error {
		c.Kafka.tlsKey = v
		return nil
	}},
	{name: "kafka-sasl-mechanism", usage: "Kafka SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with user and password)", set: func(c *Config, v string) error {
		c.Kafka.SASLMechanism = strings.ToUpper(v)
		return oneOf(c.Kafka.SASLMechanism, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
	}},
	{name: "kafka-sasl-user", usage: "Kafka SASL user", set: func(c *Config, v string) error {
		c.Kafka.SASLUser = v
		return nil
	}},
	{name: "kafka-sasl-password", usage: "Kafka SASL password (prefer the environment variable or the config file)", set: func(c *Config, v string) error {
		c.Kafka.SASLPassword = v
		return nil
	}},
	{name: "heartbeat-topic", def: "{prefix}.heartbeat", usage: "Kafka topic of the heartbeat messages", set: func(c *Config, v string) error {
		c.Kafka.HeartbeatTopic = v
		return checkTopicTemplate(v)
	}},
}

func init() { streamOptions = append(streamOptions, kafkaOptions...) }

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not HOST:PORT", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: the port must be between 1 and 65535", s)
	}
	return nil
}

// checkTopicTemplate accepts Kafka's topic characters and the placeholders
// {prefix}, {database} and {table}.
func checkTopicTemplate(v string) error {
	rest := v
	for _, p := range []string{"{prefix}", "{database}", "{table}"} {
		rest = strings.ReplaceAll(rest, p, "")
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic names hold letters, digits, '.', '_', '-' and the placeholders {prefix}, {database}, {table}; %q is not allowed", r)
		}
	}
	if len(v) > 249 {
		return errors.New("topic names are at most 249 characters")
	}
	return nil
}

// KafkaOutput is a parsed kafka:// output.
type KafkaOutput struct {
	Brokers []string
	Topic   string // may hold placeholders
}

// ParseKafkaOutput parses kafka://HOST:PORT[,HOST:PORT...]/TOPIC.
func ParseKafkaOutput(o string) (KafkaOutput, error) {
	rest, ok := strings.CutPrefix(o, "kafka://")
	if !ok {
		return KafkaOutput{}, errors.New("a Kafka output is kafka://HOST:PORT[,HOST:PORT...]/TOPIC")
	}
	hosts, topic, _ := strings.Cut(rest, "/")
	var out KafkaOutput
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if err := checkHostPort(h); err != nil {
			return KafkaOutput{}, fmt.Errorf("kafka output broker %v (form: kafka://HOST:PORT[,HOST:PORT...]/TOPIC)", err)
		}
		out.Brokers = append(out.Brokers, h)
	}
	if len(out.Brokers) == 0 {
		return KafkaOutput{}, errors.New("a Kafka output names at least one broker: kafka://HOST:PORT[,HOST:PORT...]/TOPIC")
	}
	if topic == "" {
		return KafkaOutput{}, errors.New("a Kafka output names its topic: kafka://HOST:PORT/TOPIC (placeholders {prefix}, {database}, {table} allowed)")
	}
	if err := checkTopicTemplate(topic); err != nil {
		return KafkaOutput{}, err
	}
	out.Topic = topic
	return out, nil
}

// splitOutputs splits a comma-separated output list. A part that does not
// start a new output (-, index, or SCHEME://...) continues the one before:
// that keeps kafka://h1:9092,h2:9092/t whole.
func splitOutputs(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		startsOutput := p == "-" || p == "index" || strings.Contains(p, "://")
		if !startsOutput && len(out) > 0 && strings.HasPrefix(out[len(out)-1], "kafka://") {
			out[len(out)-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

// finishKafka checks the settings that go in pairs, reads the TLS files, and
// turns bootstrap_servers + topic into an output. outputsGiven says whether
// --output (or its key or variable) was set: if not, the Kafka output
// replaces the default stdout output.
func (c *Config) finishKafka(outputsGiven bool) error {
	k := &c.Kafka
	switch {
	case len(k.BootstrapServers) > 0 && k.Topic == "":
		return &FieldError{Field: "topic", Reason: "required with --bootstrap-servers (the Kafka topic, placeholders {prefix}, {database}, {table} allowed)"}
	case len(k.BootstrapServers) == 0 && k.Topic != "":
		return &FieldError{Field: "bootstrap-servers", Reason: "required with --topic: the Kafka brokers HOST:PORT,..."}
	case len(k.BootstrapServers) > 0:
		for _, o := range c.Outputs {
			if strings.HasPrefix(o, "kafka://") && outputsGiven {
				return &FieldError{Field: "bootstrap-servers", Value: strings.Join(k.BootstrapServers, ","), Reason: "give a Kafka output either as --output kafka://... or with --bootstrap-servers and --topic, not both"}
			}
		}
		o := "kafka://" + strings.Join(k.BootstrapServers, ",") + "/" + k.Topic
		if outputsGiven {
			c.Outputs = append(c.Outputs, o)
		} else {
			c.Outputs = []string{o}
		}
	}
	if (k.SASLUser != "") != (k.SASLPassword != "") {
		return &FieldError{Field: "kafka-sasl-user", Value: k.SASLUser, Reason: "--kafka-sasl-user and --kafka-sasl-password go together: set both or neither"}
	}
	if (k.SASLMechanism != "") != (k.SASLUser != "") {
		return &FieldError{Field: "kafka-sasl-mechanism", Value: k.SASLMechanism, Reason: "--kafka-sasl-mechanism needs --kafka-sasl-user and --kafka-sasl-password, and they need it (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"}
	}
	if (k.tlsCert != "") != (k.tlsKey != "") {
		return &FieldError{Field: "kafka-tls-cert", Value: k.tlsCert, Reason: "--kafka-tls-cert and --kafka-tls-key go together: set both or neither"}
	}
	if k.Delivery == DeliveryExactlyOnce && !k.ReadPosition {
		return &FieldError{Field: "read-position-from-kafka", Value: "false", Reason: "exactly-once delivery resumes from the position stored in Kafka: it needs true"}
	}
	if !k.tls && k.tlsCA == "" && k.tlsCert == "" {
		return nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if k.tlsCA != "" {
		pem, err := os.ReadFile(k.tlsCA)
		if err != nil {
			return &FieldError{Field: "kafka-tls-ca", Value: k.tlsCA, Reason: fmt.Sprintf("cannot read the file: %v", errors.Unwrap(err))}
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return &FieldError{Field: "kafka-tls-ca", Value: k.tlsCA, Reason: "the file holds no PEM certificate"}
		}
	}
	if k.tlsCert != "" {
		certPEM, err := os.ReadFile(k.tlsCert)
		if err != nil {
			return &FieldError{Field: "kafka-tls-cert", Value: k.tlsCert, Reason: fmt.Sprintf("cannot read the file: %v", errors.Unwrap(err))}
		}
		keyPEM, err := os.ReadFile(k.tlsKey)
		if err != nil {
			return &FieldError{Field: "kafka-tls-key", Value: k.tlsKey, Reason: fmt.Sprintf("cannot read the file: %v", errors.Unwrap(err))}
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return &FieldError{Field: "kafka-tls-cert", Value: k.tlsCert, Reason: fmt.Sprintf("not a PEM certificate matching the PEM key in --kafka-tls-key %s: %v", k.tlsKey, err)}
		}
		t.Certificates = []tls.Certificate{cert}
	}
	k.TLS = t
	return nil
}
