package main

import (
	"time"

	"github.com/heraldpush/herald/auth"
)

// tokenFlags registers the token mode flags (docs/security.md, "Token
// modes") of the commands that verify tokens themselves: auth and all.
func tokenFlags(f *flags, o *auth.Options) {
	f.str(&o.PublicKeyFile, "jwt-public-key", "RS256/ES256 mode: PEM file of the public key tokens are signed for (reloaded when it changes)")
	f.str(&o.JWKSURL, "jwks-url", "RS256/ES256 mode: JWKS URL of the public keys, by kid (refreshed, and fetched again for an unknown kid)")
	f.dur(&o.JWKSRefresh, "jwks-refresh", "how often the JWKS is fetched again")
	f.str(&o.VerifyURL, "verify-url", `external mode: your endpoint that gets POST {"token"} and answers {"user","expires_at"} or 401`)
	f.dur(&o.VerifyTimeout, "verify-timeout", "external mode: how long one call to --verify-url may take")
	f.dur(&o.CacheTTL, "verify-cache-ttl", "external mode: how long a verified token is trusted without asking again")
	f.str(&o.Rules.Issuer, "jwt-issuer", "required iss claim (empty: not checked)")
	f.str(&o.Rules.Audience, "jwt-audience", "required aud claim (empty: not checked)")
}

func defaultTokenOptions() auth.Options {
	return auth.Options{JWKSRefresh: 10 * time.Minute, VerifyTimeout: 2 * time.Second, CacheTTL: auth.CacheTTL}
}
