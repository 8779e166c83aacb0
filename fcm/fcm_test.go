package fcm

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// google stands in for Google's token endpoint and FCM: it checks the
// JWT-bearer assertion as Google does (RS256 by the account's key, its
// issuer, scope, audience and lifetime), hands out an access token, and
// takes messages only with that token.
type google struct {
	t      *testing.T
	key    *rsa.PublicKey
	email  string
	grants atomic.Int32
	mu     sync.Mutex
	sent   []map[string]any
	answer func(w http.ResponseWriter) // the FCM answer; nil: 200
	url    string
	// refuses: a test expects grants to be refused (no test error).
	refuses bool
}

func (g *google) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/token":
		if err := g.grant(r); err != nil {
			if !g.refuses {
				g.t.Errorf("token grant: %v", err)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		g.grants.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"at-1","expires_in":3600,"token_type":"Bearer"}`))
	case "/v1/projects/herald-test/messages:send":
		if r.Header.Get("Authorization") != "Bearer at-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		g.sent = append(g.sent, body)
		g.mu.Unlock()
		if g.answer != nil {
			g.answer(w)
			return
		}
		w.Write([]byte(`{"name":"projects/herald-test/messages/1"}`))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (g *google) grant(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	if gt := r.PostForm.Get("grant_type"); gt != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		return fmt.Errorf("grant_type %q", gt)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(r.PostForm.Get("assertion"), claims, func(*jwt.Token) (any, error) { return g.key, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt()); err != nil {
		return err
	}
	if claims["iss"] != g.email || claims["scope"] != Scope || claims["aud"] != g.url+"/token" {
		return fmt.Errorf("claims %v", claims)
	}
	exp, _ := claims.GetExpirationTime()
	if time.Until(exp.Time) > time.Hour+time.Minute {
		return fmt.Errorf("an assertion for more than an hour: %v", exp)
	}
	return nil
}

func newGoogle(t *testing.T) (*google, ServiceAccount, *httptest.Server) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	g := &google{t: t, key: &key.PublicKey, email: "herald@herald-test.iam.gserviceaccount.com"}
	srv := httptest.NewTLSServer(g)
	t.Cleanup(srv.Close)
	g.url = srv.URL
	file, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "herald-test", "private_key_id": "k1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": g.email,
		"token_uri": srv.URL + "/token"})
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
	if n := g.grants.Load(); n != 1 {
		t.Fatalf("%d token grants for 3 sends; the token is cached", n)
	}
	msg := g.sent[0]["message"].(map[string]any)
	android := msg["android"].(map[string]any)
	headers := msg["apns"].(map[string]any)["headers"].(map[string]any)
	if msg["token"] != "tok-1" || msg["notification"].(map[string]any)["title"] != "Hi" || msg["data"].(map[string]any)["id"] != "m1" ||
		android["collapse_key"] != "score" || android["ttl"] != "3600s" || android["priority"] != "HIGH" ||
		headers["apns-collapse-id"] != "score" || headers["apns-priority"] != "10" {
		t.Fatalf("the message FCM got: %v", msg)
	}

	g.answer = func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`))
	}
	if r, err := s.Send(ctx, m); err != nil || !r.Gone || r.Reason != "UNREGISTERED" {
		t.Fatalf("unregistered: %+v %v", r, err)
	}
	g.answer = func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"errorCode":"QUOTA_EXCEEDED"}]}}`))
	}
	if r, err := s.Send(ctx, m); err != nil || r.Gone || r.RetryAfter != 30*time.Second || r.Reason != "QUOTA_EXCEEDED" {
		t.Fatalf("quota: %+v %v", r, err)
	}
	g.answer = func(w http.ResponseWriter) { w.WriteHeader(http.StatusForbidden) }
	if r, err := s.Send(ctx, m); err != nil || !r.AuthFailed {
		t.Fatalf("403: %+v %v", r, err)
	}
}

// A key Google does not know: the grant is refused, which says the
// credentials are wrong (not the message).
func TestRefusedGrantIsAnAuthFailure(t *testing.T) {
	g, sa, srv := newGoogle(t)
	g.refuses = true
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
