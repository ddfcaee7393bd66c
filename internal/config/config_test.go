package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/bintap/bintap/internal/sink/all" // the kinds of output (tests only: config imports no destination)
)

func noEnv(string) string { return "" }

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bintap.yaml")
	yaml := "source: mysql://file:pw@db1:3307\nstate_dir: /from/file\ncheckpoint_interval: 5s\nschemas: [shop, crm]\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"BINTAP_STATE_DIR": "/from/env", "BINTAP_SERVER_ID": "77"}
	c, err := Load("stream", []string{"--config", path, "--server-id", "99", "--output", "-", "--output", "file:///tmp/x"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Source.User != "file" || c.Source.Password != "pw" || c.Source.Port != 3307 || c.Source.Host != "db1" {
		t.Errorf("source from file: %+v", c.Source)
	}
	if c.StateDir != "/from/env" {
		t.Errorf("state dir: env must win over file, got %q", c.StateDir)
	}
	if c.ServerID != 99 {
		t.Errorf("server id: flag must win over env, got %d", c.ServerID)
	}
	if c.CheckpointInterval != 5*time.Second {
		t.Errorf("checkpoint interval %v", c.CheckpointInterval)
	}
	if strings.Join(c.Schemas, "|") != "shop|crm" {
		t.Errorf("schemas %v", c.Schemas)
	}
	var names []string
	for _, o := range c.Outputs {
		names = append(names, o.Name())
	}
	if strings.Join(names, "|") != "stdout|file:///tmp/x" {
		t.Errorf("outputs %v", names)
	}
	if strings.Contains(c.Source.Redacted(), "pw") {
		t.Errorf("redacted URL leaks the password: %s", c.Source.Redacted())
	}
}

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

// TestPasswordsNeverPrinted: a URL that fails validation is named in the
// error without its password.
func TestPasswordsNeverPrinted(t *testing.T) {
	for _, args := range [][]string{
		{"--source", "mysql://root:SECRET@db:3306?bogus=1"},
		{"--source", "mysql://u@h", "--output", "index+postgres://u:SECRET@h/idx?pool=2"},
		{"--source", "mysql://u@h", "--output", "nosuch://u:SECRET@h/x"},
	} {
		_, err := Load("stream", args, noEnv)
		if err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%v: error %v", args, err)
		}
	}
	for in, want := range map[string]string{
		"mysql://root:pw@db:3306":         "mysql://root:xxxxx@db:3306",
		"index+postgres://u:p@w@h/db?x=1": "index+postgres://u:xxxxx@h/db?x=1",
		"kafka://h:1/t":                   "kafka://h:1/t",
		"mysql://u@h/a@b":                 "mysql://u@h/a@b",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadErrorsNameTheField(t *testing.T) {
	cases := []struct {
		args  []string
		field string
	}{
		{[]string{}, "source"},
		{[]string{"--source", "postgres://x@h"}, "source"},
		{[]string{"--source", "mysql://h:99999"}, "source"},
		{[]string{"--source", "mysql://u@h", "--server-id", "0"}, "server-id"},
		{[]string{"--source", "mysql://u@h", "--flavor", "oracle"}, "flavor"},
		{[]string{"--source", "mysql://u@h", "--start", "yesterday"}, "start"},
		{[]string{"--source", "mysql://u@h", "--binary-format", "base32"}, "binary-format"},
		{[]string{"--source", "mysql://u@h", "--output", "kafkaa://x"}, "output"},
		{[]string{"--source", "mysql://u@h", "--match", "("}, "match"},
		{[]string{"--source", "mysql://u@h", "--checkpoint-interval", "soon"}, "checkpoint-interval"},
		{[]string{"--source", "mysql://u@h", "--tables", "nodot"}, "tables"},
		{[]string{"--source", "mysql://u@h", "--timezone", "Mars/Base"}, "timezone"},
		{[]string{"--source", "mysql://u@h", "--http", "7070"}, "http"},
		{[]string{"--source", "mysql://u@h", "--heartbeat-interval", "1ms"}, "heartbeat-interval"},
		{[]string{"--source", "mysql://u@h", "--heartbeat-table", "a.b.c"}, "heartbeat-table"},
		{[]string{"--source", "mysql://u@h", "--schema-history", "tables"}, "schema-history"},
	}
	for _, tc := range cases {
		_, err := Load("stream", tc.args, noEnv)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%v: got %v, want an error for --%s", tc.args, err, tc.field)
			continue
		}
		if !strings.Contains(err.Error(), "--"+tc.field) {
			t.Errorf("%v: error %q does not name the field", tc.args, err)
		}
	}
}

func TestEnvErrorSaysWhereFrom(t *testing.T) {
	_, err := Load("stream", []string{"--source", "mysql://u@h"}, func(k string) string {
		if k == "BINTAP_FLAVOR" {
			return "db2"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "BINTAP_FLAVOR") {
		t.Fatalf("want error naming BINTAP_FLAVOR, got %v", err)
	}
}

func TestUnknownConfigKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("source: mysql://u@h\nstatedir: x\n"), 0o644)
	_, err := Load("stream", []string{"--config", path}, noEnv)
	if err == nil || !strings.Contains(err.Error(), "statedir") {
		t.Fatalf("want unknown key error, got %v", err)
	}
}

func TestParseStart(t *testing.T) {
	cases := map[string]StartPoint{
		"newest":       {Kind: StartNewest},
		"oldest":       {Kind: StartOldest},
		"0-1-42":       {Kind: StartGTID, GTID: "0-1-42"},
		"0-1-42,1-2-7": {Kind: StartGTID, GTID: "0-1-42,1-2-7"},
		"3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5": {Kind: StartGTID, GTID: "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5"},
		"mysql-bin.000003:4":                       {Kind: StartFilePos, File: "mysql-bin.000003", Pos: 4},
	}
	for in, want := range cases {
		got, err := ParseStart(in)
		if err != nil || got != want {
			t.Errorf("ParseStart(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"mysql-bin.000003:2", "tomorrow", "0-1", "file:"} {
		if _, err := ParseStart(bad); err == nil {
			t.Errorf("ParseStart(%q) accepted", bad)
		}
	}
}

func TestCaptureFilter(t *testing.T) {
	c, err := Load("stream", []string{"--source", "mysql://u@h", "--schemas", "shop", "--tables", "crm.users", "--exclude", `^shop\.tmp_`}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	f := c.Filter()
	cases := map[string]bool{
		"shop.orders": true, "crm.users": true, "crm.notes": false, "shop.tmp_x": false, "mysql.user": false,
	}
	for name, want := range cases {
		db, tbl, _ := strings.Cut(name, ".")
		if got := f.Captured(db, tbl); got != want {
			t.Errorf("Captured(%s) = %v, want %v", name, got, want)
		}
	}
	c, _ = Load("stream", []string{"--source", "mysql://u@h", "--match", `db1[.]`}, noEnv)
	if c.Filter().Captured("db2", "t") || !c.Filter().Captured("db1", "t") {
		t.Error("match filter")
	}
}

func TestParseSourceServersAndSSL(t *testing.T) {
	s, err := ParseSource("mysql://u:p@db1:3307,db2,[::1]:3309")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range s.Hosts {
		got = append(got, h.Addr())
	}
	if strings.Join(got, " ") != "db1:3307 db2:3306 [::1]:3309" || s.Host != "db1" || s.Port != 3307 {
		t.Errorf("hosts %v, first %s:%d", got, s.Host, s.Port)
	}
	if s.SSLMode != SSLPreferred || s.TLS == nil || !s.TLS.InsecureSkipVerify {
		t.Errorf("default ssl mode %q, tls %v: want preferred", s.SSLMode, s.TLS)
	}
	if c, fallback := s.TLSFor("db2"); c.ServerName != "db2" || !fallback {
		t.Errorf("TLSFor: server name %q fallback %v", c.ServerName, fallback)
	}
	if r := s.Redacted(); r != "mysql://u:xxxxx@db1:3307,db2:3306,[::1]:3309" {
		t.Errorf("redacted %s", r)
	}
	for v, mode := range map[string]string{"disabled": SSLDisabled, "off": SSLDisabled, "REQUIRED": SSLRequired, "verify-identity": SSLVerifyFull} {
		s, err := ParseSource("mysql://u@h?ssl-mode=" + v)
		if err != nil || s.SSLMode != mode || (mode == SSLDisabled) != (s.TLS == nil) {
			t.Errorf("ssl-mode=%s: mode %q tls %v err %v", v, s.SSLMode, s.TLS, err)
		}
	}
	for _, bad := range []string{"mysql://u@db1,db1:3306", "mysql://u@db1,,db2", "mysql://u@db1:0", "mysql://u@db1,db2:x"} {
		if _, err := ParseSource(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestSSHSettings(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"BINTAP_SSH_KEY_PASSPHRASE": "secret"}
	c, err := Load("stream", []string{"--source", "mysql://u@db", "--ssh", "tun@bastion", "--ssh-key", key, "--ssh-known-hosts", "~/kh", "--source-timeout", "5s"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	home, _ := os.UserHomeDir()
	if s := c.Source.SSH; s == nil || s.User != "tun" || s.Addr() != "bastion:22" || s.KeyFile != key || s.Passphrase != "secret" || s.KnownHosts != filepath.Join(home, "kh") {
		t.Errorf("ssh %+v", c.Source.SSH)
	}
	if c.Source.Timeout != 5*time.Second {
		t.Errorf("timeout %v", c.Source.Timeout)
	}
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"--ssh", "bastion"}, "ssh"},
		{[]string{"--ssh", "u@bastion"}, "ssh"}, // no key
		{[]string{"--ssh-key", key}, "ssh-key"},
		{[]string{"--ssh", "u@b", "--ssh-key", filepath.Join(dir, "none")}, "ssh-key"},
		{[]string{"--source-timeout", "10ms"}, "source-timeout"},
	} {
		_, err := Load("stream", append([]string{"--source", "mysql://u@db"}, tc.args...), noEnv)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.field)
		}
	}
}

func TestListFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	schemas := write("schemas.csv", "shop\n\ncrm\nshop\n")
	tables := write("tables.csv", "shop.orders\r\n\"crm\",\"people\"\nshop.items\n")
	c, err := Load("stream", []string{"--source", "mysql://u@h", "--schemas", "a", "--schemas-file", schemas, "--tables-file", tables}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Schemas, " "); got != "a shop crm" {
		t.Errorf("schemas %q", got)
	}
	if got := strings.Join(c.Tables, " "); got != "shop.orders crm.people shop.items" {
		t.Errorf("tables %q", got)
	}
	if f := c.Filter(); !f.Captured("crm", "x") || !f.Captured("a", "t") || f.Captured("nope", "x") {
		t.Errorf("filter: crm.x %v a.t %v nope.x %v", f.Captured("crm", "x"), f.Captured("a", "t"), f.Captured("nope", "x"))
	}
	for _, tc := range []struct{ flag, body, want string }{
		{"--tables-file", "shop.orders\nnodot\n", "line 2: \"nodot\" is not a table"},
		{"--tables-file", "a.b.c\n", "line 1"},
		{"--schemas-file", "shop\nshop.t\n", "line 2: \"shop.t\" is not a database name"},
		{"--schemas-file", "a,b\n", "line 1"},
		{"--schemas-file", "\n\n", "lists nothing"},
	} {
		p := write("bad.csv", tc.body)
		_, err := Load("stream", []string{"--source", "mysql://u@h", tc.flag, p}, noEnv)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != strings.TrimPrefix(tc.flag, "--") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: %v, want an error naming the field and %q", tc.flag, tc.body, err, tc.want)
		}
	}
}

func TestHistoryScope(t *testing.T) {
	c, err := Load("stream", []string{"--source", "mysql://u@h", "--tables", "crm.users", "--schemas", "shop", "--exclude", `^shop\.tmp_`}, func(k string) string {
		if k == "BINTAP_SCHEMA_HISTORY" {
			return "captured-tables"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.HistoryScope()
	if err != nil {
		t.Fatal(err)
	}
	f := c.Filter()
	for _, full := range []string{"crm.users", "crm.other", "shop.orders", "shop.tmp_x", "mysql.user", "other.t"} {
		db, tbl, _ := strings.Cut(full, ".")
		if sc.Contains(db, tbl) != f.CapturedByName(db, tbl) {
			t.Errorf("%s: in the history scope %v, captured %v", full, sc.Contains(db, tbl), f.CapturedByName(db, tbl))
		}
	}
	c, _ = Load("stream", []string{"--source", "mysql://u@h", "--tables", "crm.users"}, noEnv)
	if sc, _ := c.HistoryScope(); !sc.Contains("other", "t") || sc.String() != "all" {
		t.Errorf("default scope %s does not keep everything", sc)
	}
}
