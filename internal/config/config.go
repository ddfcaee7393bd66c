// Package config owns bintap's configuration: the Config type, loading it from
// a YAML file, BINTAP_* environment variables and command-line flags (flags win
// over the environment, the environment over the file), and validating it.
// Every error names the field, the value given and what is accepted.
//
// Outputs are not known here: each --output value is handed to the kind of
// output that claims it in the sink registry, which also brings its own
// settings (such as --kafka-delivery) into the option table.
package config

import (
	"context"
	"crypto/tls"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bintap/bintap/internal/dburl"
	"github.com/bintap/bintap/internal/schema"
	"github.com/bintap/bintap/internal/sink"
)

// Source is a parsed --source URL and the settings of the way to it
// (--ssh, --source-timeout).
type Source struct {
	User     string
	Password string
	// Host and Port are the first server of the URL.
	Host string
	Port int
	// Hosts are all the servers of the URL, in order: bintap streams from
	// the one that is a primary (read_only off). One server usually.
	Hosts []Endpoint
	// SSLMode is disabled, preferred, required, verify-ca or verify-full.
	SSLMode string
	// TLS is the connection's TLS configuration; nil is a plain connection.
	// Its ServerName is set per host by TLSFor.
	TLS *tls.Config
	// SSH, when set, is the tunnel every connection goes through.
	SSH *SSH
	// Timeout bounds connecting (dial, TLS and login) and how long a
	// replication connection may stay silent; 0 means 30s.
	Timeout time.Duration
	// Route, when set, makes the connections: it knows which host is the
	// primary now and carries the tunnel. The source package sets it.
	Route Route
}

// Endpoint is one server of a source URL.
type Endpoint struct {
	Host string
	Port int
}

// Addr is "host:port".
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// Route makes the network connections to a source (see Source.Route).
type Route interface {
	// Target is the server connections go to now.
	Target() Endpoint
	// DialContext connects to addr, through the tunnel when there is one.
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// SSH is an SSH tunnel to the source (--ssh and its settings).
type SSH struct {
	User       string
	Host       string
	Port       int
	KeyFile    string // private key (OpenSSH or PEM)
	Passphrase string // of the key, from BINTAP_SSH_KEY_PASSPHRASE
	KnownHosts string // known_hosts file the host key is checked against
}

// Addr is "host:port" of the SSH server.
func (s SSH) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// ConnectTimeout is Timeout or its default.
func (s Source) ConnectTimeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 30 * time.Second
}

// Addr is "host:port" of the first server.
func (s Source) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Redacted is the URL with the password hidden, safe for logs.
func (s Source) Redacted() string {
	hosts := make([]string, 0, len(s.Hosts))
	for _, h := range s.Hosts {
		hosts = append(hosts, h.Addr())
	}
	if len(hosts) == 0 {
		hosts = append(hosts, s.Addr())
	}
	u := url.URL{Scheme: "mysql", Host: strings.Join(hosts, ",")}
	if s.Password != "" {
		u.User = url.UserPassword(s.User, "xxxxx")
	} else {
		u.User = url.User(s.User)
	}
	return u.String()
}

// Config is everything `bintap stream` needs.
type Config struct {
	SourceURL    string
	Source       Source
	ServerID     uint32
	Flavor       string // auto, mariadb, mysql
	Start        string // newest, oldest, a GTID set, or FILE:POS
	Reset        bool
	StateDir     string
	Format       string // maxscale, debezium
	BinaryFormat string // hex, base64
	// Outputs are the validated --output values, ready to open.
	Outputs            []sink.Output
	Schemas            []string
	Tables             []string
	Match              *regexp.Regexp
	Exclude            *regexp.Regexp
	SchemaHistory      string // all, captured-databases, captured-tables
	StopAtEnd          bool
	CheckpointInterval time.Duration
	BatchSize          int // outputs with transactions (index, database targets): changes per transaction
	TimeZone           *time.Location
	TimeZoneServer     bool // --timezone SERVER: TimeZone is read from the source at start
	LogLevel           string
	SendSchema         bool
	HTTP               string // status server address; "" is off
	// HTTPToken is required on the HTTP API's POST endpoints when set; it
	// must be set when HTTP is not a loopback address.
	HTTPToken string
	// HTTPTLSCert and HTTPTLSKey (PEM files) serve the HTTP API over HTTPS.
	HTTPTLSCert, HTTPTLSKey string
	// HealthGrace is how long the source may be unreachable before
	// /healthz answers 503.
	HealthGrace       time.Duration
	HeartbeatInterval time.Duration
	HeartbeatTable    string // db.table bintap updates; "" is off

	// High availability (internal/ha): "" runs a single instance.
	HAGroup     string
	HALease     time.Duration
	HAInstance  string
	cooperative bool

	// Debezium format (--format debezium) and topic naming.
	TopicPrefix                 string
	DebeziumDecimalHandling     string // precise, double, string
	DebeziumBinaryHandling      string // bytes, base64, base64-url-safe, hex
	DebeziumBigintUnsigned      string // long, precise
	DebeziumTimePrecision       string // adaptive_time_microseconds, connect
	DebeziumTombstones          bool
	DebeziumSchemas             bool
	DebeziumTransactionMetadata bool
	// DebeziumIncludeQuery is Debezium's include.query: source.query
	// holds the statement that changed the row, when the binlog has it.
	DebeziumIncludeQuery bool

	// Snapshots (internal/snapshot).
	Snapshot            string // initial, initial_only, when_needed, never
	SnapshotChunkSize   int
	SnapshotParallelism int
	SignalTable         string // db.table of the signal table, "" for none

	// The way to the source, merged into Source once everything is read.
	sourceTimeout time.Duration
	ssh           *SSH
	sshKey        string
	sshKnownHosts string

	given  map[string]bool   // options set by a flag, the environment or the file
	values map[string]string // the value of every option after precedence
}

