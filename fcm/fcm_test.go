package fcm

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv/providersvc"
)

func newGoogle(t *testing.T) (*providersvc.Google, ServiceAccount, *httptest.Server) {
	t.Helper()
	g, file, srv := providersvc.NewGoogle(t)
	sa, err := ParseServiceAccount(file)
	if err != nil {
		t.Fatal(err)
	}
	return g, sa, srv
}

func TestSendThroughFCM(t *testing.T) {
	g, sa, srv := newGoogle(t)
	s, err := New(sa, Options{Endpoint: srv.URL, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := Message{Token: "tok-1", Title: "Hi", Body: "from Herald", Data: map[string]string{"id": "m1"}, CollapseKey: "score", TTL: time.Hour, Priority: "high"}
	for range 3 {
		if r, err := s.Send(ctx, m); err != nil || r.Status != 200 || r.Gone || r.AuthFailed {
			t.Fatalf("send: %+v %v", r, err)
		}
	}
	if n := g.Grants.Load(); n != 1 {
		t.Fatalf("%d token grants for 3 sends; the token is cached", n)
	}
	msg := g.Sent[0]["message"].(map[string]any)
	android := msg["android"].(map[string]any)
	headers := msg["apns"].(map[string]any)["headers"].(map[string]any)
	if msg["token"] != "tok-1" || msg["notification"].(map[string]any)["title"] != "Hi" || msg["data"].(map[string]any)["id"] != "m1" ||
		android["collapse_key"] != "score" || android["ttl"] != "3600s" || android["priority"] != "HIGH" ||
		headers["apns-collapse-id"] != "score" || headers["apns-priority"] != "10" {
		t.Fatalf("the message FCM got: %v", msg)
	}

	answer(g, func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`))
	})
	if r, err := s.Send(ctx, m); err != nil || !r.Gone || r.Reason != "UNREGISTERED" {
		t.Fatalf("unregistered: %+v %v", r, err)
	}
	answer(g, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"errorCode":"QUOTA_EXCEEDED"}]}}`))
	})
	if r, err := s.Send(ctx, m); err != nil || r.Gone || r.RetryAfter != 30*time.Second || r.Reason != "QUOTA_EXCEEDED" {
		t.Fatalf("quota: %+v %v", r, err)
	}
	answer(g, func(w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) })
	if r, err := s.Send(ctx, m); err != nil || !r.AuthFailed {
		t.Fatalf("403: %+v %v", r, err)
	}
}

// A key Google does not know: the grant is refused, which says the
// credentials are wrong (not the message).
func TestRefusedGrantIsAnAuthFailure(t *testing.T) {
	g, sa, srv := newGoogle(t)
	g.Refuses = true
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(other)
	sa.PrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	s, _ := New(sa, Options{Endpoint: srv.URL, Client: srv.Client()})
	r, err := s.Send(context.Background(), Message{Token: "t"})
	if err != nil || !r.AuthFailed || !strings.Contains(r.Reason, "invalid_grant") {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestParseServiceAccount(t *testing.T) {
	if _, err := ParseServiceAccount([]byte(`{"project_id":"p"}`)); err == nil {
		t.Fatal("an account without a key parsed")
	}
}

// answer sets what FCM answers from now on.
func answer(g *providersvc.Google, fn func(http.ResponseWriter)) {
	g.Lock()
	g.Answer = fn
	g.Unlock()
}
