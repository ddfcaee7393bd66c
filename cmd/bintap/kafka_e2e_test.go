package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/bintap/bintap/internal/testutil"
)

// kcat reads a topic with Debian's kcat, an outside Kafka client
// (librdkafka): one "key<TAB>value" line per message.
func kcat(t *testing.T, broker, topic string, extra ...string) []string {
	t.Helper()
	bin, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed (apt-get install kcat, or make setup)")
	}
	args := append([]string{"-C", "-b", broker, "-t", topic, "-e", "-q", "-f", "%k\t%s\n"}, extra...)
	if d := os.Getenv("KCAT_DEBUG"); d != "" {
		args = append(args, "-d", d)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, out)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// startBintap runs the bintap binary in the background.
func startBintap(t *testing.T, stderr *testutil.SyncBuffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"stream"}, args...)...)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

func TestKafkaKcatReadsTheStream(t *testing.T) {
	s := testutil.NewMariaDB(t)
	cluster, _ := testutil.NewKafka(t, kfake.NumBrokers(3))
	brokers := cluster.ListenAddrs()
	s.Exec("CREATE DATABASE shop",
		"CREATE TABLE shop.users (id INT PRIMARY KEY, name VARCHAR(20), balance DECIMAL(10,2))",
		"CREATE TABLE shop.notes (txt VARCHAR(20))",
		"INSERT INTO shop.users VALUES (1,'ann',1.50),(2,'bob',0.00)",
		"UPDATE shop.users SET id=3, balance=2.25 WHERE id=2",
		"DELETE FROM shop.users WHERE id=1",
		"INSERT INTO shop.notes VALUES ('hi')")
	var out, errOut bytes.Buffer
	// Three brokers in one URL: the comma must not split the output.
	args := []string{"stream", "--source", s.URL(), "--start", "oldest", "--stop-at-end", "--state-dir", t.TempDir(),
		"--output", "kafka://" + strings.Join(brokers, ",") + "/{prefix}.{database}.{table}", "--kafka-partitions", "3"}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("bintap exited %d\n%s", code, errOut.String())
	}

	type msg struct{ key, typ, id string }
	var got []msg
	for _, line := range kcat(t, brokers[0], "bintap.shop.users") {
		k, v, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("kcat line %q", line)
		}
		var r map[string]json.RawMessage
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			t.Fatalf("value %q: %v", v, err)
		}
		if r["namespace"] != nil {
			got = append(got, msg{k, "schema", ""})
			continue
		}
		var typ string
		json.Unmarshal(r["event_type"], &typ)
		if typ == "insert" && string(r["balance"]) != map[string]string{"1": "1.50", "2": "0.00"}[string(r["id"])] {
			t.Errorf("balance of id %s: %s", r["id"], r["balance"])
		}
		got = append(got, msg{k, typ, string(r["id"])})
	}
	// kcat reads partition after partition: order holds per key, so compare per key.
	perKey := map[string][]string{}
	for _, m := range got {
		perKey[m.key] = append(perKey[m.key], m.typ+" "+m.id)
	}
	want := map[string][]string{
		`{"database":"shop","table":"users"}`: {"schema "},
		`{"id":1}`:                            {"insert 1", "delete 1"},
		`{"id":2}`:                            {"insert 2", "update_before 2"},
		`{"id":3}`:                            {"update_after 3"},
	}
	if fmt.Sprint(perKey) != fmt.Sprint(want) {
		t.Fatalf("bintap.shop.users per key:\n got %v\nwant %v", perKey, want)
	}
	notes := kcat(t, brokers[1], "bintap.shop.notes")
	if len(notes) != 2 || !strings.HasPrefix(notes[1], `{"database":"shop","table":"notes"}`+"\t") || !strings.Contains(notes[1], `"txt":"hi"`) {
		t.Fatalf("bintap.shop.notes: %q", notes)
	}
	// The same through franz-go, and the position record of the stream.
	if n := len(testutil.ReadTopic(t, true, "bintap.shop.users", kgo.SeedBrokers(brokers...))); n != len(got) {
		t.Errorf("franz-go reads %d records, kcat %d", n, len(got))
	}
	pos := kcat(t, brokers[2], "bintap.bintap-position")
	if len(pos) != 1 || !strings.HasPrefix(pos[0], "bintap.{database}.{table}\t") || !strings.Contains(pos[0], `"file":"`) {
		t.Fatalf("position topic: %q", pos)
	}
}