// Given reports whether the option (flag name) was set explicitly rather
// than left at its default.
func (c *Config) Given(name string) bool { return c.given[name] }

// Get returns the value of an option (flag name) as given or defaulted: the
// outputs read their settings here (sink.Settings).
func (c *Config) Get(name string) string { return c.values[name] }

// option is one configuration key. Its name is the flag name; the YAML key is
// the name with '-' replaced by '_', the environment variable is BINTAP_ and
// the YAML key in upper case.
type option struct {
	name   string
	def    string
	usage  string
	isBool bool
	secret bool // its value never appears in an error
	set    func(c *Config, v string) error
}

func (o option) yamlKey() string { return strings.ReplaceAll(o.name, "-", "_") }
func (o option) envKey() string  { return "BINTAP_" + strings.ToUpper(o.yamlKey()) }

// FieldError is a configuration error for one field: it names the field
// (flag name), the value given and what is accepted.
type FieldError = sink.SettingError

var streamOptions = []option{
	{name: "source", usage: "source server URL: mysql://USER:PASS@HOST:PORT (or mariadb://)", set: func(c *Config, v string) error {
		s, err := ParseSource(v)
		if err != nil {
			return err
		}
		c.SourceURL, c.Source = v, s
		return nil
	}},
	{name: "source-timeout", def: "30s", usage: "how long connecting to the source (and through --ssh) may take, and how long a replication connection may stay silent (the server sends a heartbeat every second) before it is re-dialled", set: func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > time.Hour {
			return errors.New("accepted values are durations from 1s to 1h, such as 30s")
		}
		c.sourceTimeout = d
		return nil
	}},
	{name: "ssh", usage: "reach the source through an SSH tunnel: USER@HOST[:PORT] of the bastion (port 22 by default); every source connection goes through it (key passphrase, if any, in BINTAP_SSH_KEY_PASSPHRASE)", set: func(c *Config, v string) (err error) {
		c.ssh, err = ParseSSH(v)
		return err
	}},
	{name: "ssh-key", usage: "private key file for --ssh (OpenSSH or PEM format)", set: func(c *Config, v string) error {
		if _, err := os.Stat(v); err != nil {
			return fmt.Errorf("cannot read the key file: %v", err)
		}
		c.sshKey = v
		return nil
	}},
	{name: "ssh-known-hosts", def: "~/.ssh/known_hosts", usage: "known_hosts file the --ssh server's host key is checked against (an unknown key is an error that prints its fingerprint)", set: func(c *Config, v string) error {
		c.sshKnownHosts = ExpandHome(v)
		return nil
	}},
	{name: "server-id", def: "4242", usage: "replica server id bintap registers with; must differ from every real replica's", set: func(c *Config, v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return errors.New("accepted values are integers from 1 to 4294967295")
		}
		c.ServerID = uint32(n)
		return nil
	}},
	{name: "flavor", def: "auto", usage: "source flavor: auto, mariadb or mysql", set: func(c *Config, v string) error {
		c.Flavor = v
		return sink.OneOf(v, "auto", "mariadb", "mysql")
	}},
	{name: "start", def: "newest", usage: "where to begin without a checkpoint: newest, oldest, a GTID set, or FILE:POS", set: func(c *Config, v string) error {
		if _, err := ParseStart(v); err != nil {
			return err
		}
		c.Start = v
		return nil
	}},
	{name: "reset", isBool: true, def: "false", usage: "discard the saved checkpoint and schema history and begin at --start", set: func(c *Config, v string) (err error) {
		c.Reset, err = sink.ParseBool(v)
		return err
	}},
	{name: "state-dir", def: "./bintap-state", usage: "directory for the checkpoint and schema history", set: func(c *Config, v string) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("a directory path is required")
		}
		c.StateDir = v
		return nil
	}},
	{name: "format", def: "maxscale", usage: "event format: maxscale or debezium", set: func(c *Config, v string) error {
		c.Format = v
		return sink.OneOf(v, "maxscale", "debezium")
	}},
	{name: "binary-format", def: "hex", usage: "how binary values are written: hex or base64", set: func(c *Config, v string) error {
		c.BinaryFormat = v
		return sink.OneOf(v, "hex", "base64")
	}},
	{name: "output", def: "-", usage: "destination, repeatable or comma-separated", set: func(c *Config, v string) error {
		if len(splitOutputs(v)) == 0 {
			return errors.New("at least one output is required: " + sink.Forms())
		}
		return nil
	}},
	{name: "schemas", usage: "comma-separated databases to capture (default: all)", set: func(c *Config, v string) error {
		c.Schemas = sink.List(v)
		return nil
	}},
	{name: "tables", usage: "comma-separated db.table names to capture (default: all)", set: func(c *Config, v string) error {
		c.Tables = sink.List(v)
		for _, t := range c.Tables {
			if i := strings.IndexByte(t, '.'); i <= 0 || i == len(t)-1 {
				return fmt.Errorf("%q is not db.table", t)
			}
		}
		return nil
	}},
	{name: "match", usage: "capture only tables whose database.table matches this regular expression", set: func(c *Config, v string) (err error) {
		c.Match, err = compileRegex(v)
		return err
	}},
	{name: "exclude", usage: "skip tables whose database.table matches this regular expression", set: func(c *Config, v string) (err error) {
		c.Exclude, err = compileRegex(v)
		return err
	}},
	{name: "schemas-file", usage: "CSV file of databases to capture, one per line, no header (added to --schemas)", set: func(c *Config, v string) error {
		names, err := readListFile(v, false)
		c.Schemas = append(c.Schemas, names...)
		return err
	}},
	{name: "tables-file", usage: "CSV file of tables to capture, one db.table (or db,table) per line, no header (added to --tables)", set: func(c *Config, v string) error {
		names, err := readListFile(v, true)
		c.Tables = append(c.Tables, names...)
		return err
	}},
	{name: "schema-history", def: "all", usage: "which DDL the schema history keeps: all, captured-databases or captured-tables (smaller history; widening the capture later needs FULL row metadata or a snapshot of the new tables)", set: func(c *Config, v string) error {
		c.SchemaHistory = v
		return sink.OneOf(v, schema.ScopeModes...)
	}},
	{name: "stop-at-end", isBool: true, def: "false", usage: "deliver everything up to the binlog end as of start-up, checkpoint, and exit", set: func(c *Config, v string) (err error) {
		c.StopAtEnd, err = sink.ParseBool(v)
		return err
	}},
	{name: "checkpoint-interval", def: "10s", usage: "how often the checkpoint is written", set: func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond {
			return errors.New("accepted values are durations of at least 100ms, such as 10s or 1m")
		}
		c.CheckpointInterval = d
		return nil
	}},
	{name: "http", usage: "serve status, metrics and snapshot requests over HTTP on this address, such as 127.0.0.1:7070 (default: off)", set: func(c *Config, v string) error {
		if v == "" {
			c.HTTP = ""
			return nil
		}
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return errors.New("accepted values are HOST:PORT or :PORT, such as 127.0.0.1:7070")
		}
		c.HTTP = v
		return nil
	}},
	{name: "http-token", secret: true, usage: "token the HTTP API's actions (POST /snapshot...) require as \"Authorization: Bearer TOKEN\"; required when --http is not a loopback address (at least 16 characters; prefer the environment variable to a flag)", set: func(c *Config, v string) error {
		if len(v) < 16 || strings.ContainsAny(v, " \t\r\n") {
			return errors.New("accepted values are at least 16 characters without spaces, such as the output of: openssl rand -hex 24")
		}
		c.HTTPToken = v
		return nil
	}},
	{name: "http-tls-cert", usage: "PEM certificate (chain) file: --http serves HTTPS (with --http-tls-key)", set: func(c *Config, v string) error {
		c.HTTPTLSCert = v
		return nil
	}},
	{name: "http-tls-key", usage: "PEM private key file of --http-tls-cert", set: func(c *Config, v string) error {
		c.HTTPTLSKey = v
		return nil
	}},
	{name: "health-grace", def: "10s", usage: "how long the source may be unreachable before /healthz answers 503 and bintap_up is 0", set: func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return errors.New("accepted values are durations such as 10s or 1m (0: at once)")
		}
		c.HealthGrace = d
		return nil
	}},
	{name: "ha-group", usage: "run as one instance of a high-availability group of that name: the instance holding the group's lock on the source streams, the others stand by (see README, High availability)", set: func(c *Config, v string) error {
		if len(v) > 100 || strings.IndexFunc(v, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
		}) >= 0 {
			return errors.New("accepted values are up to 100 letters, digits, '.', '_' and '-'")
		}
		c.HAGroup = v
		return nil
	}},
	{name: "cooperative-replication", isBool: true, def: "false", usage: "MaxScale's name for --ha-group: run in a group named after the first output", set: func(c *Config, v string) (err error) {
		c.cooperative, err = sink.ParseBool(v)
		return err
	}},
	{name: "ha-lease", def: "10s", usage: "HA group: how long an active instance that stopped answering keeps the lock (the source ends its lock session after this much silence)", set: func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 2*time.Second || d > time.Hour || d%time.Second != 0 {
			return errors.New("accepted values are whole seconds from 2s to 1h, such as 10s")
		}
		c.HALease = d
		return nil
	}},
	{name: "ha-instance", usage: "HA group: this instance's name in logs, the status and the outputs' epoch records (default HOST:PID)", set: func(c *Config, v string) error {
		c.HAInstance = v
		return nil
	}},
	{name: "heartbeat-interval", def: "10s", usage: "how often heartbeats are sent (0 turns them off)", set: func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || (d != 0 && d < 100*time.Millisecond) {
			return errors.New("accepted values are 0 (off) or durations of at least 100ms, such as 10s")
		}
		c.HeartbeatInterval = d
		return nil
	}},
	{name: "heartbeat-table", usage: "DB.TABLE (columns id PRIMARY KEY, last_update) bintap updates every heartbeat interval so the binlog moves on an idle server; needs a read-write source user (default: off)", set: func(c *Config, v string) error {
		if v == "" {
			c.HeartbeatTable = ""
			return nil
		}
		if i := strings.IndexByte(v, '.'); i <= 0 || i == len(v)-1 || strings.Count(v, ".") != 1 {
			return errors.New("accepted values are db.table")
		}
		c.HeartbeatTable = v
		return nil
	}},
	{name: "timezone", def: "UTC", usage: "zone TIMESTAMP values are written in: UTC, an IANA name such as Europe/Berlin, or SERVER (the source's time_zone / system_time_zone, logged at start)", set: func(c *Config, v string) error {
		if strings.EqualFold(v, "SERVER") {
			c.TimeZone, c.TimeZoneServer = nil, true
			return nil
		}
		loc, err := time.LoadLocation(v)
		if err != nil || v == "" || v == "Local" {
			return errors.New("accepted values are SERVER (the source's zone) and IANA zone names such as UTC or Europe/Berlin")
		}
		c.TimeZone, c.TimeZoneServer = loc, false
		return nil
	}},
	{name: "send-schema", isBool: true, def: "true", usage: "write a schema record before the first row of each table version", set: func(c *Config, v string) (err error) {
		c.SendSchema, err = sink.ParseBool(v)
		return err
	}},
	{name: "topic-prefix", def: "bintap", usage: "logical server name: what {prefix} stands for in Kafka topic names, and Debezium's topic.prefix (source.name, schema names)", set: func(c *Config, v string) error {
		if !topicPrefixRe.MatchString(v) {
			return errors.New("accepted values are non-empty names of letters, digits, '.', '_' and '-' (Debezium's topic.prefix)")
		}
		c.TopicPrefix = v
		return nil
	}},
	{name: "debezium-decimal-handling", def: "precise", usage: "Debezium decimal.handling.mode: precise (Connect Decimal bytes), double or string", set: func(c *Config, v string) error {
		c.DebeziumDecimalHandling = v
		return sink.OneOf(v, "precise", "double", "string")
	}},
	{name: "debezium-binary-handling", def: "bytes", usage: "Debezium binary.handling.mode: bytes, base64, base64-url-safe or hex", set: func(c *Config, v string) error {
		c.DebeziumBinaryHandling = v
		return sink.OneOf(v, "bytes", "base64", "base64-url-safe", "hex")
	}},
	{name: "debezium-bigint-unsigned", def: "long", usage: "Debezium bigint.unsigned.handling.mode: long or precise", set: func(c *Config, v string) error {
		c.DebeziumBigintUnsigned = v
		return sink.OneOf(v, "long", "precise")
	}},
	{name: "debezium-time-precision", def: "adaptive_time_microseconds", usage: "Debezium time.precision.mode: adaptive_time_microseconds or connect", set: func(c *Config, v string) error {
		c.DebeziumTimePrecision = v
		return sink.OneOf(v, "adaptive_time_microseconds", "connect")
	}},
	{name: "debezium-tombstones", isBool: true, def: "true", usage: "Debezium tombstones.on.delete: a null-value record follows each delete (keyed outputs)", set: func(c *Config, v string) (err error) {
		c.DebeziumTombstones, err = sink.ParseBool(v)
		return err
	}},
	{name: "debezium-schemas", isBool: true, def: "false", usage: "embed the Kafka Connect schema in Debezium keys and values (JsonConverter schemas.enable)", set: func(c *Config, v string) (err error) {
		c.DebeziumSchemas, err = sink.ParseBool(v)
		return err
	}},
	{name: "debezium-transaction-metadata", isBool: true, def: "false", usage: "Debezium provide.transaction.metadata: transaction blocks and BEGIN/END records", set: func(c *Config, v string) (err error) {
		c.DebeziumTransactionMetadata, err = sink.ParseBool(v)
		return err
	}},
	{name: "debezium-include-query", isBool: true, def: "false", usage: "Debezium include.query: source.query holds the SQL statement that changed the row (MariaDB Annotate_rows events, on by default; MySQL with binlog_rows_query_log_events=ON), null otherwise", set: func(c *Config, v string) (err error) {
		c.DebeziumIncludeQuery, err = sink.ParseBool(v)
		return err
	}},
	{name: "batch-size", usage: "changes per transaction of the change index (default 30000; its transactions also end at 3 MiB of changes) and of database targets (default 10000); a transaction also ends at each checkpoint", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000000 {
			return errors.New("accepted values are integers from 1 to 1000000")
		}
		c.BatchSize = n
		return nil
	}},
	{name: "snapshot", def: "initial", usage: "initial snapshot of the captured tables: initial (when there is no checkpoint, then stream), initial_only (then stop), when_needed (also when the checkpoint's binlog was purged) or never", set: func(c *Config, v string) error {
		c.Snapshot = v
		return sink.OneOf(v, "initial", "initial_only", "when_needed", "never")
	}},
	{name: "snapshot-chunk-size", def: "10000", usage: "snapshot: rows read per primary-key chunk (progress is saved after each chunk)", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000000 {
			return errors.New("accepted values are integers from 1 to 10000000")
		}
		c.SnapshotChunkSize = n
		return nil
	}},
	{name: "snapshot-parallelism", def: "2", usage: "snapshot: connections reading tables, and key ranges of a large table, in parallel (on MariaDB their views are aligned without a lock; a brief global read lock only when a busy server never lets them agree)", set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return errors.New("accepted values are integers from 1 to 64")
		}
		c.SnapshotParallelism = n
		return nil
	}},
	{name: "signal-table", usage: "table (db.table) whose inserted rows are signals, such as execute-snapshot for an incremental snapshot; columns id, type, data", set: func(c *Config, v string) error {
		if i := strings.IndexByte(v, '.'); i <= 0 || i == len(v)-1 || strings.Count(v, ".") != 1 {
			return errors.New("accepted form is db.table, such as streamkap.streamkap_signal")
		}
		c.SignalTable = v
		return nil
	}},
	{name: "log-level", def: "info", usage: "log level: debug, info, warn or error", set: func(c *Config, v string) error {
		c.LogLevel = v
		return sink.OneOf(v, "debug", "info", "warn", "error")
	}},
}

