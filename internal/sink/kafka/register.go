package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bintap/bintap/internal/format"
	"github.com/bintap/bintap/internal/pipeline"
	"github.com/bintap/bintap/internal/sink"
)

// Delivery modes.
const (
	DeliveryAtLeastOnce = "at-least-once"
	DeliveryExactlyOnce = "exactly-once"
)

func init() {
	sink.Register(sink.Kind{
		Name:    "kafka",
		Form:    "kafka://HOST:PORT[,HOST:PORT...]/TOPIC",
		Match:   func(spec string) bool { return strings.HasPrefix(spec, "kafka://") },
		Options: options,
		Check:   check,
		Parse:   parse,
	})
}

func isBool(v string) error {
	_, err := sink.ParseBool(v)
	return err
}

// options are the settings of kafka:// outputs.
var options = []sink.Option{
	{Name: "bootstrap-servers", Usage: "Kafka brokers HOST:PORT,...; with --topic, adds a Kafka output (same as --output kafka://HOST:PORT,.../TOPIC)", Check: func(v string) error {
		for _, s := range sink.List(v) {
			if err := checkHostPort(s); err != nil {
				return err
			}
		}
		return nil
	}},
	{Name: "topic", Usage: "Kafka topic with --bootstrap-servers; may hold {prefix}, {database} and {table}", Check: checkTopicTemplate},
	{Name: "kafka-key", Default: KeyPK, Usage: "Kafka message key: pk (JSON of the primary key; tables without one use the table key), table or gtid", Check: func(v string) error {
		return sink.OneOf(v, KeyPK, KeyTable, KeyGTID)
	}},
	{Name: "kafka-delivery", Default: DeliveryAtLeastOnce, Usage: "Kafka delivery: at-least-once (idempotent producer, acks=all) or exactly-once (transactions holding the events and the position)", Check: func(v string) error {
		return sink.OneOf(v, DeliveryAtLeastOnce, DeliveryExactlyOnce)
	}},
	{Name: "kafka-position-topic", Usage: "Kafka topic holding the stream position (default TOPIC.bintap-position, or {prefix}.bintap-position when the topic is a template)", Check: checkTopicTemplate},
	{Name: "read-position-from-kafka", Bool: true, Default: "true", Usage: "Kafka: resume from the position stored in Kafka when it is older than the state dir's", Check: isBool},
	{Name: "kafka-partitions", Default: "1", Usage: "Kafka: partitions of the topics bintap creates", Check: func(v string) error {
		if n, err := strconv.ParseInt(v, 10, 32); err != nil || n < 1 {
			return errors.New("accepted values are integers of at least 1")
		}
		return nil
	}},
	{Name: "kafka-replication-factor", Default: "-1", Usage: "Kafka: replication factor of the topics bintap creates (-1: the broker's default)", Check: func(v string) error {
		if n, err := strconv.ParseInt(v, 10, 16); err != nil || n == 0 || n < -1 {
			return errors.New("accepted values are -1 (broker default) or integers of at least 1")
		}
		return nil
	}},
	{Name: "kafka-flush-timeout", Default: "30s", Usage: "Kafka: on shutdown, how long to wait for buffered messages to be delivered", Check: func(v string) error {
		if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return errors.New("accepted values are positive durations such as 30s")
		}
		return nil
	}},
	{Name: "kafka-max-buffered-bytes", Default: "8388608", Usage: "Kafka: bytes of messages held while the brokers are behind or down (back-pressure beyond)", Check: func(v string) error {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 1<<20 {
			return errors.New("accepted values are integers of at least 1048576")
		}
		return nil
	}},
	{Name: "kafka-compression", Default: CompressionNone, Usage: "Kafka: compression of record batches: none, snappy, lz4, zstd or gzip", Check: func(v string) error {
		return sink.OneOf(v, CompressionNone, CompressionSnappy, CompressionLZ4, CompressionZstd, CompressionGzip)
	}},
	{Name: "kafka-tls", Bool: true, Default: "false", Usage: "Kafka: connect with TLS (implied by the other kafka-tls settings)", Check: isBool},
	{Name: "kafka-tls-ca", Usage: "Kafka: PEM file of the CA certificates that sign the brokers' (default: the system's)"},
	{Name: "kafka-tls-cert", Usage: "Kafka: PEM file of the client certificate (with --kafka-tls-key)"},
	{Name: "kafka-tls-key", Usage: "Kafka: PEM file of the client certificate's private key (with --kafka-tls-cert)"},
	{Name: "kafka-sasl-mechanism", Usage: "Kafka SASL mechanism: PLAIN (the default with a user and password, as MaxScale), SCRAM-SHA-256 or SCRAM-SHA-512", Check: func(v string) error {
		return sink.OneOf(strings.ToUpper(v), "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
	}},
	{Name: "kafka-sasl-user", Usage: "Kafka SASL user"},
	{Name: "kafka-sasl-password", Usage: "Kafka SASL password (prefer the environment variable or the config file)"},
	{Name: "heartbeat-topic", Default: "{prefix}.heartbeat", Usage: "Kafka topic of the heartbeat messages", Check: checkTopicTemplate},
}

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

