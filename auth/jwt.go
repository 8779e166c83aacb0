// Package auth is the auth service: it turns a token into a user ID (step 2 of the
// design). Tokens are JWTs signed with HS256; JWT verifies them locally, Handler
// serves them over HTTP, and Client asks a remote auth service, with a cache.
package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldpush/herald"
)

// Leeway is the clock skew tolerated on exp and nbf.
const Leeway = 5 * time.Second

// MaxTTL bounds the lifetime of a minted token.
const MaxTTL = 30 * 24 * time.Hour

// ClaimRules are the checks every token mode applies besides the
// signature: exp is required (with Leeway of clock skew, for nbf too), and
// iss and aud must match when set.
type ClaimRules struct {
	Issuer   string // required iss; empty: not checked
	Audience string // required in aud; empty: not checked
}

func (c ClaimRules) options() []jwt.ParserOption {
	opts := []jwt.ParserOption{jwt.WithExpirationRequired(), jwt.WithLeeway(Leeway)}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	return opts
}

// identity turns verified claims into an Identity.
func identity(claims jwt.RegisteredClaims) (herald.Identity, error) {
	if !herald.ValidID(claims.Subject) {
		return herald.Identity{}, fmt.Errorf("token sub is not a valid user ID: %w", herald.ErrUnauthorized)
	}
	id := herald.Identity{User: claims.Subject, ExpiresAt: claims.ExpiresAt.Time}
	if claims.IssuedAt != nil {
		id.IssuedAt = claims.IssuedAt.Time
	}
	return id, nil
}

// JWT verifies and mints HS256 tokens with a shared secret.
type JWT struct {
	secret []byte
	rules  ClaimRules
	parser *jwt.Parser
	now    func() time.Time
}

// NewJWT returns a JWT for secret. A secret shorter than 32 bytes is refused:
// HS256 with a short secret can be brute-forced offline from one token.
func NewJWT(secret string) (*JWT, error) { return NewJWTWith(secret, ClaimRules{}) }

// NewJWTWith is NewJWT with iss and aud checks; tokens it mints carry them.
func NewJWTWith(secret string, rules ClaimRules) (*JWT, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("jwt secret: need at least 32 bytes, got %d", len(secret))
	}
	return &JWT{
		secret: []byte(secret),
		rules:  rules,
		// Only HS256: "none" and every other algorithm are refused, which closes
		// the algorithm-confusion attacks. exp is required.
		parser: jwt.NewParser(append(rules.options(), jwt.WithValidMethods([]string{"HS256"}))...),
		now:    time.Now,
	}, nil
}

// Verify implements herald.Authenticator.
func (j *JWT) Verify(_ context.Context, token string) (herald.Identity, error) {
	if token == "" {
		return herald.Identity{}, fmt.Errorf("no token: %w", herald.ErrUnauthorized)
	}
	var claims jwt.RegisteredClaims
	_, err := j.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return j.secret, nil })
	if err != nil {
		return herald.Identity{}, fmt.Errorf("verify token: %v: %w", err, herald.ErrUnauthorized)
	}
	return identity(claims)
}

// Mint returns a token for user valid for ttl.
func (j *JWT) Mint(user string, ttl time.Duration) (string, error) {
	if !herald.ValidID(user) {
		return "", herald.Errorf(herald.EInvalid, "user must be 1-128 bytes of [A-Za-z0-9_.@:-]")
	}
	if ttl <= 0 || ttl > MaxTTL {
		return "", herald.Errorf(herald.EInvalid, "ttl_seconds must be between 1 and %d", int(MaxTTL.Seconds()))
	}
	now := j.now()
	claims := jwt.RegisteredClaims{
		Subject:   user,
		Issuer:    j.rules.Issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	if j.rules.Audience != "" {
		claims.Audience = jwt.ClaimStrings{j.rules.Audience}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(j.secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// IsUnauthorized reports whether err means the token was refused.
func IsUnauthorized(err error) bool { return errors.Is(err, herald.ErrUnauthorized) }
