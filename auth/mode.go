package auth

import (
	"context"
	"errors"
	"time"

	"github.com/heraldpush/herald"
)

// Options select how tokens are verified (docs/security.md, "Token modes"):
//
//   - HS256 (the default): Secret, shared with the business system; Herald
//     can also mint tokens (POST /v1/tokens, the demo page).
//   - RS256/ES256: PublicKeyFile or JWKSURL; the business system signs with
//     its private key and Herald mints nothing.
//   - external: VerifyURL, the business system's own endpoint, asked for
//     each token not in the cache.
//
// Rules (iss, aud) apply to both JWT modes; the external endpoint checks
// what it likes.
type Options struct {
	Secret        string
	PublicKeyFile string
	JWKSURL       string
	JWKSRefresh   time.Duration
	VerifyURL     string
	VerifyTimeout time.Duration
	CacheTTL      time.Duration
	Rules         ClaimRules
}

// Mode names the mode the options select.
func (o Options) Mode() string {
	switch {
	case o.VerifyURL != "":
		return "external"
	case o.PublicKeyFile != "" || o.JWKSURL != "":
		return "rs256/es256"
	default:
		return "hs256"
	}
}

// New returns the verifier for the options, and the minter when Herald
// holds the signing key (HS256 mode only; nil otherwise).
func New(ctx context.Context, o Options) (herald.Authenticator, *JWT, error) {
	if o.VerifyURL != "" && (o.PublicKeyFile != "" || o.JWKSURL != "") {
		return nil, nil, errors.New("token mode: give a verify URL or public keys, not both")
	}
	switch o.Mode() {
	case "external":
		return NewExternal(o.VerifyURL, max(o.VerifyTimeout, 100*time.Millisecond), o.CacheTTL), nil, nil
	case "rs256/es256":
		k, err := NewKeys(ctx, o.PublicKeyFile, o.JWKSURL, o.JWKSRefresh, o.Rules)
		return k, nil, err
	}
	j, err := NewJWTWith(o.Secret, o.Rules)
	if err != nil {
		return nil, nil, err
	}
	return j, j, nil
}