// parseOutput parses kafka://HOST:PORT[,HOST:PORT...]/TOPIC into the brokers
// and the topic (which may hold placeholders).
func parseOutput(o string) (brokers []string, topic string, err error) {
	rest, ok := strings.CutPrefix(o, "kafka://")
	if !ok {
		return nil, "", errors.New("a Kafka output is kafka://HOST:PORT[,HOST:PORT...]/TOPIC")
	}
	hosts, topic, _ := strings.Cut(rest, "/")
	if strings.Contains(hosts, "@") {
		// Never echo the part before '@': it may be a password.
		return nil, "", errors.New("a Kafka output takes no user or password in its URL (form: kafka://HOST:PORT[,HOST:PORT...]/TOPIC): give them with --kafka-sasl-user and --kafka-sasl-password (or BINTAP_KAFKA_SASL_PASSWORD)")
	}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if err := checkHostPort(h); err != nil {
			return nil, "", fmt.Errorf("kafka output broker %v (form: kafka://HOST:PORT[,HOST:PORT...]/TOPIC)", err)
		}
		brokers = append(brokers, h)
	}
	if len(brokers) == 0 {
		return nil, "", errors.New("a Kafka output names at least one broker: kafka://HOST:PORT[,HOST:PORT...]/TOPIC")
	}
	if topic == "" {
		return nil, "", errors.New("a Kafka output names its topic: kafka://HOST:PORT/TOPIC (placeholders {prefix}, {database}, {table} allowed)")
	}
	if err := checkTopicTemplate(topic); err != nil {
		return nil, "", err
	}
	return brokers, topic, nil
}

// check validates the settings that go in pairs and turns
// --bootstrap-servers with --topic into an output.
func check(s sink.Settings) (string, error) {
	servers, topic := sink.List(s.Get("bootstrap-servers")), s.Get("topic")
	user, password, mech := s.Get("kafka-sasl-user"), s.Get("kafka-sasl-password"), s.Get("kafka-sasl-mechanism")
	cert, key := s.Get("kafka-tls-cert"), s.Get("kafka-tls-key")
	var implied string
	switch {
	case len(servers) > 0 && topic == "":
		return "", &sink.SettingError{Field: "topic", Reason: "required with --bootstrap-servers (the Kafka topic, placeholders {prefix}, {database}, {table} allowed)"}
	case len(servers) == 0 && topic != "":
		return "", &sink.SettingError{Field: "bootstrap-servers", Reason: "required with --topic: the Kafka brokers HOST:PORT,..."}
	case len(servers) > 0:
		if s.Given("output") && strings.Contains(s.Get("output"), "kafka://") {
			return "", &sink.SettingError{Field: "bootstrap-servers", Value: strings.Join(servers, ","), Reason: "give a Kafka output either as --output kafka://... or with --bootstrap-servers and --topic, not both"}
		}
		implied = "kafka://" + strings.Join(servers, ",") + "/" + topic
	}
	switch {
	case (user != "") != (password != ""):
		return "", &sink.SettingError{Field: "kafka-sasl-user", Value: user, Reason: "--kafka-sasl-user and --kafka-sasl-password go together: set both or neither"}
	case mech != "" && user == "":
		return "", &sink.SettingError{Field: "kafka-sasl-mechanism", Value: mech, Reason: "--kafka-sasl-mechanism needs --kafka-sasl-user and --kafka-sasl-password"}
	case (cert != "") != (key != ""):
		return "", &sink.SettingError{Field: "kafka-tls-cert", Value: cert, Reason: "--kafka-tls-cert and --kafka-tls-key go together: set both or neither"}
	case s.Get("kafka-delivery") == DeliveryExactlyOnce && !mustBool(s.Get("read-position-from-kafka")):
		return "", &sink.SettingError{Field: "read-position-from-kafka", Value: "false", Reason: "exactly-once delivery resumes from the position stored in Kafka: it needs true"}
	}
	return implied, nil
}