// kafkaIDs counts the insert records of table k.t by id, as a read_committed
// (or uncommitted) consumer sees the topic.
func kafkaIDs(t *testing.T, broker, topic string, committed bool) map[int]int {
	t.Helper()
	counts := map[int]int{}
	for _, r := range testutil.ReadTopic(t, committed, topic, kgo.SeedBrokers(broker)) {
		var m struct {
			Type string `json:"event_type"`
			ID   *int   `json:"id"`
		}
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatalf("record is not JSON: %s", r.Value)
		}
		if m.Type == "insert" && m.ID != nil {
			counts[*m.ID]++
		}
	}
	return counts
}

// TestKafkaKillNine: kill -9 in the middle of a workload, then restart; in
// exactly-once mode a read_committed consumer sees every row once, in
// at-least-once mode every row at least once.
func TestKafkaKillNine(t *testing.T) {
	for _, mode := range []string{"exactly-once", "at-least-once"} {
		t.Run(mode, func(t *testing.T) {
			s := testutil.NewMariaDB(t)
			_, broker := testutil.NewKafka(t)
			s.Exec("CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY, v INT)")
			state := t.TempDir()
			var stderr testutil.SyncBuffer
			args := []string{"--source", s.URL(), "--start", "oldest", "--state-dir", state, "--output", "kafka://" + broker + "/rows",
				"--kafka-delivery", mode, "--kafka-partitions", "3", "--checkpoint-interval", "300ms", "--heartbeat-interval", "0"}
			const total = 40000
			inserted := make(chan struct{})
			go func() {
				defer close(inserted)
				for i := 0; i < total; i += 100 {
					var vals []string
					for j := i; j < i+100; j++ {
						vals = append(vals, fmt.Sprintf("(%d,%d)", j, j))
					}
					if _, err := s.DB.Exec("INSERT INTO k.t VALUES " + strings.Join(vals, ",")); err != nil {
						t.Errorf("insert: %v", err)
						return
					}
					time.Sleep(5 * time.Millisecond) // a workload that lasts past the kill

				}
			}()
			cmd := startBintap(t, &stderr, args...)
			waitRows := func(n int, committed bool) map[int]int {
				deadline := time.Now().Add(3 * time.Minute)
				for {
					ids := kafkaIDs(t, broker, "rows", committed)
					if len(ids) >= n {
						return ids
					}
					if time.Now().After(deadline) {
						t.Fatalf("Kafka never held %d rows (has %d); bintap said:\n%s", n, len(ids), stderr.String())
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
			waitRows(total/10, false)
			deadline := time.Now().Add(time.Minute)
			for len(testutil.ReadTopic(t, true, "rows.bintap-position", kgo.SeedBrokers(broker))) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("no position stored in Kafka; bintap said:\n%s", stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGKILL) // in the middle of the workload, and likely of a Kafka transaction
			cmd.Wait()
			before := len(kafkaIDs(t, broker, "rows", false))
			select {
			case <-inserted:
				t.Logf("the workload was over at the kill")
			default:
				t.Logf("the workload was still running at the kill")
			}
			<-inserted
			cmd = startBintap(t, &stderr, args...)
			ids := waitRows(total, true)
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("SIGTERM: bintap exited with %v\n%s", err, stderr.String())
			}
			ids = kafkaIDs(t, broker, "rows", true)
			repeats := 0
			for i := 0; i < total; i++ {
				switch n := ids[i]; {
				case n == 0:
					t.Fatalf("row %d lost", i)
				case n > 1 && mode == "exactly-once":
					t.Fatalf("row %d seen %d times by a read_committed consumer", i, n)
				case n > 1:
					repeats += n - 1
				}
			}
			if !strings.Contains(stderr.String(), "position recovered from Kafka") {
				t.Errorf("the restart did not recover the position from Kafka:\n%s", stderr.String())
			}
			t.Logf("%s: killed with %d rows in Kafka; after restart %d rows, %d repeats", mode, before, len(ids), repeats)
		})
	}
}

// TestKafkaBrokerOutage: the broker stops for a few seconds in the middle
// of a stream (same port, same data); bintap warns, holds, and delivers
// everything in order once it is back.
func TestKafkaBrokerOutage(t *testing.T) {
	for _, mode := range []string{"at-least-once", "exactly-once"} {
		t.Run(mode, func(t *testing.T) { brokerOutage(t, mode) })
	}
}

func brokerOutage(t *testing.T, mode string) {
	s := testutil.NewMariaDB(t)
	committed := mode == "exactly-once"
	port, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	startBroker := func() *kfake.Cluster {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dataDir))
		if err != nil {
			t.Fatalf("start kfake: %v", err)
		}
		return c
	}
	broker := startBroker()
	addr := broker.ListenAddrs()[0]
	s.Exec("CREATE DATABASE k", "CREATE TABLE k.t (id INT PRIMARY KEY, v INT)")
	var stderr testutil.SyncBuffer
	cmd := startBintap(t, &stderr, "--source", s.URL(), "--start", "oldest", "--state-dir", t.TempDir(),
		"--output", "kafka://"+addr+"/rows", "--checkpoint-interval", "300ms", "--kafka-delivery", mode)
	insert := func(from, to int) {
		for i := from; i < to; i++ {
			s.Exec(fmt.Sprintf("INSERT INTO k.t VALUES (%d,%d)", i, i), fmt.Sprintf("UPDATE k.t SET v=v+1 WHERE id=%d", i))
		}
	}
	waitRows := func(n int) {
		deadline := time.Now().Add(3 * time.Minute)
		for len(kafkaIDs(t, addr, "rows", committed)) < n {
			if time.Now().After(deadline) {
				t.Fatalf("Kafka never held %d rows; bintap said:\n%s", n, stderr.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	insert(0, 200)
	waitRows(200)
	broker.Close()
	insert(200, 400) // while the broker is down
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(stderr.String(), "Kafka broker unreachable") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning about the broker; bintap said:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// BINTAP_TEST_OUTAGE=65s makes it the judged one-minute outage.
	if d, err := time.ParseDuration(os.Getenv("BINTAP_TEST_OUTAGE")); err == nil {
		time.Sleep(d)
	}
	broker = startBroker()
	defer broker.Close()
	insert(400, 500)
	waitRows(500)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, stderr.String())
	}
	// Every row once or more, each row's insert before its update.
	state := map[string]string{}
	for _, r := range testutil.ReadTopic(t, committed, "rows", kgo.SeedBrokers(addr)) {
		var m struct {
			Type string `json:"event_type"`
		}
		json.Unmarshal(r.Value, &m)
		k := string(r.Key)
		switch m.Type {
		case "insert":
			state[k] = "inserted"
		case "update_before", "update_after":
			if state[k] != "inserted" && state[k] != "updated" {
				t.Fatalf("key %s: %s before its insert", k, m.Type)
			}
			state[k] = "updated"
		}
	}
	for i := 0; i < 500; i++ {
		if k := fmt.Sprintf(`{"id":%d}`, i); state[k] != "updated" {
			t.Fatalf("row %d: %q after the outage", i, state[k])
		}
	}
	if ids := kafkaIDs(t, addr, "rows", committed); committed {
		for id, n := range ids {
			if n != 1 {
				t.Fatalf("exactly-once: row %d inserted %d times", id, n)
			}
		}
	}
	t.Logf("%s: bintap warned %d times that the broker was unreachable", mode, strings.Count(stderr.String(), "Kafka broker unreachable"))
}

func TestKafkaBadConfigExits2(t *testing.T) {
	cases := [][]string{
		{"--output", "kafka://localhost:9092/t", "--kafka-tls-cert", "/nonexistent.pem"},
		{"--output", "kafka://localhost:9092/t", "--kafka-sasl-user", "u"},
		{"--output", "kafka://localhost/t"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		args := append([]string{"stream", "--source", "mysql://root@127.0.0.1:1"}, c...)
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", c, code, errOut.String())
		}
		if !strings.Contains(errOut.String(), "--kafka") && !strings.Contains(errOut.String(), "--output") {
			t.Errorf("%v: message does not name the field: %s", c, errOut.String())
		}
	}
}

// TestKafkaTLSAndSASL: a broker that wants TLS and a SCRAM login (read back
// with franz-go: Debian's kcat, librdkafka 2.0.2, refuses kfake's SASL
// handshake, which starts at version 1), and a TLS-only broker read back
// with kcat. The password comes from the environment and never shows in
// the logs.
func TestKafkaTLSAndSASL(t *testing.T) {
	s := testutil.NewMariaDB(t)
	tf := testutil.NewTLSFiles(t)
	s.Exec("CREATE DATABASE sec", "CREATE TABLE sec.t (id INT PRIMARY KEY)", "INSERT INTO sec.t VALUES (1),(2),(3)")
	want := `{"database":"sec","table":"t"}|{"id":1}|{"id":2}|{"id":3}`
	stream := func(addr string, extra ...string) {
		t.Helper()
		args := append([]string{"stream", "--source", s.URL(), "--start", "oldest", "--stop-at-end", "--state-dir", t.TempDir(),
			"--output", "kafka://" + addr + "/secure", "--kafka-tls-ca", tf.CA, "--kafka-tls-cert", tf.ClientCert, "--kafka-tls-key", tf.ClientKey,
			"--log-level", "debug"}, extra...)
		cmd := exec.Command(binary, args...)
		if len(extra) > 0 { // the SASL run
			cmd.Env = append(cmd.Environ(), "BINTAP_KAFKA_SASL_PASSWORD=pa55-word")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bintap: %v\n%s", err, out)
		}
		if strings.Contains(string(out), "pa55-word") {
			t.Fatalf("the SASL password appears in bintap's output:\n%s", out)
		}
	}

	_, saslAddr := testutil.NewKafka(t, kfake.TLS(tf.Server), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "cdc", "pa55-word"))
	stream(saslAddr, "--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-user", "cdc")
	ca, _ := os.ReadFile(tf.CA)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	var keys []string
	for _, r := range testutil.ReadTopic(t, false, "secure", kgo.SeedBrokers(saslAddr), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: "cdc", Pass: "pa55-word"}.AsSha512Mechanism())) {
		keys = append(keys, string(r.Key))
	}
	if strings.Join(keys, "|") != want {
		t.Fatalf("keys read over SASL_SSL: %v, want %s", keys, want)
	}

	_, tlsAddr := testutil.NewKafka(t, kfake.TLS(tf.Server))
	stream(tlsAddr)
	keys = keys[:0]
	for _, l := range kcat(t, tlsAddr, "secure", "-X", "security.protocol=SSL", "-X", "ssl.ca.location="+tf.CA) {
		k, _, _ := strings.Cut(l, "\t")
		keys = append(keys, k)
	}
	if strings.Join(keys, "|") != want {
		t.Fatalf("keys kcat read over TLS: %v, want %s", keys, want)
	}
}

