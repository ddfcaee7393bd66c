package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/bintap/bintap/internal/sink"
)

// SSL modes of a source connection (bintrail's names, which are MySQL's
// --ssl-mode in lower case with verify-full for VERIFY_IDENTITY).
const (
	SSLDisabled   = "disabled"    // plain connection
	SSLPreferred  = "preferred"   // TLS when the server offers it, plain otherwise (the default)
	SSLRequired   = "required"    // TLS; the certificate is not checked
	SSLVerifyCA   = "verify-ca"   // TLS; the certificate must chain to ssl-ca (or the system roots)
	SSLVerifyFull = "verify-full" // as verify-ca, and the certificate must name the host
)

// sourceParams maps each query parameter a source URL accepts to its
// canonical name: bintrail's ssl-mode, ssl-ca, ssl-cert and ssl-key (also
// with '_'), and bintap's earlier tls, ca, cert and key.
var sourceParams = map[string]string{
	"ssl-mode": "ssl-mode", "ssl_mode": "ssl-mode", "tls": "ssl-mode",
	"ssl-ca": "ssl-ca", "ssl_ca": "ssl-ca", "ca": "ssl-ca",
	"ssl-cert": "ssl-cert", "ssl_cert": "ssl-cert", "cert": "ssl-cert",
	"ssl-key": "ssl-key", "ssl_key": "ssl-key", "key": "ssl-key",
}

// modeAliases are the earlier tls= values, kept working.
var modeAliases = map[string]string{"off": SSLDisabled, "verify-identity": SSLVerifyFull}

// sourceTLS reads the TLS settings of a source URL's query parameters:
//
//	ssl-mode=disabled     plain connection
//	ssl-mode=preferred    TLS when the server offers it, else plain (the default)
//	ssl-mode=required     TLS, the server certificate is not checked
//	ssl-mode=verify-ca    TLS, the certificate must chain to ssl-ca (or the system roots)
//	ssl-mode=verify-full  as verify-ca, and the certificate must name the host
//	ssl-ca=FILE           PEM CA bundle (alone, it means verify-ca)
//	ssl-cert=FILE, ssl-key=FILE: a client certificate
//
// It returns the mode and the TLS configuration (nil when disabled); the
// configuration's ServerName is left empty: it is set per host (TLSFor).
func sourceTLS(q url.Values) (string, *tls.Config, error) {
	got := map[string]string{}
	var keys []string
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, ok := sourceParams[k]
		if !ok {
			return "", nil, fmt.Errorf("unknown parameter %q: accepted parameters are ssl-mode, ssl-ca, ssl-cert and ssl-key (also tls, ca, cert and key)", k)
		}
		if _, dup := got[name]; dup {
			return "", nil, fmt.Errorf("parameter %q is given twice (under another name): give %s once", k, name)
		}
		got[name] = q.Get(k)
	}
	mode, explicit := strings.ToLower(got["ssl-mode"]), got["ssl-mode"] != ""
	if a, ok := modeAliases[mode]; ok {
		mode = a
	}
	ca, cert, key := got["ssl-ca"], got["ssl-cert"], got["ssl-key"]
	if !explicit {
		mode = SSLPreferred
		if ca != "" {
			mode = SSLVerifyCA // a CA given is a CA to check against
		}
	}
	if err := sink.OneOf(mode, SSLDisabled, SSLPreferred, SSLRequired, SSLVerifyCA, SSLVerifyFull); err != nil {
		return "", nil, fmt.Errorf("ssl-mode=%s: %v", got["ssl-mode"], err)
	}
	if mode == SSLDisabled {
		if ca != "" || cert != "" || key != "" {
			return "", nil, errors.New("ssl-ca, ssl-cert and ssl-key need TLS: they do not go with ssl-mode=disabled")
		}
		return mode, nil, nil
	}
	if ca != "" && (mode == SSLPreferred || mode == SSLRequired) {
		return "", nil, fmt.Errorf("ssl-ca is checked only with ssl-mode=verify-ca or verify-full, not %s: set one of them (or drop ssl-mode: ssl-ca alone means verify-ca)", mode)
	}
	if (cert == "") != (key == "") {
		return "", nil, errors.New("ssl-cert and ssl-key go together: give both or neither")
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	var roots *x509.CertPool
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return "", nil, fmt.Errorf("ssl-ca: %v", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return "", nil, fmt.Errorf("ssl-ca: %s holds no PEM certificate", ca)
		}
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return "", nil, fmt.Errorf("ssl-cert/ssl-key: %v", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	switch mode {
	case SSLPreferred, SSLRequired:
		c.InsecureSkipVerify = true
	case SSLVerifyCA:
		// Verify the chain but not the name: Go has no such mode, so the
		// built-in check is off and VerifyPeerCertificate does the chain.
		c.InsecureSkipVerify = true
		c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the server sent no certificate")
			}
			certs := make([]*x509.Certificate, len(raw))
			for i, r := range raw {
				var err error
				if certs[i], err = x509.ParseCertificate(r); err != nil {
					return err
				}
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, ic := range certs[1:] {
				opts.Intermediates.AddCert(ic)
			}
			_, err := certs[0].Verify(opts)
			return err
		}
	case SSLVerifyFull:
		c.RootCAs = roots
	}
	return mode, c, nil
}

// TLSFor is the TLS configuration of a connection to host (nil: plain), and
// whether the connection may fall back to plain text when the server offers
// no TLS (ssl-mode=preferred).
func (s Source) TLSFor(host string) (*tls.Config, bool) {
	if s.TLS == nil {
		return nil, false
	}
	c := s.TLS.Clone()
	c.ServerName = host
	return c, s.SSLMode == SSLPreferred
}
