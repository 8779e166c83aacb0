package apns

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv/providersvc"
)

const deviceToken = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

func newApple(t *testing.T) (*providersvc.Apple, *Sender, *httptest.Server) {
	t.Helper()
	a, p8, srv := providersvc.NewApple(t)
	s, err := New(Key{P8: p8, KeyID: "KEY1234567", TeamID: "TEAM123456"}, Options{Production: srv.URL, Sandbox: srv.URL, Client: srv.Client()})
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
	req, body := a.Got[0], a.Bodies[0]
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
		a.Lock()
		a.Status, a.Reason = c.status, c.reason
		a.Unlock()
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
