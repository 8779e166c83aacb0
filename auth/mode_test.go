package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

func signKID(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claimsFor(user string, extra map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": user, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func writePEM(t *testing.T, path string, pub any) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func refused(t *testing.T, v herald.Authenticator, name, tok string) {
	t.Helper()
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, herald.ErrUnauthorized) {
		t.Errorf("%s: err %v, want unauthorized", name, err)
	}
}

func accepted(t *testing.T, v herald.Authenticator, name, tok, user string) {
	t.Helper()
	id, err := v.Verify(context.Background(), tok)
	if err != nil || id.User != user {
		t.Errorf("%s: %+v %v, want %s", name, id, err, user)
	}
}

// RS256 with a key file: iss and aud checked, no other algorithm gets in
// (HS256 keyed with the public key, none, ES256), and a replaced file is
// picked up without a restart.
func TestPublicKeyFile(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	file := filepath.Join(t.TempDir(), "pub.pem")
	writePEM(t, file, &rsaKey.PublicKey)
	rules := ClaimRules{Issuer: "https://shop.example", Audience: "herald"}
	k, err := NewKeys(context.Background(), file, "", 0, rules)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{"iss": "https://shop.example", "aud": "herald"}
	accepted(t, k, "RS256", signKID(t, jwt.SigningMethodRS256, rsaKey, "", claimsFor("alice", good)), "alice")
	refused(t, k, "wrong iss", signKID(t, jwt.SigningMethodRS256, rsaKey, "", claimsFor("alice", map[string]any{"iss": "evil", "aud": "herald"})))
	refused(t, k, "wrong aud", signKID(t, jwt.SigningMethodRS256, rsaKey, "", claimsFor("alice", map[string]any{"iss": "https://shop.example", "aud": "other"})))
	refused(t, k, "no aud", signKID(t, jwt.SigningMethodRS256, rsaKey, "", claimsFor("alice", map[string]any{"iss": "https://shop.example"})))
	pemBytes, _ := os.ReadFile(file)
	refused(t, k, "HS256 keyed with the public key", signKID(t, jwt.SigningMethodHS256, pemBytes, "", claimsFor("alice", good)))
	refused(t, k, "ES256 with another key", signKID(t, jwt.SigningMethodES256, ecKey, "", claimsFor("alice", good)))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claimsFor("alice", good)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	refused(t, k, "alg none", none)
	expired := claimsFor("alice", good)
	expired["exp"] = time.Now().Add(-time.Minute).Unix()
	refused(t, k, "expired", signKID(t, jwt.SigningMethodRS256, rsaKey, "", expired))

	// Rotation: the file now holds the EC key.
	writePEM(t, file, &ecKey.PublicKey)
	future := time.Now().Add(time.Minute) // past the file check interval
	os.Chtimes(file, future, future)
	k.pem.Now = func() time.Time { return future }
	accepted(t, k, "ES256 after rotation", signKID(t, jwt.SigningMethodES256, ecKey, "", claimsFor("bob", good)), "bob")
	refused(t, k, "old RSA key after rotation", signKID(t, jwt.SigningMethodRS256, rsaKey, "", claimsFor("alice", good)))
}

func jwk(kid string, pub any) map[string]string {
	b := func(i *big.Int) string { return base64.RawURLEncoding.EncodeToString(i.Bytes()) }
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "n": b(p.N), "e": b(big.NewInt(int64(p.E)))}
	case *ecdsa.PublicKey:
		pt, _ := p.Bytes() // 0x04 || X || Y
		enc := base64.RawURLEncoding.EncodeToString
		return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": enc(pt[1:33]), "y": enc(pt[33:])}
	}
	panic("key type")
}

// JWKS: keys by kid, a new kid is fetched on first sight (rotation without
// a restart), and made-up kids do not make Herald hammer the URL.
func TestJWKS(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k3, _ := rsa.GenerateKey(rand.Reader, 2048)
	var keys atomic.Value
	keys.Store([]map[string]string{jwk("one", &k1.PublicKey), jwk("two", &k2.PublicKey)})
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"keys": keys.Load()})
	}))
	defer srv.Close()
	k, err := NewKeys(context.Background(), "", srv.URL, 0, ClaimRules{})
	if err != nil {
		t.Fatal(err)
	}
	accepted(t, k, "kid one (RS256)", signKID(t, jwt.SigningMethodRS256, k1, "one", claimsFor("alice", nil)), "alice")
	accepted(t, k, "kid two (ES256)", signKID(t, jwt.SigningMethodES256, k2, "two", claimsFor("bob", nil)), "bob")
	refused(t, k, "kid one's name, key two's signature", signKID(t, jwt.SigningMethodES256, k2, "one", claimsFor("alice", nil)))

	// The business system rotates in key three.
	keys.Store([]map[string]string{jwk("two", &k2.PublicKey), jwk("three", &k3.PublicKey)})
	k.mu.Lock()
	k.lastFetch = time.Time{}
	k.mu.Unlock()
	before := fetches.Load()
	accepted(t, k, "kid three after rotation", signKID(t, jwt.SigningMethodRS256, k3, "three", claimsFor("carol", nil)), "carol")
	refused(t, k, "retired kid one", signKID(t, jwt.SigningMethodRS256, k1, "one", claimsFor("alice", nil)))
	for range 20 {
		refused(t, k, "made-up kid", signKID(t, jwt.SigningMethodRS256, k1, "nope", claimsFor("alice", nil)))
	}
	if n := fetches.Load() - before; n != 1 {
		t.Fatalf("%d JWKS fetches for one rotation and 21 unknown kids, want 1", n)
	}
}

// External mode: the business system's endpoint decides, with a timeout
// (unavailable, not unauthorized) and a cache.
func TestExternal(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req VerifyRequest
		json.NewDecoder(r.Body).Decode(&req)
		switch req.Token {
		case "good-alice":
			json.NewEncoder(w).Encode(map[string]any{"user": "alice", "expires_at": time.Now().Add(time.Hour).Unix()})
		case "slow":
			time.Sleep(500 * time.Millisecond)
		case "bad-user":
			json.NewEncoder(w).Encode(map[string]any{"user": "not a valid id!"})
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	v, minter, err := New(context.Background(), Options{VerifyURL: srv.URL + "/herald/verify", VerifyTimeout: 100 * time.Millisecond, CacheTTL: time.Minute})
	if err != nil || minter != nil {
		t.Fatalf("New: %v, minter %v", err, minter)
	}
	accepted(t, v, "good", "good-alice", "alice")
	accepted(t, v, "good, cached", "good-alice", "alice")
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls for two verifications of one token", n)
	}
	refused(t, v, "refused", "forged")
	for _, tok := range []string{"slow", "bad-user"} {
		_, err := v.Verify(context.Background(), tok)
		if err == nil || errors.Is(err, herald.ErrUnauthorized) {
			t.Errorf("%s: %v, want an unavailable error (not the token's fault)", tok, err)
		}
	}

	// The auth service in external mode answers 503 for those, and mints nothing.
	mux := http.NewServeMux()
	Register(mux, v, nil, httpx.SingleKey("key"))
	api := httptest.NewServer(mux)
	defer api.Close()
	for path, want := range map[string]int{"/v1/verify": 503, "/v1/tokens": 404} {
		body := `{"token":"slow"}`
		if path == "/v1/tokens" {
			body = `{"user":"alice"}`
		}
		req, _ := http.NewRequest("POST", api.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
