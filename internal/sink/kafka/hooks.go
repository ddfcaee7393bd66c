package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// hooks watch the connections to the brokers: an unreachable broker is
// logged (at most every outageLogEvery while it lasts) and retried by kgo;
// a refused login or a TLS mismatch is permanent and stops the output.
type hooks struct{ d *Destination }

const outageLogEvery = 10 * time.Second

var _ kgo.HookBrokerConnect = hooks{}

func (h hooks) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	d := h.d
	addr := net.JoinHostPort(meta.Host, fmt.Sprint(meta.Port))
	if err == nil {
		d.mu.Lock()
		since, was := d.down[addr]
		delete(d.down, addr)
		d.mu.Unlock()
		if was {
			d.log.Info("Kafka broker reachable again", "broker", addr, "down_for", time.Since(since).Round(time.Second).String())
		}
		return
	}
	if perm := permanentConnectError(err); perm != nil {
		d.fail(fmt.Errorf("kafka: broker %s: %w", addr, perm))
		return
	}
	d.mu.Lock()
	if _, was := d.down[addr]; !was {
		d.down[addr] = time.Now()
	}
	since := d.down[addr]
	logNow := time.Since(d.lastDownLog) >= outageLogEvery
	if logNow {
		d.lastDownLog = time.Now()
	}
	d.mu.Unlock()
	if logNow && d.o.SASL != nil && errors.Is(err, io.EOF) {
		d.log.Warn("Kafka broker closed the connection during login; retrying"+saslHint, "broker", addr, "down_for", time.Since(since).Round(time.Second).String())
	} else if logNow {
		d.log.Warn("Kafka broker unreachable; holding messages and retrying", "broker", addr, "down_for", time.Since(since).Round(time.Second).String(), "err", err)
	}
}

// permanentConnectError returns the error with advice when retrying cannot
// help: bad credentials or a TLS setup that does not match the broker.
func permanentConnectError(err error) error {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var rerr tls.RecordHeaderError
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return fmt.Errorf("SASL login refused: %w (check kafka_sasl_mechanism, kafka_sasl_user and kafka_sasl_password)", err)
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr):
		return fmt.Errorf("TLS: the broker's certificate is not trusted: %w (set kafka_tls_ca to the CA that signed it)", err)
	case errors.As(err, &rerr):
		return fmt.Errorf("TLS handshake failed: %w (is this broker listener TLS? kafka_tls must match it)", err)
	}
	return nil
}

// Status is what a status page shows about the Kafka output.
type Status struct {
	// Down lists the brokers that cannot be reached, with since when.
	Down map[string]time.Time
	// Buffered counts the messages produced but not yet acknowledged.
	Buffered int64
	// Position is the last position stored in Kafka.
	Position string
}

// Status reports the brokers that are down and what is held meanwhile. It
// is safe to call from any goroutine.
func (d *Destination) Status() any { return d.status() }

func (d *Destination) status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{Down: make(map[string]time.Time, len(d.down)), Buffered: d.cl.BufferedProduceRecords()}
	for b, t := range d.down {
		s.Down[b] = t
	}
	if d.durable.File != "" {
		s.Position = d.durable.String()
	}
	return s
}

// Health is the output's state for the status page (pipeline.Reporter):
// "failed" after a permanent error, "retrying" while a broker is down.
func (d *Destination) Health() (string, error) {
	if err := d.err(); err != nil {
		return "failed", err
	}
	st := d.status()
	if len(st.Down) == 0 {
		return "ok", nil
	}
	down := make([]string, 0, len(st.Down))
	for b, since := range st.Down {
		down = append(down, fmt.Sprintf("%s since %s", b, since.UTC().Format(time.RFC3339)))
	}
	sort.Strings(down)
	return "retrying", fmt.Errorf("broker unreachable: %s; %d messages held", strings.Join(down, ", "), st.Buffered)
}
