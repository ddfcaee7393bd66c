package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bintap/bintap/internal/testutil"
)

// browserDir holds the Playwright script and its node_modules (make setup
// installs playwright-core there).
const browserDir = "testdata/browser"

func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// TestDashboardInBrowser runs the real bintap binary against a private
// MariaDB, bound to all interfaces with a token and HTTPS, while a workload
// writes; headless Chromium opens the dashboard, sees the state and the
// counts rise, starts an incremental snapshot from the page (confirming and
// typing the token once), pauses and resumes it, watches its bar reach
// 100% and saves screenshots. Then the API refuses POSTs without the token,
// and neither the source password nor the token appears in a page, an API
// answer or the log.
func TestDashboardInBrowser(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bintap")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/bintap/bintap/cmd/bintap").CombinedOutput(); err != nil {
		t.Fatalf("build bintap: %v\n%s", err, out)
	}

	const password, token = "Pw-dashboard-7f3a91", "tok-4c1d9e0b7a2f5e8d3c6b"
	s := testutil.NewMariaDB(t)
	s.Exec("CREATE USER cdc@'%' IDENTIFIED BY '"+password+"'",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, SELECT, RELOAD ON *.* TO cdc@'%'",
		"CREATE DATABASE w",
		"CREATE TABLE w.big (id INT PRIMARY KEY, v INT NOT NULL, pad VARCHAR(200))",
		"SET SESSION max_recursive_iterations = 10000000; INSERT INTO w.big WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 60000) SELECT i, i, REPEAT('p', 150) FROM n",
		"CREATE TABLE w.busy (id INT PRIMARY KEY, v INT NOT NULL)")
	certs := testutil.NewTLSFiles(t)

	port, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "stream", "--source", fmt.Sprintf("mysql://cdc:%s@127.0.0.1:%d", password, s.Port),
		"--state-dir", t.TempDir(), "--output", "file://"+t.TempDir(), "--schemas", "w", "--snapshot", "never",
		"--snapshot-chunk-size", "300", "--checkpoint-interval", "200ms",
		"--http", fmt.Sprintf("0.0.0.0:%d", port), "--http-tls-cert", certs.ServerCert, "--http-tls-key", certs.ServerKey)
	cmd.Env = append(os.Environ(), "BINTAP_HTTP_TOKEN="+token)
	var logs testutil.SyncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	// The workload: inserts, updates and deletes on w.busy, updates on w.big.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stopOnce sync.Once
	stopWorkload := func() { stopOnce.Do(func() { close(stop); wg.Wait() }) }
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_, err := s.DB.Exec(fmt.Sprintf("INSERT INTO w.busy VALUES (%d, 0)", i))
			if err == nil && i%3 == 0 {
				_, err = s.DB.Exec(fmt.Sprintf("UPDATE w.busy SET v = v + 1 WHERE id = %d", i-1))
			}
			if err == nil && i%5 == 0 {
				_, err = s.DB.Exec(fmt.Sprintf("DELETE FROM w.busy WHERE id = %d", i-2))
			}
			if err == nil {
				_, err = s.DB.Exec(fmt.Sprintf("UPDATE w.big SET v = v + 1 WHERE id = %d", 1+(i*7919)%60000))
			}
			if err != nil {
				t.Errorf("workload: %v", err)
				return
			}
		}
	}()
	defer stopWorkload()

	pool := x509.NewCertPool()
	ca, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + addr
	call := func(method, path, auth, ctype, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		code, body := call("GET", "/status", "", "", "")
		if code == 200 && strings.Contains(body, `"state": "streaming"`) {
			break
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("the stream did not start streaming: %d %s\n%s", code, body, logs.String())
		}
	}
	// Plain HTTP is not served on the TLS port.
	if resp, err := http.Get("http://" + addr + "/status"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP answered 200 on the HTTPS port")
		}
	}
	// A non-loopback bind: POSTs need the token, from loopback too.
	for _, c := range []struct{ auth, ctype, want string }{
		{"", "application/json", "401"},
		{"Bearer wrong-token-0123456789", "application/json", "401"},
		{"Basic " + token, "application/json", "401"},
		{"Bearer " + token, "text/plain", "415"},
	} {
		code, body := call("POST", "/snapshot/pause", c.auth, c.ctype, "{}")
		if fmt.Sprint(code) != c.want {
			t.Errorf("POST /snapshot/pause with Authorization %q, Content-Type %s: %d %s, want %s", c.auth, c.ctype, code, body, c.want)
		}
	}
	if code, body := call("POST", "/snapshot", "", "application/json", `{"tables":["w.big"]}`); code != 401 {
		t.Errorf("POST /snapshot without the token: %d %s", code, body)
	}
	if code, body := call("GET", "/status", "", "", ""); code != 200 || strings.Contains(body, `"table": "w.big"`) || strings.Contains(body, `"snapshot_paused": true`) {
		t.Errorf("after refused requests: %d %s", code, body)
	}

	// The CLI speaks the same API: HTTPS through SSL_CERT_FILE, actions
	// with the token from the environment.
	cli := func(env []string, args ...string) (int, string) {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), append([]string{"SSL_CERT_FILE=" + certs.CA, "BINTAP_HTTP_TOKEN="}, env...)...)
		out, err := c.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		return 0, string(out)
	}
	if code, out := cli(nil, "snapshot", "--http", base, "--pause"); code != 1 || !strings.Contains(out, "--http-token") {
		t.Errorf("bintap snapshot --pause without the token: exit %d, %s", code, out)
	}
	if code, out := cli(nil, "snapshot", "--http", base, "--pause", "--table", "w.big"); code != 2 || !strings.Contains(out, "--table goes only with --stop") {
		t.Errorf("bintap snapshot --pause --table: exit %d, %s", code, out)
	}
	if code, out := cli([]string{"BINTAP_HTTP_TOKEN=" + token}, "snapshot", "--http", base, "--pause"); code != 0 || !strings.Contains(out, "incremental snapshots paused") {
		t.Errorf("bintap snapshot --pause with the token: exit %d, %s", code, out)
	}
	if code, out := cli(nil, "status", "--http", base); code != 0 || !strings.Contains(out, "incremental snapshots are paused") || !strings.Contains(out, "WARN http: refused") {
		t.Errorf("bintap status over HTTPS: exit %d, %s", code, out)
	}
	if code, out := cli([]string{"BINTAP_HTTP_TOKEN=" + token}, "snapshot", "--http", base, "--resume"); code != 0 || !strings.Contains(out, "incremental snapshots resumed") {
		t.Errorf("bintap snapshot --resume with the token: exit %d, %s", code, out)
	}

	if _, err := os.Stat(chromiumPath()); err != nil {
		t.Skipf("no Chromium at %s (make setup installs Debian's chromium): %v", chromiumPath(), err)
	}
	if _, err := os.Stat(filepath.Join(browserDir, "node_modules", "playwright-core")); err != nil {
		t.Skipf("playwright-core is not installed in %s (make setup runs npm ci there): %v", browserDir, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (make setup installs nodejs)")
	}
	artifacts := os.Getenv("BINTAP_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join("..", "..", "bin", "test-artifacts")
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	artifacts, _ = filepath.Abs(artifacts)
	browse := func(mode string) {
		t.Helper()
		script := exec.Command(node, "dashboard.mjs")
		script.Dir = browserDir
		script.Env = append(os.Environ(), "BINTAP_URL="+base, "BINTAP_TOKEN="+token, "WORKLOAD_TABLE=w.busy", "SNAPSHOT_TABLE=w.big",
			"ARTIFACTS="+artifacts, "CHROMIUM="+chromiumPath(), "MODE="+mode)
		out, err := script.CombinedOutput()
		t.Logf("browser %s:\n%s", mode, out)
		if err != nil {
			t.Fatalf("dashboard in Chromium: %v\nbintap log:\n%s", err, logs.String())
		}
	}
	browse("")

	// The API agrees with what the page showed: w.big was read whole.
	code, body := call("GET", "/status", "", "", "")
	var st Status
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("status: %d %s", code, body)
	}
	var found bool
	for _, p := range st.Snapshots {
		if p.Kind == "incremental" && p.Table == "w.big" {
			found = true
			if !p.Done || p.Rows < 60000 {
				t.Errorf("incremental snapshot of w.big: %+v, want done with 60000 rows or more", p)
			}
		}
	}
	if !found || !st.TokenRequired || st.Role != "single" {
		t.Errorf("status: snapshot found %v, token_required %v, role %q\n%s", found, st.TokenRequired, st.Role, body)
	}
	// Stopping it (here from the CLI) drops it from the status.
	if code, out := cli([]string{"BINTAP_HTTP_TOKEN=" + token}, "snapshot", "--http", base, "--stop", "--table", "w.big"); code != 0 || !strings.Contains(out, "stopped: w.big") {
		t.Errorf("bintap snapshot --stop --table w.big: exit %d, %s", code, out)
	}
	if _, body := call("GET", "/status", "", "", ""); strings.Contains(body, `"table": "w.big"`) {
		t.Errorf("w.big is still in the status after its snapshot was stopped:\n%s", body)
	}
	refused := false
	for _, n := range st.Notices {
		refused = refused || strings.Contains(n.Message, "refused a request without the right token")
	}
	if !refused {
		t.Errorf("the refused requests are not among the notices: %+v", st.Notices)
	}

	// No secret in a page, an API answer or the log.
	var pages []string
	for _, p := range []string{"/", "/assets/dashboard.js", "/assets/dashboard.css", "/status", "/history", "/metrics", "/healthz"} {
		code, body := call("GET", p, "", "", "")
		if code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
		pages = append(pages, body)
	}
	for i, text := range append(pages, logs.String()) {
		for _, secret := range []string{password, token} {
			if strings.Contains(text, secret) {
				t.Errorf("a secret appears in %d (pages, then the log):\n%s", i, text)
			}
		}
	}

	// The source stops: the page says retrying, and why.
	stopWorkload()
	s.Stop()
	browse("source-down")
	t.Logf("screenshots in %s: dashboard.png (1280x800, full page, streaming, snapshot done), dashboard-phone.png (390x844), dashboard-source-down.png", artifacts)
}

// TestListenErrors: missing TLS files and a taken port are errors naming
// them.
func TestListenErrors(t *testing.T) {
	_, err := Listen(Options{Addr: "127.0.0.1:0", TLSCert: "/nonexistent.pem", TLSKey: "/nonexistent.key", Status: func() Status { return Status{} }})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent.pem") {
		t.Errorf("Listen with missing TLS files: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	if _, err := Listen(Options{Addr: ln.Addr().String(), Status: func() Status { return Status{} }}); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("Listen on a taken port: %v", err)
	}
}