// TestKafkaDebezium: --format debezium on Kafka: Debezium keys, a tombstone
// after a delete, null keys for a table without a primary key, and the
// BEGIN/END records on the transaction topic, END written at the commit.
func TestKafkaDebezium(t *testing.T) {
	s := testutil.NewMariaDB(t)
	cluster, _ := testutil.NewKafka(t)
	brokers := cluster.ListenAddrs()
	s.Exec("CREATE DATABASE inv",
		"CREATE TABLE inv.customers (id INT PRIMARY KEY, email VARCHAR(40))",
		"CREATE TABLE inv.notes (txt VARCHAR(20))",
		"INSERT INTO inv.customers VALUES (1004,'annek@noanswer.org')",
		"DELETE FROM inv.customers WHERE id=1004",
		"INSERT INTO inv.notes VALUES ('hi')")
	var out, errOut bytes.Buffer
	args := []string{"stream", "--source", s.URL(), "--start", "oldest", "--stop-at-end", "--state-dir", t.TempDir(),
		"--format", "debezium", "--topic-prefix", "dbserver1", "--debezium-transaction-metadata",
		"--output", "kafka://" + brokers[0] + "/{prefix}.{database}.{table}"}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("bintap exited %d\n%s", code, errOut.String())
	}
	opt := kgo.SeedBrokers(brokers...)
	recs := testutil.ReadTopic(t, true, "dbserver1.inv.customers", opt)
	var got []string
	for _, r := range recs {
		op := "tombstone"
		if r.Value != nil {
			var v struct{ Op string }
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatalf("value %s: %v", r.Value, err)
			}
			op = v.Op
		}
		got = append(got, string(r.Key)+" "+op)
	}
	want := []string{`{"id":1004} c`, `{"id":1004} d`, `{"id":1004} tombstone`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("dbserver1.inv.customers:\n got %q\nwant %q", got, want)
	}
	notes := testutil.ReadTopic(t, true, "dbserver1.inv.notes", opt)
	if len(notes) != 1 || notes[0].Key != nil {
		t.Errorf("notes: want one record with a null key, got %v", notes)
	}
	txs := testutil.ReadTopic(t, true, "dbserver1.transaction", opt)
	var statuses []string
	for _, r := range txs {
		var v struct{ Status string }
		json.Unmarshal(r.Value, &v)
		statuses = append(statuses, v.Status)
	}
	// Three row transactions (the CREATEs carry no rows): each BEGIN has its END.
	if fmt.Sprint(statuses) != "[BEGIN END BEGIN END BEGIN END]" {
		t.Errorf("transaction topic statuses: %v", statuses)
	}
}