// mustBool reads a value its option's Check accepted.
func mustBool(v string) bool {
	b, _ := sink.ParseBool(v)
	return b
}

// mustInt reads a value its option's Check accepted.
func mustInt(v string) int64 {
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// output is a parsed kafka:// output.
type output struct {
	spec string
	opt  Options
}

func (o output) Name() string { return o.spec }

// SharedPosition: every instance of an HA group reads the position topic
// (sink.Shared), unless reading it is off.
func (o output) SharedPosition() error {
	if !o.opt.ReadPosition {
		return errors.New("read_position_from_kafka is false")
	}
	return nil
}

func parse(spec string, s sink.Settings) (sink.Output, error) {
	brokers, topic, err := parseOutput(spec)
	if err != nil {
		return nil, err
	}
	flush, _ := time.ParseDuration(s.Get("kafka-flush-timeout"))
	opt := Options{
		Brokers:           brokers,
		Topic:             topic,
		Prefix:            s.Get("topic-prefix"),
		Key:               s.Get("kafka-key"),
		ExactlyOnce:       s.Get("kafka-delivery") == DeliveryExactlyOnce,
		PositionTopic:     s.Get("kafka-position-topic"),
		ReadPosition:      mustBool(s.Get("read-position-from-kafka")),
		Partitions:        int32(mustInt(s.Get("kafka-partitions"))),
		ReplicationFactor: int16(mustInt(s.Get("kafka-replication-factor"))),
		FlushTimeout:      flush,
		MaxBufferedBytes:  mustInt(s.Get("kafka-max-buffered-bytes")),
		Compression:       s.Get("kafka-compression"),
		HeartbeatTopic:    s.Get("heartbeat-topic"),
		Binary:            format.ParseBinaryEncoding(s.Get("binary-format")),
	}
	mech := strings.ToUpper(s.Get("kafka-sasl-mechanism"))
	if mech == "" && s.Get("kafka-sasl-user") != "" {
		mech = "PLAIN" // a user and password without a mechanism: PLAIN, as MaxScale does
	}
	opt.SASL = Mechanism(mech, s.Get("kafka-sasl-user"), s.Get("kafka-sasl-password"))
	if opt.TLS, err = tlsConfig(s); err != nil {
		return nil, err
	}
	return output{spec: spec, opt: opt}, nil
}

// Open connects the producer (without waiting for the brokers).
func (o output) Open(ctx context.Context, env sink.Env) (pipeline.Destination, error) {
	enc, err := env.NewEncoder()
	if err != nil {
		return nil, err
	}
	opt := o.opt
	opt.Encoder, opt.Log, opt.Shutdown = enc, env.Log, ctx
	opt.HeartbeatInterval, opt.Server = env.HeartbeatInterval, env.Source
	opt.Lease = env.Lease
	return New(opt)
}

// tlsConfig reads the kafka-tls settings; nil when TLS is off.
func tlsConfig(s sink.Settings) (*tls.Config, error) {
	ca, cert, key := s.Get("kafka-tls-ca"), s.Get("kafka-tls-cert"), s.Get("kafka-tls-key")
	if !mustBool(s.Get("kafka-tls")) && ca == "" && cert == "" {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, &sink.SettingError{Field: "kafka-tls-ca", Value: ca, Reason: fmt.Sprintf("cannot read the file: %v", errors.Unwrap(err))}
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &sink.SettingError{Field: "kafka-tls-ca", Value: ca, Reason: "the file holds no PEM certificate"}
		}
	}
	if cert != "" {
		certPEM, err := os.ReadFile(cert)
		if err != nil {
			return nil, &sink.SettingError{Field: "kafka-tls-cert", Value: cert, Reason: fmt.Sprintf("cannot read the file: %v", errors.Unwrap(err))}
		}
		keyPEM, err := os.ReadFile(key)
		if err != nil {
			return nil, &sink.SettingError{Field: "kafka-tls-key", Value: key, Reason: fmt.Sprintf("cannot read the file: %v", errors.Unwrap(err))}
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, &sink.SettingError{Field: "kafka-tls-cert", Value: cert, Reason: fmt.Sprintf("not a PEM certificate matching the PEM key in --kafka-tls-key %s: %v", key, err)}
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}
