package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/bintap/bintap/internal/sink"
)

// sourceParams are the query parameters a source URL accepts.
var sourceParams = map[string]bool{"tls": true, "ca": true, "cert": true, "key": true}

// sourceTLS builds the TLS configuration of a source URL from its query
// parameters:
//
//	tls=off             plain connection (the default)
//	tls=required        encrypted, the server certificate is not checked
//	tls=verify-ca       encrypted, the certificate must chain to ca (or the system roots)
//	tls=verify-identity as verify-ca, and the certificate must name the host
//	ca=FILE             PEM CA bundle; cert=FILE and key=FILE: a client certificate
//
// The modes are those of MySQL's --ssl-mode.
func sourceTLS(host string, q url.Values) (*tls.Config, error) {
	for k := range q {
		if !sourceParams[k] {
			return nil, fmt.Errorf("unknown parameter %q: accepted parameters are tls, ca, cert and key", k)
		}
	}
	mode := q.Get("tls")
	if mode == "" {
		mode = "off"
	}
	if err := sink.OneOf(mode, "off", "required", "verify-ca", "verify-identity"); err != nil {
		return nil, fmt.Errorf("tls=%s: %v", mode, err)
	}
	ca, cert, key := q.Get("ca"), q.Get("cert"), q.Get("key")
	if mode == "off" {
		if ca != "" || cert != "" || key != "" {
			return nil, errors.New("ca, cert and key need tls=required, verify-ca or verify-identity")
		}
		return nil, nil
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("cert and key go together: give both or neither")
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	var roots *x509.CertPool
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("ca: %v", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca: %s holds no PEM certificate", ca)
		}
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("cert/key: %v", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	switch mode {
	case "required":
		c.InsecureSkipVerify = true
	case "verify-ca":
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
	case "verify-identity":
		c.RootCAs = roots
	}
	return c, nil
}
