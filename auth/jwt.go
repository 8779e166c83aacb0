// Package auth is the auth service: it turns a token into a user ID, the first
// thing a push node asks of a new connection. Tokens are JWTs signed with HS256; JWT verifies them locally, Handler
// serves them over HTTP, and Client asks a remote auth service, with a cache.
package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// claims are a token's claims: the registered ones and Herald's "topics",
// the topics the token's connection may subscribe to.
type claims struct {
	jwt.RegisteredClaims
	Topics []string `json:"topics,omitempty"`
}

// MaxTopicClaims bounds the entries of a token's topics claim: every
// subscription is checked against them.
const MaxTopicClaims = 256

// CheckTopicClaims reports an entry of a topics claim that is neither a
// topic name nor a prefix ending in "*".
func CheckTopicClaims(topics []string) error {
	if len(topics) > MaxTopicClaims {
		return fmt.Errorf("topics: at most %d entries", MaxTopicClaims)
	}
	for _, t := range topics {
		if p, ok := strings.CutSuffix(t, "*"); ok && (p == "" || herald.ValidTopic(p)) {
			continue
		}
		if !herald.ValidTopic(t) {
			return fmt.Errorf("topics: %q is neither a topic name (1-128 bytes of A-Z a-z 0-9 _ - . @ :) nor a prefix ending in *", t)
		}
	}
	return nil
}

// identity turns verified claims into an Identity.
func identity(c claims) (herald.Identity, error) {
	if !herald.ValidID(c.Subject) {
		return herald.Identity{}, fmt.Errorf("token sub is not a valid user ID: %w", herald.ErrUnauthorized)
	}
	if err := CheckTopicClaims(c.Topics); err != nil {
		return herald.Identity{}, fmt.Errorf("token %v: %w", err, herald.ErrUnauthorized)
	}
	id := herald.Identity{User: c.Subject, ExpiresAt: c.ExpiresAt.Time, Topics: c.Topics}
	if c.IssuedAt != nil {
		id.IssuedAt = c.IssuedAt.Time
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
	var claims claims
	_, err := j.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return j.secret, nil })
	if err != nil {
		return herald.Identity{}, fmt.Errorf("verify token: %v: %w", err, herald.ErrUnauthorized)
	}
	return identity(claims)
}

// Mint returns a token for user valid for ttl.
func (j *JWT) Mint(user string, ttl time.Duration) (string, error) {
	return j.MintTopics(user, ttl, nil)
}

// MintTopics is Mint with a topics claim: the topics (names, or prefixes
// ending in "*") the token's connection may subscribe to.
func (j *JWT) MintTopics(user string, ttl time.Duration, topics []string) (string, error) {
	if err := CheckTopicClaims(topics); err != nil {
		return "", herald.Errorf(herald.EInvalid, "%s", err.Error())
	}
	if !herald.ValidID(user) {
		return "", herald.Errorf(herald.EInvalid, "user must be 1-128 bytes of [A-Za-z0-9_.@:-]")
	}
	if ttl <= 0 || ttl > MaxTTL {
		return "", herald.Errorf(herald.EInvalid, "ttl_seconds must be between 1 and %d", int(MaxTTL.Seconds()))
	}
	now := j.now()
	claims := claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject:   user,
		Issuer:    j.rules.Issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}, Topics: topics}
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
