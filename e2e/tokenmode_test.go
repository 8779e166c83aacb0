package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// herald all in ES256 mode with a key file, iss and aud: the business
// system's tokens connect, Herald's own minting is off, and an HS256 token
// (the default mode's) is refused.
func TestAllWithPublicKey(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	dir := t.TempDir()
	file := filepath.Join(dir, "shop.pem")
	os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	n := startAll(t, filepath.Join(dir, "data"), testenv.FreePort(t, "127.0.0.1"),
		"--jwt-public-key", file, "--jwt-issuer", "shop", "--jwt-audience", "herald")

	mint := func(iss string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"sub": "alice", "iss": iss, "aud": "herald", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ws := probe.MustDialWS(t, n.ws, mint("shop"), "", nil)
	if ws.Hello.User != "alice" || ws.Hello.Expires == 0 {
		t.Fatalf("hello %+v", ws.Hello)
	}
	if _, err := probe.DialWS(t, n.ws, mint("elsewhere"), "", nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong issuer: %v", err)
	}
	if code, _ := n.api.Do(t, "POST", "/v1/tokens", map[string]string{"user": "alice"}); code != 404 {
		t.Fatalf("minting in ES256 mode: %d, want 404", code)
	}
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(strings.Repeat("s", 32)))
	if _, err := probe.DialWS(t, n.ws, hs, "", nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("HS256 token in ES256 mode: %v", err)
	}
}

// Named API keys with scopes on herald all: a send-only key sends, and gets
// a JSON 403 for history, admin and disconnect.
func TestAllWithNamedKeys(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.yaml")
	os.WriteFile(keys, []byte("keys:\n  - {name: shop, key: shop-send-only-key-1, scopes: [send]}\n"), 0o600)
	n := startAll(t, filepath.Join(dir, "data"), testenv.FreePort(t, "127.0.0.1"), "--api-keys-file", keys)
	shop := probe.API{Base: n.api.Base, Key: "shop-send-only-key-1"}
	if code, body := shop.Do(t, "POST", "/v1/messages", map[string]any{"users": []string{"alice"}, "payload": 1}); code != 202 {
		t.Fatalf("send: %d %s", code, body)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/users/alice/messages"}, {"GET", "/v1/admin/nodes"}, {"POST", "/v1/users/alice/disconnect"}, {"POST", "/v1/tokens"},
	} {
		code, body := shop.Do(t, c.method, c.path, nil)
		if code != 403 || !strings.Contains(string(body), `"forbidden"`) || !strings.Contains(string(body), "shop") {
			t.Errorf("%s %s with a send-only key: %d %s", c.method, c.path, code, body)
		}
	}
	// The generated default key still has every scope.
	if code, body := n.api.Do(t, "GET", "/v1/admin/nodes", nil); code != 200 {
		t.Fatalf("default key: %d %s", code, body)
	}
}
