package webpush

import (
	"bytes"
	"context"
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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

// browser is a subscription's private side: what a browser keeps to
// decrypt what its push service hands it.
type browser struct {
	key  *ecdh.PrivateKey
	auth []byte
}

func newBrowser(t *testing.T, endpoint string) (*browser, herald.WebPushSubscription) {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return &browser{key: k, auth: auth}, herald.WebPushSubscription{Endpoint: endpoint,
		Keys: herald.WebPushKeys{P256dh: b64(k.PublicKey().Bytes()), Auth: b64(auth)}}
}

// decrypt undoes RFC 8291's aes128gcm as a browser does: one record.
func (b *browser) decrypt(body []byte) ([]byte, error) {
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

// pushService checks a request as a push service does (RFC 8030, 8292)
// and hands the browser what it decrypts.
type pushService struct {
	t       *testing.T
	browser *browser
	got     chan []byte
	status  int
	header  http.Header
}

func (p *pushService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := p.check(r); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		p.t.Errorf("push service: %v", err)
		return
	}
	for k, v := range p.header {
		w.Header()[k] = v
	}
	w.WriteHeader(p.status)
}

func (p *pushService) check(r *http.Request) error {
	if r.Method != http.MethodPost || r.Header.Get("Content-Encoding") != "aes128gcm" || r.Header.Get("TTL") == "" {
		return fmt.Errorf("method %s, Content-Encoding %q, TTL %q", r.Method, r.Header.Get("Content-Encoding"), r.Header.Get("TTL"))
	}
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "vapid ")
	if !ok {
		return fmt.Errorf("Authorization %q: not vapid", r.Header.Get("Authorization"))
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
	if sub, _ := claims["sub"].(string); sub != "mailto:ops@example.com" {
		return fmt.Errorf("sub %q", sub)
	}
	body, _ := io.ReadAll(r.Body)
	plain, err := p.browser.decrypt(body)
	if err != nil {
		return err
	}
	p.got <- plain
	return nil
}

func TestSendIsWhatABrowserDecrypts(t *testing.T) {
	ps := &pushService{t: t, got: make(chan []byte, 4), status: http.StatusCreated}
	srv := httptest.NewTLSServer(ps)
	defer srv.Close()
	b, sub := newBrowser(t, srv.URL+"/push/abc")
	ps.browser = b
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSender(keys, "mailto:ops@example.com", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, payload := range [][]byte{[]byte(`{"title":"Hi","body":"from Herald"}`), bytes.Repeat([]byte("x"), MaxPayload)} {
		r, err := s.Send(ctx, sub, Message{Payload: payload, TTL: time.Hour, Urgency: "high", Topic: "score"})
		if err != nil || r.Status != http.StatusCreated || r.Gone {
			t.Fatalf("send %d bytes: %+v %v", len(payload), r, err)
		}
		if got := <-ps.got; !bytes.Equal(got, payload) {
			t.Fatalf("the browser decrypted %q", got)
		}
	}
	if _, err := s.Send(ctx, sub, Message{Payload: bytes.Repeat([]byte("x"), MaxPayload+1)}); err == nil {
		t.Fatal("a payload over one record was sent")
	}

	ps.status = http.StatusGone
	if r, err := s.Send(ctx, sub, Message{Payload: []byte("x")}); err != nil || !r.Gone {
		t.Fatalf("410: %+v %v", r, err)
	}
	<-ps.got
	ps.status, ps.header = http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}}
	if r, err := s.Send(ctx, sub, Message{Payload: []byte("x")}); err != nil || r.Gone || r.RetryAfter != 7*time.Second {
		t.Fatalf("429: %+v %v", r, err)
	}
	<-ps.got
}

func TestKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vapid.json")
	k, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreate(path)
	if err != nil || again != k {
		t.Fatalf("read back: %+v %v", again, err)
	}
	other, _ := GenerateKeys()
	if err := (Keys{Public: other.Public, Private: k.Private}).Check(); err == nil {
		t.Fatal("a mismatched pair passed")
	}
	for _, subject := range []string{"ops@example.com", "mailto:nobody", "http://example.com", "https://"} {
		if _, err := NewSender(k, subject, http.DefaultClient); err == nil {
			t.Errorf("subject %q taken", subject)
		}
	}
	if _, err := NewSender(k, "https://example.com/contact", http.DefaultClient); err != nil {
		t.Fatal(err)
	}
	if d := httpx.RetryAfter(time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat), time.Now()); d < 80*time.Second || d > 91*time.Second {
		t.Fatalf("Retry-After as a date: %v", d)
	}

}
