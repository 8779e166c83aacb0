// Package tlsfiles serves TLS from a certificate and key file pair that is
// read again when it changes, so a renewed certificate (certbot, a
// cert-manager secret) is picked up without a restart.
package tlsfiles

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/heraldpush/herald/internal/watched"
)

// checkEvery bounds how often the files' modification times are looked at
// (on handshakes only: an idle server does no work).
const checkEvery = 5 * time.Second

// Pair is a certificate and key loaded from files. A changed pair that does
// not load (the certificate written before its key) keeps the old one in
// service until it does.
type Pair struct {
	files *watched.File[*tls.Certificate]
}

// Load reads the pair; a pair that does not load is an error at start.
func Load(certFile, keyFile string) (*Pair, error) {
	f, err := watched.Load("TLS certificate", checkEvery, func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		return &c, nil
	}, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &Pair{files: f}, nil
}

// Certificate returns the current certificate, reloading the files when
// they changed.
func (p *Pair) Certificate() *tls.Certificate { return p.files.Get() }

// Config is a server TLS config (TLS 1.2 and up) serving the pair.
func (p *Pair) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return p.Certificate(), nil
		},
	}
}
