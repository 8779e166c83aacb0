// Package tlsfiles serves TLS from a certificate and key file pair that is
// read again when it changes, so a renewed certificate (certbot, a
// cert-manager secret) is picked up without a restart.
package tlsfiles

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// checkEvery bounds how often the files' modification times are looked at
// (on handshakes only: an idle server does no work).
const checkEvery = 5 * time.Second

// Pair is a certificate and key loaded from files.
type Pair struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	mods    [2]time.Time
	checked time.Time
	now     func() time.Time
}

// Load reads the pair; a pair that does not load is an error at start.
func Load(certFile, keyFile string) (*Pair, error) {
	p := &Pair{certFile: certFile, keyFile: keyFile, now: time.Now}
	if err := p.load(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Pair) load() error {
	c, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	mods, err := p.modTimes()
	if err != nil {
		return err
	}
	p.cert, p.mods, p.checked = &c, mods, p.now()
	return nil
}

func (p *Pair) modTimes() ([2]time.Time, error) {
	var m [2]time.Time
	for i, f := range []string{p.certFile, p.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return m, fmt.Errorf("tls: %w", err)
		}
		m[i] = st.ModTime()
	}
	return m, nil
}

// Certificate returns the current certificate, reloading the files when
// they changed. A changed pair that does not load (the certificate written
// before its key) is logged and the old one kept until the next check.
func (p *Pair) Certificate() *tls.Certificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.now().Sub(p.checked) < checkEvery {
		return p.cert
	}
	p.checked = p.now()
	if mods, err := p.modTimes(); err == nil && mods != p.mods {
		old := p.cert
		if err := p.load(); err != nil {
			p.cert = old
			slog.Warn("TLS files changed but do not load; serving the old certificate", "cert", p.certFile, "err", err)
		} else {
			slog.Info("TLS certificate reloaded", "cert", p.certFile)
		}
	}
	return p.cert
}

// Config is a server TLS config (TLS 1.2 and up) serving the pair.
func (p *Pair) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return p.Certificate(), nil
		},
	}
}
