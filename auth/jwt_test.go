package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

const secret = "0123456789abcdef0123456789abcdef"

func mustJWT(t *testing.T) *JWT {
	t.Helper()
	j, err := NewJWT(secret)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestShortSecretRefused(t *testing.T) {
	if _, err := NewJWT("short"); err == nil {
		t.Fatal("a secret under 32 bytes must be refused")
	}
}

func TestVerify(t *testing.T) {
	j := mustJWT(t)
	now := time.Now()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, err := j.Mint("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	body := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"alice","exp":` + jwtNum(now.Add(time.Hour)) + `}`))
	cases := []struct {
		name  string
		token string
		ok    bool
	}{
		{"minted", good, true},
		{"empty", "", false},
		{"garbage", "not.a.token", false},
		{"expired", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a", "exp": now.Add(-time.Minute).Unix()}), false},
		{"no exp", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a"}), false},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(time.Hour).Unix()}), false},
		{"other secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix()}), false},
		{"HS512", sign(t, jwt.SigningMethodHS512, []byte(secret), jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix()}), false},
		{"ES256", sign(t, jwt.SigningMethodES256, ec, jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix()}), false},
		{"alg none", header + "." + body + ".", false},
		{"bad sub", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"sub": "a b", "exp": now.Add(time.Hour).Unix()}), false},
		{"no sub", sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := j.Verify(context.Background(), tc.token)
			if tc.ok {
				if err != nil || id.User != "alice" || id.ExpiresAt.Before(now) {
					t.Fatalf("Verify = %+v, %v", id, err)
				}
				return
			}
			if !errors.Is(err, herald.ErrUnauthorized) {
				t.Fatalf("Verify = %+v, %v; want ErrUnauthorized", id, err)
			}
		})
	}
}

func jwtNum(t time.Time) string { return jwt.NewNumericDate(t).String() }

func TestMintRefusesBadInput(t *testing.T) {
	j := mustJWT(t)
	if _, err := j.Mint("", time.Hour); herald.ErrorCode(err) != herald.EInvalid {
		t.Errorf("empty user: %v", err)
	}
	if _, err := j.Mint("a", MaxTTL+time.Second); herald.ErrorCode(err) != herald.EInvalid {
		t.Errorf("ttl over the max: %v", err)
	}
}

func TestClientCachesAndFailsOver(t *testing.T) {
	j := mustJWT(t)
	mux := http.NewServeMux()
	Register(mux, j, j, httpx.SingleKey("key"))
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // refuses connections

	c := NewClient([]string{dead.URL, srv.URL}, time.Minute)
	tok, _ := j.Mint("bob", time.Hour)
	for range 3 {
		id, err := c.Verify(context.Background(), tok)
		if err != nil || id.User != "bob" {
			t.Fatalf("Verify = %+v, %v", id, err)
		}
	}
	if calls != 1 {
		t.Errorf("auth service called %d times, want 1 (then cached)", calls)
	}
	if _, err := c.Verify(context.Background(), tok+"x"); !errors.Is(err, herald.ErrUnauthorized) {
		t.Errorf("bad token: %v", err)
	}
	none := NewClient([]string{dead.URL}, time.Minute)
	if _, err := none.Verify(context.Background(), tok); !errors.Is(err, herald.ErrUnavailable) || strings.Contains(err.Error(), tok) {
		t.Errorf("no auth service: %v (want ErrUnavailable, without the token in the text)", err)
	}
}

func TestTopicsClaim(t *testing.T) {
	j, err := NewJWT(strings.Repeat("s", 32))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := j.MintTopics("alice", time.Minute, []string{"news", "team:42:*"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := j.Verify(context.Background(), tok)
	if err != nil || !slices.Equal(id.Topics, []string{"news", "team:42:*"}) {
		t.Fatalf("Verify: %+v %v", id, err)
	}
	for _, bad := range [][]string{{"a b"}, {"#x"}, {"x*y"}, {""}} {
		if _, err := j.MintTopics("alice", time.Minute, bad); err == nil {
			t.Errorf("MintTopics(%q) accepted", bad)
		}
	}
	if _, err := j.MintTopics("alice", time.Minute, []string{"*"}); err != nil {
		t.Errorf("* refused: %v", err)
	}
}
