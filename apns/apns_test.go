package apns

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const deviceToken = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

// apple stands in for APNs: HTTP/2 only, the provider token checked as
// Apple does (ES256 by the team's key, kid and iss), then the headers.
type apple struct {
	t      *testing.T
	key    *ecdsa.PublicKey
	mu     sync.Mutex
	got    []*http.Request
	bodies []map[string]any
	status int
	reason string
}

func (a *apple) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := a.check(r); err != nil {
		a.t.Errorf("apns: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	a.mu.Lock()
	a.got, a.bodies = append(a.got, r), append(a.bodies, body)
	a.mu.Unlock()
	w.Header().Set("apns-id", "7e4b5a52-0000-0000-0000-000000000001")
	w.WriteHeader(a.status)
	if a.reason != "" {
		fmt.Fprintf(w, `{"reason":%q}`, a.reason)
	}
}

func (a *apple) check(r *http.Request) error {
	if r.ProtoMajor != 2 {
		return fmt.Errorf("HTTP/%d.%d: APNs speaks HTTP/2 only", r.ProtoMajor, r.ProtoMinor)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/3/device/"+deviceToken {
		return fmt.Errorf("%s %s", r.Method, r.URL.Path)
	}
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "bearer ")
	if !ok {
		return fmt.Errorf("the Authorization header %q", r.Header.Get("Authorization"))
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(bearer, claims, func(*jwt.Token) (any, error) { return a.key, nil }, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil {
		return fmt.Errorf("provider token: %w", err)
	}
	if tok.Header["kid"] != "KEY1234567" || claims["iss"] != "TEAM123456" {
		return fmt.Errorf("kid %v iss %v", tok.Header["kid"], claims["iss"])
	}
	if iat, _ := claims.GetIssuedAt(); iat == nil || time.Since(iat.Time) > time.Hour {
		return fmt.Errorf("iat %v: APNs refuses a token older than an hour", iat)
	}
	if r.Header.Get("apns-topic") != "com.example.app" || r.Header.Get("apns-push-type") != "alert" {
		return fmt.Errorf("apns-topic %q apns-push-type %q", r.Header.Get("apns-topic"), r.Header.Get("apns-push-type"))
	}
	return nil
}

func newApple(t *testing.T) (*apple, *Sender, *httptest.Server) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	a := &apple{t: t, key: &k.PublicKey, status: http.StatusOK}
	srv := httptest.NewUnstartedServer(a)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s, err := New(Key{P8: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), KeyID: "KEY1234567", TeamID: "TEAM123456"},
		Options{Production: srv.URL, Sandbox: srv.URL, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return a, s, srv
}

func TestSendThroughAPNs(t *testing.T) {
	a, s, _ := newApple(t)
	ctx := context.Background()
	m := Message{Token: deviceToken, Topic: "com.example.app", Title: "Hi", Body: "from Herald", Data: map[string]any{"id": "m1"},
		CollapseID: "score", TTL: time.Hour, Priority: "high"}
	if r, err := s.Send(ctx, m); err != nil || r.Status != 200 || r.Gone {
		t.Fatalf("send: %+v %v", r, err)
	}
	req, body := a.got[0], a.bodies[0]
	exp, _ := strconv.ParseInt(req.Header.Get("apns-expiration"), 10, 64)
	if req.Header.Get("apns-collapse-id") != "score" || req.Header.Get("apns-priority") != "10" || exp < time.Now().Add(59*time.Minute).Unix() {
		t.Fatalf("headers: %v", req.Header)
	}
	alert := body["aps"].(map[string]any)["alert"].(map[string]any)
	if alert["title"] != "Hi" || alert["body"] != "from Herald" || body["id"] != "m1" {
		t.Fatalf("payload: %v", body)
	}

	for _, c := range []struct {
		status int
		reason string
		check  func(Result) bool
	}{
		{410, "Unregistered", func(r Result) bool { return r.Gone }},
		{400, "BadDeviceToken", func(r Result) bool { return r.Gone }},
		{403, "InvalidProviderToken", func(r Result) bool { return r.AuthFailed && !r.Gone }},
		{429, "TooManyRequests", func(r Result) bool { return r.RetryAfter > 0 && !r.Gone }},
		{400, "BadCollapseId", func(r Result) bool { return !r.Gone && !r.AuthFailed && r.RetryAfter == 0 }},
	} {
		a.status, a.reason = c.status, c.reason
		r, err := s.Send(ctx, Message{Token: deviceToken, Topic: "com.example.app", Environment: "sandbox", Title: "x"})
		if err != nil || r.Status != c.status || r.Reason != c.reason || !c.check(r) {
			t.Errorf("%d %s: %+v %v", c.status, c.reason, r, err)
		}
	}
}

func TestNewChecksTheKey(t *testing.T) {
	if _, err := New(Key{P8: []byte("not a key"), KeyID: "K", TeamID: "T"}, Options{}); err == nil {
		t.Fatal("a key that is no key")
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	if _, err := New(Key{P8: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}, Options{}); err == nil {
		t.Fatal("a key without its key ID and team ID")
	}
}
