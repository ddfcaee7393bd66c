package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/bintap/bintap/internal/config"
)

// Tunnel carries connections to the source through an SSH server (--ssh).
// It dials the SSH server on first use and again after the SSH connection
// is lost: the source's reconnect loop (with its backoff) re-dials it.
type Tunnel struct {
	cfg     config.SSH
	client  *ssh.ClientConfig
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	conn   *ssh.Client
	closed bool
}

// TunnelError is a fault of the SSH tunnel that retrying cannot fix: a host
// key that is unknown or changed, a refused key.
type TunnelError struct{ Err error }

func (e *TunnelError) Error() string { return e.Err.Error() }
func (e *TunnelError) Unwrap() error { return e.Err }

// NewTunnel reads the key and the known hosts; it dials nothing yet.
func NewTunnel(s config.SSH, timeout time.Duration, log *slog.Logger) (*Tunnel, error) {
	raw, err := os.ReadFile(s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--ssh-key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(raw)
	if _, encrypted := errors.AsType[*ssh.PassphraseMissingError](err); encrypted {
		if s.Passphrase == "" {
			return nil, fmt.Errorf("--ssh-key %s is encrypted: give its passphrase in BINTAP_SSH_KEY_PASSPHRASE", s.KeyFile)
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(raw, []byte(s.Passphrase))
	}
	if err != nil {
		return nil, fmt.Errorf("--ssh-key %s: %v (an OpenSSH or PEM private key is accepted)", s.KeyFile, err)
	}
	check, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("--ssh-known-hosts %s: %v (the SSH server's host key is checked against it: add the key with ssh-keyscan -p %d %s >> %s after comparing its fingerprint)",
			s.KnownHosts, err, s.Port, s.Host, s.KnownHosts)
	}
	hostKey := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		if ke, ok := errors.AsType[*knownhosts.KeyError](err); ok {
			fp := ssh.FingerprintSHA256(key)
			if len(ke.Want) == 0 {
				return &TunnelError{fmt.Errorf("the SSH server %s presented a host key that is not in %s: %s key %s. "+
					"If that is the server's key, add it (ssh-keyscan -p %d %s >> %s) and start again",
					s.Addr(), s.KnownHosts, key.Type(), fp, s.Port, s.Host, s.KnownHosts)}
			}
			return &TunnelError{fmt.Errorf("the SSH server %s presented a host key that differs from the one in %s (line %d): %s key %s. "+
				"The server may have been replaced, or someone is intercepting the connection: check before updating the file",
				s.Addr(), s.KnownHosts, ke.Want[0].Line, key.Type(), fp)}
		}
		return err
	}
	return &Tunnel{
		cfg: s, timeout: timeout, log: log,
		client: &ssh.ClientConfig{
			User:            s.User,
			Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: hostKey,
			Timeout:         timeout,
		},
	}, nil
}

// sshClient returns the SSH connection, dialling it when there is none.
func (t *Tunnel) sshClient(ctx context.Context) (*ssh.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("the SSH tunnel is closed")
	}
	if t.conn != nil {
		return t.conn, nil
	}
	d := net.Dialer{Timeout: t.timeout, KeepAlive: 15 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.cfg.Addr())
	if err != nil {
		return nil, fmt.Errorf("cannot reach the SSH server %s (check --ssh): %w", t.cfg.Addr(), err)
	}
	deadline := time.Now().Add(t.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = nc.SetDeadline(deadline)
	c, chans, reqs, err := ssh.NewClientConn(nc, t.cfg.Addr(), t.client)
	if err != nil {
		nc.Close()
		if te, ok := errors.AsType[*TunnelError](err); ok {
			return nil, te
		}
		if msg := err.Error(); strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "no supported methods remain") {
			return nil, &TunnelError{fmt.Errorf("the SSH server %s refused user %s with the key %s: %v", t.cfg.Addr(), t.cfg.User, t.cfg.KeyFile, err)}
		}
		return nil, fmt.Errorf("SSH handshake with %s: %w", t.cfg.Addr(), err)
	}
	_ = nc.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	t.conn = client
	t.log.Info("SSH tunnel open", "ssh_server", t.cfg.Addr(), "user", t.cfg.User)
	go t.keepAlive(client)
	go func() {
		err := client.Wait()
		t.mu.Lock()
		if t.conn == client {
			t.conn = nil
		}
		closed := t.closed
		t.mu.Unlock()
		if !closed {
			t.log.Warn("SSH tunnel closed; it is re-dialled with the next connection", "ssh_server", t.cfg.Addr(), "err", err)
		}
	}()
	return client, nil
}

// keepAlive asks the SSH server for a reply every third of the timeout and
// closes the connection when none comes, so that a dead tunnel is noticed.
func (t *Tunnel) keepAlive(c *ssh.Client) {
	tick := time.NewTicker(t.timeout / 3)
	defer tick.Stop()
	for range tick.C {
		t.mu.Lock()
		current := t.conn == c
		t.mu.Unlock()
		if !current {
			return
		}
		done := make(chan error, 1)
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				c.Close()
				return
			}
		case <-time.After(t.timeout):
			c.Close()
			return
		}
	}
}

// DialContext opens a connection to addr from the SSH server.
func (t *Tunnel) DialContext(ctx context.Context, _, addr string) (net.Conn, error) {
	c, err := t.sshClient(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := c.DialContext(ctx, "tcp", addr)
	if err != nil {
		if _, refused := errors.AsType[*ssh.OpenChannelError](err); !refused {
			c.Close() // the tunnel itself failed: dial it again next time
		}
		return nil, fmt.Errorf("through the SSH tunnel %s to %s: %w", t.cfg.Addr(), addr, err)
	}
	return pipe(ch), nil
}

// pipe bridges an SSH channel to a net.Conn that supports deadlines (an SSH
// channel has none, and the database drivers set them).
func pipe(ch net.Conn) net.Conn {
	local, remote := net.Pipe()
	var once sync.Once
	stop := func() { once.Do(func() { ch.Close(); remote.Close() }) }
	go func() { _, _ = io.Copy(remote, ch); stop() }()
	go func() { _, _ = io.Copy(ch, remote); stop() }()
	return &tunnelConn{Conn: local, remote: ch}
}

// tunnelConn is the local end of a tunnelled connection; its addresses are
// those of the SSH channel.
type tunnelConn struct {
	net.Conn
	remote net.Conn
}

func (c *tunnelConn) RemoteAddr() net.Addr { return c.remote.RemoteAddr() }

// Close ends the SSH connection.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.conn != nil {
		err := t.conn.Close()
		t.conn = nil
		return err
	}
	return nil
}
