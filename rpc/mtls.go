package rpc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/heraldpush/herald/internal/tlsfiles"
)

// Cluster is how Herald's processes prove themselves to each other: the
// cluster secret on every call, and optionally mutual TLS, where each
// process presents a certificate signed by the cluster's CA and accepts
// only peers that do.
type Cluster struct {
	Secret string
	TLS    *MTLS // nil: plaintext on a trusted network
}

// MTLS is a process's certificate (reloaded when its files change) and the
// cluster's CA.
type MTLS struct {
	pair *tlsfiles.Pair
	cas  *x509.CertPool
}

// LoadMTLS reads the certificate, key and CA files; all three or none.
func LoadMTLS(certFile, keyFile, caFile string) (*MTLS, error) {
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, errors.New("cluster mTLS needs a certificate, its key and the cluster CA")
	}
	pair, err := tlsfiles.Load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	cas := x509.NewCertPool()
	if !cas.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster CA %s: no certificate in it", caFile)
	}
	return &MTLS{pair: pair, cas: cas}, nil
}

// verify accepts a peer whose certificate chains to the cluster CA. Node
// addresses come and go (IPs of pods), so the peer's name is not checked:
// being signed by the cluster's CA is the identity.
func (m *MTLS) verify(usage x509.ExtKeyUsage) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("peer sent no certificate")
		}
		leaf, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		inter := x509.NewCertPool()
		for _, r := range raw[1:] {
			if c, err := x509.ParseCertificate(r); err == nil {
				inter.AddCert(c)
			}
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: m.cas, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
}

func (m *MTLS) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		GetCertificate:        func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return m.pair.Certificate(), nil },
		ClientAuth:            tls.RequireAnyClientCert, // verified below, against the cluster CA
		VerifyPeerCertificate: m.verify(x509.ExtKeyUsageClientAuth),
	}
}

func (m *MTLS) clientConfig() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return m.pair.Certificate(), nil },
		// The standard check would also match the server's name; the
		// cluster CA is the identity (verify), so only that check runs.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: m.verify(x509.ExtKeyUsageServerAuth),
	}
}

func (c Cluster) serverOption() grpc.ServerOption {
	if c.TLS == nil {
		return grpc.EmptyServerOption{}
	}
	return grpc.Creds(credentials.NewTLS(c.TLS.serverConfig()))
}

func (c Cluster) dialOption() grpc.DialOption {
	if c.TLS == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(c.TLS.clientConfig()))
}
