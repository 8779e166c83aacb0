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
	ws := testenv.MustDialWS(t, n.ws, mint("shop"), "", nil)
	if ws.Hello.User != "alice" || ws.Hello.Expires == 0 {
		t.Fatalf("hello %+v", ws.Hello)
	}
	if _, err := testenv.DialWS(t, n.ws, mint("elsewhere"), "", nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong issuer: %v", err)
	}
	if code, _ := n.api.Do(t, "POST", "/v1/tokens", map[string]string{"user": "alice"}); code != 404 {
		t.Fatalf("minting in ES256 mode: %d, want 404", code)
	}
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(strings.Repeat("s", 32)))
	if _, err := testenv.DialWS(t, n.ws, hs, "", nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("HS256 token in ES256 mode: %v", err)
	}
}