func compileRegex(v string) (*regexp.Regexp, error) {
	if v == "" {
		return nil, nil
	}
	re, err := regexp.Compile(v)
	if err != nil {
		return nil, fmt.Errorf("not a valid regular expression: %v", err)
	}
	return re, nil
}

// ParseSource parses mysql://USER:PASS@HOST[:PORT][,HOST[:PORT]...][?ssl-mode=...]
// (also mariadb://).
func ParseSource(v string) (Source, error) {
	const form = "accepted form is mysql://USER:PASSWORD@HOST:PORT[,HOST:PORT...][?ssl-mode=...] (or mariadb://...)"
	// The server list is cut out before url.Parse, which takes one host.
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		return Source{}, errors.New(form)
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	hostList := rest[at+1 : end]
	u, err := url.Parse(scheme + "://" + rest[:at+1] + "servers" + rest[end:])
	if err != nil || (u.Scheme != "mysql" && u.Scheme != "mariadb") || hostList == "" {
		return Source{}, errors.New(form)
	}
	if u.User == nil || u.User.Username() == "" {
		return Source{}, errors.New("a user is required: mysql://USER:PASSWORD@HOST:PORT")
	}
	s := Source{User: u.User.Username()}
	s.Password, _ = u.User.Password()
	if u.Path != "" && u.Path != "/" {
		return Source{}, errors.New("the source URL takes no database path: mysql://USER:PASSWORD@HOST:PORT")
	}
	seen := map[string]bool{}
	for _, hp := range strings.Split(hostList, ",") {
		e, err := parseEndpoint(hp, 3306)
		if err != nil {
			return Source{}, err
		}
		if seen[e.Addr()] {
			return Source{}, fmt.Errorf("server %s is listed twice", e.Addr())
		}
		seen[e.Addr()] = true
		s.Hosts = append(s.Hosts, e)
	}
	s.Host, s.Port = s.Hosts[0].Host, s.Hosts[0].Port
	if s.SSLMode, s.TLS, err = sourceTLS(u.Query()); err != nil {
		return Source{}, err
	}
	return s, nil
}

