package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/apns"
	"github.com/heraldpush/herald/collect"
	"github.com/heraldpush/herald/fcm"
	"github.com/heraldpush/herald/internal/egress"
)

// pushOptions are the push providers' settings: the credentials of each
// one used, and where its service is (settings, so that tests and proxies
// can stand in).
type pushOptions struct {
	fcmCredentials, fcmEndpoint, fcmTokenURL string
	apnsKey, apnsKeyID, apnsTeamID           string
	apnsHost, apnsSandboxHost                string
	caFile                                   string
	vapid                                    vapidOptions
}

func (o *pushOptions) register(f *flags) {
	o.vapid.register(f)
	f.str(&o.fcmCredentials, "fcm-credentials-file", "a Firebase service account's JSON key file: devices registered with provider fcm are pushed through FCM")
	f.str(&o.fcmEndpoint, "fcm-endpoint", "FCM's base URL (default https://fcm.googleapis.com)")
	f.str(&o.fcmTokenURL, "fcm-token-url", "the OAuth2 token endpoint (default the service account's token_uri)")
	f.str(&o.apnsKey, "apns-key-file", "the team's APNs token-signing key (.p8): devices registered with provider apns are pushed through APNs")
	f.str(&o.apnsKeyID, "apns-key-id", "the .p8 key's key ID")
	f.str(&o.apnsTeamID, "apns-team-id", "the Apple developer team ID")
	f.str(&o.apnsHost, "apns-host", "APNs's production base URL (default https://api.push.apple.com)")
	f.str(&o.apnsSandboxHost, "apns-sandbox-host", "APNs's sandbox base URL (default https://api.sandbox.push.apple.com)")
	f.str(&o.caFile, "push-ca-file", "PEM file of CA certificates trusted, besides the system's, for the push services (a private one, or a test's)")
}

// providers checks the settings and makes the providers set up; the Web
// Push one's requests pass policy, as every URL that comes from outside
// does. dataDir: herald all's, where its VAPID keys are made.
func (o *pushOptions) providers(policy *egress.Policy, dataDir string) (map[string]collect.Provider, string, error) {
	const timeout = 15 * time.Second
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, "", fmt.Errorf("--push-ca-file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("--push-ca-file %s: no PEM certificate in it", o.caFile)
		}
	}
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	out := map[string]collect.Provider{}

	web := policy.Client(timeout)
	web.Transport.(*http.Transport).TLSClientConfig = tlsConfig
	wp, err := o.vapid.sender(dataDir, web)
	if err != nil {
		return nil, "", err
	}
	public := ""
	if wp != nil {
		out[herald.ProviderWebPush] = collect.WebPushProvider(wp)
		public = wp.PublicKey()
	}
	// FCM and APNs are at configured addresses: trusted settings, plain
	// clients (HTTP/2, which APNs requires).
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true,
		MaxIdleConns: 16, IdleConnTimeout: 90 * time.Second}}
	if o.fcmCredentials != "" {
		b, err := os.ReadFile(o.fcmCredentials)
		if err != nil {
			return nil, "", fmt.Errorf("--fcm-credentials-file: %w", err)
		}
		sa, err := fcm.ParseServiceAccount(b)
		if err != nil {
			return nil, "", fmt.Errorf("--fcm-credentials-file: %w", err)
		}
		s, err := fcm.New(sa, fcm.Options{Endpoint: o.fcmEndpoint, TokenURL: o.fcmTokenURL, Client: client})
		if err != nil {
			return nil, "", err
		}
		out[herald.ProviderFCM] = collect.FCMProvider(s)
	}
	if o.apnsKey != "" {
		p8, err := os.ReadFile(o.apnsKey)
		if err != nil {
			return nil, "", fmt.Errorf("--apns-key-file: %w", err)
		}
		s, err := apns.New(apns.Key{P8: p8, KeyID: o.apnsKeyID, TeamID: o.apnsTeamID},
			apns.Options{Production: o.apnsHost, Sandbox: o.apnsSandboxHost, Client: client})
		if err != nil {
			return nil, "", fmt.Errorf("--apns-*: %w", err)
		}
		out[herald.ProviderAPNs] = collect.APNsProvider(s)
	}
	return out, public, nil
}
