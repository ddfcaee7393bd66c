package testutil

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHD is a private OpenSSH server (Debian's openssh-server) started as a
// process for a test: its own host key, a random port on 127.0.0.1, and one
// authorized client key for the current user. TCP forwarding is allowed, so
// it serves as the bastion of an SSH tunnel.
type SSHD struct {
	Port int
	User string
	// KeyFile is the client's private key (OpenSSH format, no passphrase);
	// EncryptedKeyFile is the same key encrypted with Passphrase.
	KeyFile, EncryptedKeyFile, Passphrase string
	// KnownHosts is a known_hosts file that holds the server's host key;
	// HostKeyFingerprint is its SHA256 fingerprint.
	KnownHosts, HostKeyFingerprint string
	// OtherKeyFile is a key the server does not accept.
	OtherKeyFile string

	dir  string
	args []string
	cmd  *exec.Cmd
	done chan error
	t    testing.TB
}

// NewSSHD starts a private sshd; it stops when the test ends. The test is
// skipped when openssh-server is not installed (make setup installs it).
func NewSSHD(t testing.TB) *SSHD {
	t.Helper()
	bin := "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("sshd not found: install openssh-server (make setup does)")
	}
	// OpenSSH refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Skipf("sshd needs /run/sshd: %v", err)
	}
	dir := t.TempDir()
	s := &SSHD{dir: dir, t: t, User: currentUser(), Passphrase: "tunnel passphrase"}
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func(passphrase string) (ssh.PublicKey, []byte, []byte) {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		block, err := ssh.MarshalPrivateKey(priv, "bintap test")
		if err != nil {
			t.Fatal(err)
		}
		var enc []byte
		if passphrase != "" {
			eb, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "bintap test", []byte(passphrase))
			if err != nil {
				t.Fatal(err)
			}
			enc = pem.EncodeToMemory(eb)
		}
		sp, err := ssh.NewPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return sp, pem.EncodeToMemory(block), enc
	}
	hostPub, hostPriv, _ := newKey("")
	hostKey := write("host_ed25519_key", hostPriv, 0o600)
	clientPub, clientPriv, clientEnc := newKey(s.Passphrase)
	s.KeyFile = write("id_ed25519", clientPriv, 0o600)
	s.EncryptedKeyFile = write("id_ed25519_encrypted", clientEnc, 0o600)
	_, otherPriv, _ := newKey("")
	s.OtherKeyFile = write("id_other", otherPriv, 0o600)
	auth := write("authorized_keys", ssh.MarshalAuthorizedKey(clientPub), 0o600)
	s.HostKeyFingerprint = ssh.FingerprintSHA256(hostPub)

	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if s.Port, err = FreePort(); err != nil {
			t.Fatal(err)
		}
		conf := write("sshd_config", []byte(strings.Join([]string{
			"Port " + strconv.Itoa(s.Port),
			"ListenAddress 127.0.0.1",
			"HostKey " + hostKey,
			"AuthorizedKeysFile " + auth,
			"PidFile " + filepath.Join(dir, "sshd.pid"),
			"PubkeyAuthentication yes",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"UsePAM no",
			"StrictModes no",
			"PermitRootLogin prohibit-password",
			"AllowTcpForwarding yes",
			"ClientAliveInterval 0",
			"LogLevel DEBUG1",
			"",
		}, "\n")), 0o600)
		s.KnownHosts = write("known_hosts", []byte(knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, hostPub)+"\n"), 0o600)
		s.args = []string{"-D", "-e", "-f", conf}
		if err = s.start(bin); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("start sshd: %v", err)
	return nil
}

// Addr is "127.0.0.1:port".
func (s *SSHD) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Spec is the --ssh value: USER@127.0.0.1:PORT.
func (s *SSHD) Spec() string { return s.User + "@" + s.Addr() }

// Log is what sshd wrote (its log goes to stderr with -e).
func (s *SSHD) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "sshd.log"))
	return string(b)
}

func (s *SSHD) start(bin string) error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "sshd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = exec.Command(bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan error, 1)
	go func(c *exec.Cmd, done chan error) { done <- c.Wait() }(s.cmd, s.done)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.cmd = nil
			return fmt.Errorf("sshd exited: %v\n%s", err, tail(s.Log(), 2000))
		case <-time.After(50 * time.Millisecond):
		}
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err != nil {
			continue
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		banner, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err == nil && strings.HasPrefix(banner, "SSH-") {
			return nil
		}
	}
	s.Stop()
	return fmt.Errorf("sshd did not answer in 20s\n%s", tail(s.Log(), 2000))
}

// Stop kills sshd and the session processes it forked (they leave its
// process group), which cuts every tunnel through it at once.
func (s *SSHD) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGSTOP) // no new sessions while the children are found
	for _, c := range descendants(pid) {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// descendants are the processes below pid, read from /proc.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				parent[p] = pp
			}
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// Restart starts a stopped sshd again on the same port with the same keys.
func (s *SSHD) Restart() {
	s.t.Helper()
	if err := s.start("/usr/sbin/sshd"); err != nil {
		s.t.Fatal(err)
	}
}