// parseEndpoint parses HOST[:PORT] (IPv6 in brackets).
func parseEndpoint(hp string, defPort int) (Endpoint, error) {
	hp = strings.TrimSpace(hp)
	if hp == "" {
		return Endpoint{}, errors.New("an empty server in the list: HOST:PORT[,HOST:PORT...]")
	}
	host, port := hp, ""
	if h, p, err := net.SplitHostPort(hp); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hp, "[") && strings.HasSuffix(hp, "]") {
		host = hp[1 : len(hp)-1]
	}
	if host == "" || strings.ContainsAny(host, "/@ ") {
		return Endpoint{}, fmt.Errorf("server %q: accepted form is HOST or HOST:PORT", hp)
	}
	e := Endpoint{Host: host, Port: defPort}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Endpoint{}, fmt.Errorf("server %q: the port must be between 1 and 65535", hp)
		}
		e.Port = n
	}
	return e, nil
}

// ParseSSH parses --ssh: USER@HOST[:PORT] (port 22 by default).
func ParseSSH(v string) (*SSH, error) {
	user, hp, ok := strings.Cut(v, "@")
	if !ok || user == "" || hp == "" {
		return nil, errors.New("accepted form is USER@HOST[:PORT], such as bintap@bastion.example.com:22")
	}
	e, err := parseEndpoint(hp, 22)
	if err != nil {
		return nil, err
	}
	return &SSH{User: user, Host: e.Host, Port: e.Port}, nil
}

