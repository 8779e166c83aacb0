package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald"
)

// RFC 7519 types of the claims, in every token mode: a NumericDate that is a
// string, a sub that is not a string, a topics claim that is not an array of
// strings each refuse the token, however well signed.
func TestClaimTypesInEveryMode(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	now := time.Now().Unix()
	cases := []struct {
		name  string
		extra map[string]any
		ok    bool
	}{
		{"well typed", map[string]any{"topics": []string{"news"}, "aud": []string{"herald"}}, true},
		{"aud a string", map[string]any{"aud": "herald"}, true},
		{"exp a string", map[string]any{"exp": strconv.FormatInt(exp, 10)}, false},
		{"exp a float", map[string]any{"exp": float64(exp) + 0.5}, true}, // a NumericDate may have a fraction
		{"exp null", map[string]any{"exp": nil}, false},
		{"exp an object", map[string]any{"exp": map[string]any{"n": exp}}, false},
		{"nbf a string", map[string]any{"nbf": strconv.FormatInt(now-10, 10)}, false},
		{"iat a string", map[string]any{"iat": strconv.FormatInt(now, 10)}, false},
		{"iat a bool", map[string]any{"iat": true}, false},
		{"sub a number", map[string]any{"sub": 42}, false},
		{"sub an array", map[string]any{"sub": []string{"alice"}}, false},
		{"topics a string", map[string]any{"topics": "news"}, false},
		{"topics of numbers", map[string]any{"topics": []any{1, 2}}, false},
		{"topics an object", map[string]any{"topics": map[string]any{"news": true}}, false},
		{"iss a number", map[string]any{"iss": 7}, false},
		{"aud of numbers", map[string]any{"aud": []any{1}}, false},
		{"jti an object", map[string]any{"jti": map[string]any{}}, false},
		{"another claim, any type", map[string]any{"role": 3}, true},
	}
	claims := func(extra map[string]any) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "iat": now, "exp": exp}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}

	secret := "0123456789abcdef0123456789abcdef"
	hs, _ := NewJWT(secret)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	file := filepath.Join(t.TempDir(), "pub.pem")
	writePEM(t, file, &rsaKey.PublicKey)
	pemMode, err := NewKeys(context.Background(), file, "", 0, ClaimRules{})
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{jwk("k", &ecKey.PublicKey)}})
	}))
	defer srv.Close()
	jwksMode, err := NewKeys(context.Background(), "", srv.URL, 0, ClaimRules{})
	if err != nil {
		t.Fatal(err)
	}
	modes := []struct {
		name string
		v    herald.Authenticator
		sign func(jwt.MapClaims) string
	}{
		{"HS256", hs, func(c jwt.MapClaims) string { return signKID(t, jwt.SigningMethodHS256, []byte(secret), "", c) }},
		{"RS256 key file", pemMode, func(c jwt.MapClaims) string { return signKID(t, jwt.SigningMethodRS256, rsaKey, "", c) }},
		{"ES256 JWKS", jwksMode, func(c jwt.MapClaims) string { return signKID(t, jwt.SigningMethodES256, ecKey, "k", c) }},
	}
	for _, m := range modes {
		for _, c := range cases {
			tok := m.sign(claims(c.extra))
			if c.ok {
				accepted(t, m.v, m.name+": "+c.name, tok, "alice")
			} else {
				refused(t, m.v, m.name+": "+c.name, tok)
			}
		}
	}
}
