// Package providersvc stands in for FCM (with Google's OAuth2 token
// endpoint) and APNs in tests: local HTTPS servers (HTTP/2 for APNs) that
// check what the real services check, the OAuth2 assertion and bearer
// token, the APNs provider token and headers, and record what they got.
package providersvc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
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

// Google stands in for Google's token endpoint and FCM: it checks the
// JWT-bearer assertion as Google does (RS256 by the account's key, its
// issuer, scope, audience and lifetime), hands out an access token, and
// takes messages only with that token.
type Google struct {
	T          testing.TB
	key        *rsa.PublicKey
	email      string
	Grants     atomic.Int32
	sync.Mutex // guards the fields below it
	Sent       []map[string]any
	Answer     func(w http.ResponseWriter) // the FCM answer; nil: 200
	url        string
	// refuses: a test expects grants to be refused (no test error).
	Refuses bool
}

func (g *Google) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/token":
		if err := g.grant(r); err != nil {
			if !g.Refuses {
				g.T.Errorf("token grant: %v", err)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		g.Grants.Add(1)
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
		g.Lock()
		g.Sent = append(g.Sent, body)
		answer := g.Answer
		g.Unlock()
		if answer != nil {
			answer(w)
			return
		}
		w.Write([]byte(`{"name":"projects/herald-test/messages/1"}`))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (g *Google) grant(r *http.Request) error {
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
	if claims["iss"] != g.email || claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging" || claims["aud"] != g.url+"/token" {
		return fmt.Errorf("claims %v", claims)
	}
	exp, _ := claims.GetExpirationTime()
	if time.Until(exp.Time) > time.Hour+time.Minute {
		return fmt.Errorf("an assertion for more than an hour: %v", exp)
	}
	return nil
}

// NewGoogle starts the stand-in and returns it, a service account's JSON
// key file for it, and its server.
func NewGoogle(t testing.TB) (*Google, []byte, *httptest.Server) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	g := &Google{T: t, key: &key.PublicKey, email: "herald@herald-test.iam.gserviceaccount.com"}
	srv := httptest.NewTLSServer(g)
	t.Cleanup(srv.Close)
	g.url = srv.URL
	file, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "herald-test", "private_key_id": "k1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": g.email,
		"token_uri": srv.URL + "/token"})
	return g, file, srv
}

// Apple stands in for APNs: HTTP/2 only, the provider token checked as
// Apple does (ES256 by the team's key, kid and iss), then the headers.
type Apple struct {
	T          testing.TB
	key        *ecdsa.PublicKey
	sync.Mutex // guards the fields below it
	Got        []*http.Request
	Bodies     []map[string]any
	Status     int
	Reason     string
}

func (a *Apple) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := a.check(r); err != nil {
		a.T.Errorf("apns: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	a.Lock()
	a.Got, a.Bodies = append(a.Got, r), append(a.Bodies, body)
	status, reason := a.Status, a.Reason
	a.Unlock()
	w.Header().Set("apns-id", "7e4b5a52-0000-0000-0000-000000000001")
	w.WriteHeader(status)
	if reason != "" {
		fmt.Fprintf(w, `{"reason":%q}`, reason)
	}
}

func (a *Apple) check(r *http.Request) error {
	if r.ProtoMajor != 2 {
		return fmt.Errorf("HTTP/%d.%d: APNs speaks HTTP/2 only", r.ProtoMajor, r.ProtoMinor)
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/3/device/") {
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

// NewApple starts the stand-in and returns it, the team's .p8 key (key
// ID KEY1234567, team TEAM123456) and its server.
func NewApple(t testing.TB) (*Apple, []byte, *httptest.Server) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	a := &Apple{T: t, key: &k.PublicKey, Status: http.StatusOK}
	srv := httptest.NewUnstartedServer(a)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return a, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), srv
}