// StartKind says what --start asked for.
type StartKind int

const (
	StartNewest StartKind = iota
	StartOldest
	StartGTID
	StartFilePos
)

// StartPoint is a parsed --start value.
type StartPoint struct {
	Kind StartKind
	GTID string
	File string
	Pos  uint32
}

var topicPrefixRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// yamlAliases maps Debezium's dotted property names, accepted as YAML keys,
// to bintap's keys.
var yamlAliases = map[string]string{
	"topic.prefix":                  "topic_prefix",
	"decimal.handling.mode":         "debezium_decimal_handling",
	"binary.handling.mode":          "debezium_binary_handling",
	"bigint.unsigned.handling.mode": "debezium_bigint_unsigned",
	"time.precision.mode":           "debezium_time_precision",
	"tombstones.on.delete":          "debezium_tombstones",
	"schemas.enable":                "debezium_schemas",
	"provide.transaction.metadata":  "debezium_transaction_metadata",
}

var (
	mariaGTIDRe = regexp.MustCompile(`^\d+-\d+-\d+(,\s*\d+-\d+-\d+)*$`)
	mysqlGTIDRe = regexp.MustCompile(`^(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(:[a-z0-9_]+)?(:\d+(-\d+)?)+(,\s*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(:[a-z0-9_]+)?(:\d+(-\d+)?)+)*$`)
)

// ParseStart parses a --start value.
func ParseStart(v string) (StartPoint, error) {
	switch v {
	case "newest", "":
		return StartPoint{Kind: StartNewest}, nil
	case "oldest":
		return StartPoint{Kind: StartOldest}, nil
	}
	if mariaGTIDRe.MatchString(v) || mysqlGTIDRe.MatchString(v) {
		return StartPoint{Kind: StartGTID, GTID: v}, nil
	}
	if i := strings.LastIndexByte(v, ':'); i > 0 {
		pos, err := strconv.ParseUint(v[i+1:], 10, 32)
		if err == nil && pos >= 4 {
			return StartPoint{Kind: StartFilePos, File: v[:i], Pos: uint32(pos)}, nil
		}
	}
	return StartPoint{}, errors.New("accepted values are newest, oldest, a GTID set (0-1-42 or uuid:1-42), or FILE:POS such as mysql-bin.000003:4")
}

