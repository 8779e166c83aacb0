package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/watched"
)

// Keys verifies RS256 and ES256 tokens signed by the business system with
// its private key; Herald holds only public keys, from a PEM file (reloaded
// when the file changes) or a JWKS URL (fetched at start, refreshed every
// JWKSRefresh, and at once when a token names a key ID not yet known, at
// most every keyRefetchGap): keys rotate without a restart.
//
// Only RS256 and ES256 are accepted, and each only with a key of its own
// type, so neither "none" nor an HMAC signed with the public key gets in.
type Keys struct {
	jwksURL string
	http    *http.Client
	parser  *jwt.Parser
	now     func() time.Time

	pem *watched.File[crypto.PublicKey] // a PEM file's single key: used whatever the kid

	mu        sync.Mutex
	byKID     map[string]crypto.PublicKey
	lastFetch time.Time
}

// keyRefetchGap bounds refetches of the JWKS caused by unknown key IDs, so
// a stream of tokens with made-up kids cannot make Herald hammer the URL.
const keyRefetchGap = 10 * time.Second

// fileCheckEvery is how often the PEM file's modification time is looked at.
const fileCheckEvery = 5 * time.Second

// NewKeys loads the keys from file or jwksURL (one of them).
func NewKeys(ctx context.Context, file, jwksURL string, refresh time.Duration, claims ClaimRules) (*Keys, error) {
	k := &Keys{
		jwksURL: jwksURL,
		http:    &http.Client{Timeout: 5 * time.Second},
		parser:  jwt.NewParser(append(claims.options(), jwt.WithValidMethods([]string{"RS256", "ES256"}))...),
		now:     time.Now,
		byKID:   map[string]crypto.PublicKey{},
	}
	switch {
	case file != "" && jwksURL != "":
		return nil, errors.New("jwt keys: give a public key file or a JWKS URL, not both")
	case file != "":
		pem, err := watched.Load("public key file", fileCheckEvery, func() (crypto.PublicKey, error) { return loadPEM(file) }, file)
		if err != nil {
			return nil, err
		}
		k.pem = pem
	case jwksURL != "":
		if err := k.fetch(ctx); err != nil {
			// Start anyway: the JWKS host may come up later; every
			// unknown key ID retries (at most every keyRefetchGap).
			slog.Warn("JWKS not loaded at start; tokens are refused until it is", "url", jwksURL, "err", err)
		}
		if refresh > 0 {
			go k.refreshLoop(refresh)
		}
	default:
		return nil, errors.New("jwt keys: no public key file or JWKS URL")
	}
	return k, nil
}

// Verify implements herald.Authenticator.
func (k *Keys) Verify(ctx context.Context, token string) (herald.Identity, error) {
	if token == "" {
		return herald.Identity{}, fmt.Errorf("no token: %w", herald.ErrUnauthorized)
	}
	var claims claims
	_, err := k.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return k.key(ctx, kid)
	})
	if err != nil {
		return herald.Identity{}, fmt.Errorf("verify token: %v: %w", err, herald.ErrUnauthorized)
	}
	return identity(claims)
}

// key returns the public key for kid.
func (k *Keys) key(ctx context.Context, kid string) (crypto.PublicKey, error) {
	if k.pem != nil {
		return k.pem.Get(), nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := k.byKID[kid]; ok && kid != "" {
		return key, nil
	}
	if k.jwksURL != "" && k.now().Sub(k.lastFetch) > keyRefetchGap {
		k.mu.Unlock()
		err := k.fetch(ctx)
		k.mu.Lock()
		if err != nil {
			slog.Warn("JWKS refetch for an unknown key ID failed", "kid", kid, "err", err)
		}
		if key, ok := k.byKID[kid]; ok && kid != "" {
			return key, nil
		}
	}
	return nil, fmt.Errorf("no key with kid %q", kid)
}

// loadPEM reads a PEM file's one PUBLIC KEY block, used for every token.
// Rotating means replacing the file (picked up within fileCheckEvery); for
// several live keys at once, use a JWKS.
func loadPEM(file string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("public key file: %w", err)
	}
	var keys []crypto.PublicKey
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key file %s: %w", file, err)
		}
		switch pub.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			keys = append(keys, pub)
		default:
			return nil, fmt.Errorf("public key file %s: %T is neither RSA nor ECDSA", file, pub)
		}
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("public key file %s: want exactly one PUBLIC KEY block, found %d (use a JWKS URL for several keys)", file, len(keys))
	}
	return keys[0], nil
}

func (k *Keys) refreshLoop(every time.Duration) {
	for range time.Tick(every) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := k.fetch(ctx); err != nil {
			slog.Warn("JWKS refresh failed; keeping the keys already known", "url", k.jwksURL, "err", err)
		}
		cancel()
	}
}

// fetch replaces the key set with the JWKS at jwksURL.
func (k *Keys) fetch(ctx context.Context) error {
	k.mu.Lock()
	k.lastFetch = k.now()
	k.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.jwksURL, nil)
	if err != nil {
		return err
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch JWKS: status %d", resp.StatusCode)
	}
	keys, err := parseJWKS(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.byKID = keys
	k.mu.Unlock()
	return nil
}

// parseJWKS reads RSA and P-256 EC signing keys with a kid; others are
// skipped (a JWKS may list encryption keys too).
func parseJWKS(r io.Reader) (map[string]crypto.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty, Kid, Use, Alg, Crv string
			N, E, X, Y              string
		} `json:"keys"`
	}
	if err := json.NewDecoder(r).Decode(&set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	out := map[string]crypto.PublicKey{}
	b64 := func(s string) *big.Int {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			return nil
		}
		return new(big.Int).SetBytes(b)
	}
	for _, j := range set.Keys {
		if j.Kid == "" || (j.Use != "" && j.Use != "sig") {
			continue
		}
		switch j.Kty {
		case "RSA":
			n, e := b64(j.N), b64(j.E)
			if n == nil || e == nil || !e.IsInt64() || n.BitLen() < 2048 {
				continue // RSA under 2048 bits is not trusted
			}
			out[j.Kid] = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case "EC":
			x, errX := base64.RawURLEncoding.DecodeString(j.X)
			y, errY := base64.RawURLEncoding.DecodeString(j.Y)
			if j.Crv != "P-256" || errX != nil || errY != nil || len(x) > 32 || len(y) > 32 {
				continue
			}
			// The uncompressed point, each coordinate left-padded to 32
			// bytes; parsing checks it is on the curve.
			point := make([]byte, 65)
			point[0] = 4
			copy(point[33-len(x):33], x)
			copy(point[65-len(y):], y)
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
			if err != nil {
				continue
			}
			out[j.Kid] = pub
		}
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS: no usable RSA or P-256 signing key with a kid")
	}
	return out, nil
}
