// Package webpushsvc stands in for a browser's push service in tests: an
// HTTPS server that checks each request as a push service does (the VAPID
// JWT of RFC 8292, aes128gcm of RFC 8291) and decrypts the payload with
// the subscription's private key, as the browser would.
package webpushsvc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald"
)

// browser is a subscription's private side: what a browser keeps to
// decrypt what its push service hands it.
type Browser struct {
	key  *ecdh.PrivateKey
	auth []byte
}

// NewBrowser makes a subscription to endpoint, and the browser's side of it.
func NewBrowser(t testing.TB, endpoint string) (*Browser, herald.WebPushSubscription) {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return &Browser{key: k, auth: auth}, herald.WebPushSubscription{Endpoint: endpoint,
		Keys: herald.WebPushKeys{P256dh: base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), Auth: base64.RawURLEncoding.EncodeToString(auth)}}
}

// Decrypt undoes RFC 8291's aes128gcm as a browser does: one record.
func (b *Browser) Decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idlen || rs < 18 {
		return nil, errors.New("bad header")
	}
	asPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, fmt.Errorf("sender key: %w", err)
	}
	shared, err := b.key.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), b.key.PublicKey().Bytes()...), asPub.Bytes()...)
	ikm, err := hkdf.Key(sha256.New, shared, b.auth, string(info), 32)
	if err != nil {
		return nil, err
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, nonce, body[21+idlen:], nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	// The last record ends with 0x02, then padding zeros.
	i := bytes.LastIndexByte(plain, 2)
	if i < 0 || len(bytes.Trim(plain[i+1:], "\x00")) != 0 {
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:i], nil
}

// Service checks a request as a push service does (RFC 8030, 8292) and
// hands the subscription's browser what it decrypts.
type Service struct {
	T testing.TB
	// Browsers decrypt what comes for their endpoint's path.
	mu       sync.Mutex
	browsers map[string]*Browser
	Got      chan Push
	// Status and Header are the answer (201 by default).
	Status  int
	Header  http.Header
	Subject string // the VAPID sub claim expected
	// Delay is how long each answer waits (a slow push service).
	Delay time.Duration
}

// Push is one push as its browser decrypted it.
type Push struct {
	Path    string
	Payload []byte
	TTL     string
	Urgency string
	Topic   string
}

func (p *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := p.check(r); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		p.T.Errorf("push service: %v", err)
		return
	}
	p.mu.Lock()
	status, header, delay := p.Status, p.Header, p.Delay
	p.mu.Unlock()
	select {
	case <-time.After(delay):
	case <-r.Context().Done():
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	if status == 0 {
		status = http.StatusCreated
	}
	w.WriteHeader(status)
}

func (p *Service) check(r *http.Request) error {
	if r.Method != http.MethodPost || r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("TTL") == "" {
		return fmt.Errorf("method %s, Content-Encoding %q, TTL %q", r.Method, r.Header.Get("Content-Encoding"), r.Header.Get("TTL"))
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "vapid ")
	if !ok {
		return fmt.Errorf("the Authorization header %q is not vapid", r.Header.Get("Authorization"))
	}
	var tok, k string
	for _, part := range strings.Split(auth, ",") {
		name, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "t":
			tok = v
		case "k":
			k = v
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil || len(raw) != 65 {
		return fmt.Errorf("k=%q: not a P-256 public key", k)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return fmt.Errorf("k=: %w", err)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithExpirationRequired()); err != nil {
		return fmt.Errorf("VAPID JWT: %w", err)
	}
	origin := "https://" + r.Host
	if claims["aud"] != origin {
		return fmt.Errorf("aud %v, want %s", claims["aud"], origin)
	}
	exp, _ := claims.GetExpirationTime()
	if exp == nil || time.Until(exp.Time) > 24*time.Hour {
		return fmt.Errorf("exp %v: more than 24 hours away (RFC 8292)", exp)
	}
	if sub, _ := claims["sub"].(string); sub != p.Subject {
		return fmt.Errorf("sub %q", sub)
	}
	p.mu.Lock()
	b := p.browsers[r.URL.Path]
	p.mu.Unlock()
	if b == nil {
		return fmt.Errorf("no subscription at %s", r.URL.Path)
	}
	body, _ := io.ReadAll(r.Body)
	plain, err := b.Decrypt(body)
	if err != nil {
		return fmt.Errorf("%s: %w", r.URL.Path, err)
	}
	p.Got <- Push{Path: r.URL.Path, Payload: plain, TTL: r.Header.Get("TTL"), Urgency: r.Header.Get("Urgency"), Topic: r.Header.Get("Topic")}
	return nil
}

// Start starts a push service expecting VAPID subject sub.
func Start(t testing.TB, subject string) (*Service, *httptest.Server) {
	t.Helper()
	p := &Service{T: t, browsers: map[string]*Browser{}, Got: make(chan Push, 64), Subject: subject}
	srv := httptest.NewTLSServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}

// Subscribe makes a browser's subscription at path on srv.
func (p *Service) Subscribe(srv *httptest.Server, path string) herald.WebPushSubscription {
	p.T.Helper()
	b, sub := NewBrowser(p.T, srv.URL+path)
	p.mu.Lock()
	p.browsers[path] = b
	p.mu.Unlock()
	return sub
}

// Answer sets the status (and headers) of the answers from now on.
func (p *Service) Answer(status int, header http.Header) {
	p.mu.Lock()
	p.Status, p.Header = status, header
	p.mu.Unlock()
}