// Load builds a Config from defaults, the YAML file named by --config, the
// environment and the flags in args. It returns flag.ErrHelp when help was asked.
func Load(name string, args []string, env func(string) string) (*Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the caller reports errors and prints Usage on flag.ErrHelp
	configPath := fs.String("config", "", "YAML configuration file (keys as the flag names with _ for -)")
	flagValues := map[string]*string{}
	var outputs multiFlag
	options := allOptions()
	for _, o := range options {
		if o.name == "output" {
			fs.Var(&outputs, "output", o.usage+" (default -)")
			continue
		}
		if o.isBool {
			b := new(boolFlag)
			fs.Var(b, o.name, o.usage)
			flagValues[o.name] = &b.s
			continue
		}
		flagValues[o.name] = fs.String(o.name, o.def, o.usage)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (all settings are --flags)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var file map[string]any
	if *configPath != "" {
		raw, err := os.ReadFile(*configPath)
		if err != nil {
			return nil, fmt.Errorf("read --config: %w", err)
		}
		if err := yaml.Unmarshal(raw, &file); err != nil {
			return nil, fmt.Errorf("parse --config %s: %v", *configPath, err)
		}
	}
	for alias, key := range yamlAliases {
		if v, ok := file[alias]; ok {
			if _, both := file[key]; both {
				return nil, fmt.Errorf("config file %s: %s and %s are the same setting: give one", *configPath, alias, key)
			}
			file[key] = v
			delete(file, alias)
		}
	}
	known := map[string]bool{}
	for _, o := range options {
		known[o.yamlKey()] = true
	}
	var unknown []string
	for k := range file {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config file %s: unknown key %q (keys are the flag names with _ for -, such as state_dir)", *configPath, unknown[0])
	}

	c := &Config{values: map[string]string{}, given: map[string]bool{}}
	for _, o := range options {
		v, from := o.def, "default"
		if fv, ok := file[o.yamlKey()]; ok {
			v, from = yamlString(fv), "config file key "+o.yamlKey()
		}
		if ev := env(o.envKey()); ev != "" {
			v, from = ev, "environment variable "+o.envKey()
		}
		if o.name == "output" && len(outputs) > 0 {
			v, from = strings.Join(outputs, ","), "flag"
		} else if set[o.name] {
			v, from = *flagValues[o.name], "flag"
		}
		if from != "default" {
			c.given[o.name] = true
		}
		c.values[o.name] = v
		if v == "" && o.def == "" {
			continue // not given and no default: the zero value
		}
		if err := o.set(c, v); err != nil {
			fe := &FieldError{Field: o.name, Value: Redact(v), Reason: err.Error()}
			if o.secret {
				fe.Value = "xxxxx"
			}
			if from != "flag" {
				fe.Reason += " (from " + from + ")"
			}
			return nil, fe
		}
	}
	if c.SourceURL == "" {
		return nil, &FieldError{Field: "source", Reason: "required: mysql://USER:PASSWORD@HOST:PORT"}
	}
	if err := c.checkHTTP(); err != nil {
		return nil, err
	}
	if err := c.wayToSource(env); err != nil {
		return nil, err
	}
	if err := c.parseOutputs(); err != nil {
		return nil, err
	}
	if err := c.checkHA(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkHA names the group of cooperative_replication and checks that every
// output stores its position where every instance of the group reads it.
func (c *Config) checkHA() error {
	if c.cooperative && c.HAGroup == "" && len(c.Outputs) > 0 {
		c.HAGroup = c.Outputs[0].Name()
	}
	if c.HAGroup == "" {
		return nil
	}
	if c.Reset {
		return &FieldError{Field: "reset", Value: "true", Reason: "not with --ha-group: every takeover would start the outputs over; run once without --ha-group with --reset (and --stop-at-end), then start the group"}
	}
	if c.HAInstance == "" {
		host, _ := os.Hostname()
		c.HAInstance = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	for _, o := range c.Outputs {
		sh, ok := o.(sink.Shared)
		var err error
		if !ok {
			err = errors.New("it keeps no position of its own that other hosts can read")
		} else {
			err = sh.SharedPosition()
		}
		if err != nil {
			return &FieldError{Field: "ha-group", Value: c.HAGroup, Reason: fmt.Sprintf("output %s cannot be written by a group: %v; a group writes to kafka://, index+mysql://, index+postgres:// or database targets, which store the position every instance resumes from", o.Name(), err)}
		}
	}
	return nil
}

// checkHTTP checks the HTTP settings together: a token on any address
// that is not loopback, and a TLS certificate with its key.
func (c *Config) checkHTTP() error {
	if c.HTTP == "" {
		for _, f := range []string{"http-token", "http-tls-cert", "http-tls-key"} {
			if c.Given(f) {
				return &FieldError{Field: f, Reason: "needs --http (the address the HTTP API listens on)"}
			}
		}
		return nil
	}
	if c.HTTPToken == "" && !LoopbackAddr(c.HTTP) {
		return &FieldError{Field: "http-token", Reason: fmt.Sprintf("required because --http %s is not a loopback address: anyone who reaches it could start snapshots; set --http-token or BINTAP_HTTP_TOKEN (such as the output of: openssl rand -hex 24), or listen on 127.0.0.1", c.HTTP)}
	}
	switch {
	case c.HTTPTLSCert != "" && c.HTTPTLSKey == "":
		return &FieldError{Field: "http-tls-key", Reason: "required with --http-tls-cert: the PEM file of the certificate's private key"}
	case c.HTTPTLSKey != "" && c.HTTPTLSCert == "":
		return &FieldError{Field: "http-tls-cert", Reason: "required with --http-tls-key: the PEM certificate file"}
	case c.HTTPTLSCert != "":
		if _, err := tls.LoadX509KeyPair(c.HTTPTLSCert, c.HTTPTLSKey); err != nil {
			return &FieldError{Field: "http-tls-cert", Value: c.HTTPTLSCert, Reason: fmt.Sprintf("cannot be used with --http-tls-key %s: %v", c.HTTPTLSKey, err)}
		}
	}
	return nil
}

// LoopbackAddr reports whether a HOST:PORT listens on loopback only:
// localhost or a loopback IP. An empty host (all interfaces) and other
// names are not.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// readListFile reads a CSV list of schemas (or, with tables, of db.table or
// db,table rows): one name per line, no header, blank lines skipped. An
// error names the line.
func readListFile(path string, tables bool) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	var out []string
	seen := map[string]bool{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		var name string
		switch {
		case !tables && len(rec) == 1 && rec[0] != "" && !strings.Contains(rec[0], "."):
			name = rec[0]
		case !tables:
			return nil, fmt.Errorf("%s line %d: %q is not a database name (one name per line, no header)", path, line, strings.Join(rec, ","))
		case len(rec) == 1 && strings.Count(rec[0], ".") == 1 && !strings.HasPrefix(rec[0], ".") && !strings.HasSuffix(rec[0], "."):
			name = rec[0]
		case len(rec) == 2 && rec[0] != "" && rec[1] != "" && !strings.Contains(rec[0]+rec[1], "."):
			name = rec[0] + "." + rec[1]
		default:
			return nil, fmt.Errorf("%s line %d: %q is not a table (db.table or db,table per line, no header)", path, line, strings.Join(rec, ","))
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists nothing", path)
	}
	return out, nil
}

// wayToSource completes Source with the tunnel and timeout settings.
func (c *Config) wayToSource(env func(string) string) error {
	c.Source.Timeout = c.sourceTimeout
	if c.ssh == nil {
		if c.sshKey != "" {
			return &FieldError{Field: "ssh-key", Value: c.sshKey, Reason: "needs --ssh USER@HOST[:PORT]"}
		}
		return nil
	}
	if c.sshKey == "" {
		return &FieldError{Field: "ssh", Value: c.values["ssh"], Reason: "needs --ssh-key FILE (the private key bintap logs in with)"}
	}
	s := *c.ssh
	s.KeyFile, s.KnownHosts = c.sshKey, c.sshKnownHosts
	s.Passphrase = env("BINTAP_SSH_KEY_PASSPHRASE")
	c.Source.SSH = &s
	return nil
}

// ExpandHome replaces a leading ~/ by the home directory.
func ExpandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// splitOutputs splits a comma-separated output list. A part that no kind of
// output claims, after a URL, continues the output before it: that keeps
// kafka://h1:9092,h2:9092/t whole.
func splitOutputs(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := sink.Lookup(p); err != nil && !strings.Contains(p, "://") && len(out) > 0 && strings.Contains(out[len(out)-1], "://") {
			out[len(out)-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

// allOptions is the option table: bintap's own options, then those of every
// kind of output.
func allOptions() []option {
	opts := append([]option(nil), streamOptions...)
	for _, k := range sink.Kinds() {
		for _, so := range k.Options {
			check := so.Check
			opts = append(opts, option{name: so.Name, def: so.Default, usage: so.Usage, isBool: so.Bool,
				set: func(_ *Config, v string) error {
					if check == nil {
						return nil
					}
					return check(v)
				}})
		}
	}
	return opts
}

// parseOutputs hands each --output value to the kind of output that claims
// it, after every kind checked its settings (and added the outputs they
// imply, such as --bootstrap-servers with --topic).
func (c *Config) parseOutputs() error {
	specs := splitOutputs(c.values["output"])
	for _, k := range sink.Kinds() {
		if k.Check == nil {
			continue
		}
		implied, err := k.Check(c)
		if err != nil {
			return settingError(err, "output", "")
		}
		if implied == "" {
			continue
		}
		if c.Given("output") {
			specs = append(specs, implied)
		} else {
			specs = []string{implied} // it replaces the default stdout
		}
	}
	for _, spec := range specs {
		k, err := sink.Lookup(spec)
		if err == nil {
			var out sink.Output
			if out, err = k.Parse(spec, c); err == nil {
				c.Outputs = append(c.Outputs, out)
				continue
			}
		}
		return settingError(err, "output", spec)
	}
	return nil
}

// settingError reports err under the setting it names (a sink.SettingError)
// or else under field, with the value's password hidden.
func settingError(err error, field, value string) error {
	if fe, ok := errors.AsType[*FieldError](err); ok {
		return fe
	}
	reason := err.Error()
	if _, pw, _ := dburl.SplitPassword(value); pw != "" {
		// A kind's reason may quote part of the URL: never the password
		// (as it stands in a URL: after ':' or before '@'; the reason's own
		// words, such as PASSWORD for a password PASS, stay).
		reason = strings.NewReplacer(":"+pw, ":xxxxx", pw+"@", "xxxxx@").Replace(reason)
	}
	return &FieldError{Field: field, Value: Redact(value), Reason: reason}
}

// Redact hides the password of a URL (scheme://user:password@host...), for
// errors and logs; other values are returned as they are. A URL that is
// malformed around its password (a '/' or '?' in it, no "://") is still
// redacted: it errs on hiding too much.
func Redact(v string) string {
	before, pw, after := dburl.SplitPassword(v)
	if pw == "" {
		return v
	}
	return before + "xxxxx" + after
}

func yamlString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = yamlString(p)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(x)
	}
}

type boolFlag struct{ s string }

func (b *boolFlag) String() string     { return b.s }
func (b *boolFlag) Set(v string) error { b.s = v; return nil }
func (b *boolFlag) IsBoolFlag() bool   { return true }

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// CaptureFilter decides which tables are captured. It is safe for
// concurrent use (the stream and incremental snapshots share one).
type CaptureFilter struct {
	schemas map[string]bool
	tables  map[string]bool
	match   *regexp.Regexp
	exclude *regexp.Regexp

	mu sync.RWMutex
	// engines holds "db.table" → storage engine for the tables whose
	// engine is never captured (UncapturedEngine).
	engines map[string]string
}

// UncapturedEngine says why tables of a storage engine are never captured,
// or "" when they are. MEMORY (HEAP) and BLACKHOLE tables are left out of
// the stream and of snapshots: what the binary log says of them is not
// what they hold.
func UncapturedEngine(engine string) string {
	switch strings.ToUpper(engine) {
	case "MEMORY", "HEAP":
		return "a MEMORY table lives in memory only: the server empties it at a restart without row events, so a copy would keep rows the table lost"
	case "BLACKHOLE":
		return "a BLACKHOLE table stores nothing: a snapshot reads no rows, and its updates and deletes never reach the binary log"
	}
	return ""
}

// SetEngine records the storage engine of db.table (as its CREATE or ALTER
// TABLE set it, or the server reports it): a table of an UncapturedEngine is
// not captured from now on, and one moved to another engine is again.
// It reports whether that changed the table's capture.
func (f *CaptureFilter) SetEngine(db, table, engine string) bool {
	full := db + "." + table
	f.mu.Lock()
	defer f.mu.Unlock()
	_, was := f.engines[full]
	if UncapturedEngine(engine) == "" {
		delete(f.engines, full)
		return was
	}
	if f.engines == nil {
		f.engines = map[string]string{}
	}
	f.engines[full] = strings.ToUpper(engine)
	if f.engines[full] == "HEAP" {
		f.engines[full] = "MEMORY"
	}
	return !was
}

// ResetEngines replaces every engine recorded by SetEngine with engines
// ("db.table" → engine); tables named one by one are left out of it.
func (f *CaptureFilter) ResetEngines(engines map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.engines = nil
	for full, e := range engines {
		if UncapturedEngine(e) == "" || f.tables[full] {
			continue
		}
		if f.engines == nil {
			f.engines = map[string]string{}
		}
		f.engines[full] = strings.ToUpper(e)
		if f.engines[full] == "HEAP" {
			f.engines[full] = "MEMORY"
		}
	}
}

// Engine is the engine recorded by SetEngine for a table that is not
// captured because of it, or "".
func (f *CaptureFilter) Engine(db, table string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.engines[db+"."+table]
}

// Named reports whether db.table is named one by one (--tables,
// --tables-file), not only matched by its schema or a pattern.
func (f *CaptureFilter) Named(db, table string) bool { return f.tables[db+"."+table] }

// CapturedByName is Captured without the storage engine: whether the
// names (--schemas, --tables, --match, --exclude) select db.table.
func (f *CaptureFilter) CapturedByName(db, table string) bool {
	if SystemSchema(db) {
		return false
	}
	full := db + "." + table
	if (f.schemas != nil || f.tables != nil) && !f.schemas[db] && !f.tables[full] {
		return false
	}
	if f.match != nil && !f.match.MatchString(full) {
		return false
	}
	if f.exclude != nil && f.exclude.MatchString(full) {
		return false
	}
	return true
}

// UsageError is a mistake in what the user asked for, found only once the
// source was asked (such as a --tables entry that can never be captured):
// bintap exits with status 2, as for a bad flag.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// SystemSchema reports whether a schema is one bintap never captures.
func SystemSchema(db string) bool {
	switch strings.ToLower(db) {
	case "mysql", "information_schema", "performance_schema", "sys":
		return true
	}
	return false
}

// Filter returns the table filter of the configuration.
func (c *Config) Filter() *CaptureFilter {
	f := &CaptureFilter{match: c.Match, exclude: c.Exclude}
	if len(c.Schemas) > 0 {
		f.schemas = map[string]bool{}
		for _, s := range c.Schemas {
			f.schemas[s] = true
		}
	}
	if len(c.Tables) > 0 {
		f.tables = map[string]bool{}
		for _, t := range c.Tables {
			f.tables[t] = true
		}
	}
	return f
}

// HistoryScope is the schema history's scope (--schema-history) over the
// capture the names select (--schemas, --tables, --match, --exclude and
// their files).
func (c *Config) HistoryScope() (*schema.Scope, error) {
	mode := c.SchemaHistory
	if mode == "" {
		mode = schema.ScopeAll
	}
	var match, exclude string
	if c.Match != nil {
		match = c.Match.String()
	}
	if c.Exclude != nil {
		exclude = c.Exclude.String()
	}
	sc, err := schema.NewScope(mode, c.Schemas, c.Tables, match, exclude)
	if err != nil {
		return nil, fmt.Errorf("--schema-history: %w", err)
	}
	return sc, nil
}

// Captured reports whether changes of db.table are emitted: its names
// select it and its storage engine is not one never captured.
func (f *CaptureFilter) Captured(db, table string) bool {
	return f.CapturedByName(db, table) && f.Engine(db, table) == ""
}

// Usage writes the stream flags' help to fs output.
func Usage(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: bintap %s [flags]\n\nFlags (also YAML keys in --config with _ for -, and BINTAP_* environment variables):\n", name)
	fmt.Fprintf(&b, "  --config FILE\n\tYAML configuration file\n")
	for _, o := range allOptions() {
		if o.name == "output" {
			o.usage += ": " + sink.Forms()
		}
		def := ""
		if o.def != "" {
			def = " (default " + o.def + ")"
		}
		fmt.Fprintf(&b, "  --%s\n\t%s%s  [env %s]\n", o.name, o.usage, def, o.envKey())
	}
	return b.String()
}
