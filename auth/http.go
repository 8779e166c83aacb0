package auth

import (
	"errors"
	"net/http"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

// DefaultTokenTTL is the lifetime of a minted token when the request names none.
const DefaultTokenTTL = time.Hour

// VerifyRequest is the body of POST /v1/verify.
type VerifyRequest struct {
	Token string `json:"token"`
}

// VerifyResponse is the answer of POST /v1/verify.
type VerifyResponse struct {
	User      string `json:"user"`
	ExpiresAt int64  `json:"expires_at"`          // Unix seconds
	IssuedAt  int64  `json:"issued_at,omitempty"` // Unix seconds; absent when the token has no iat
	// Topics the token may subscribe to (names, or prefixes ending in "*").
	Topics []string `json:"topics,omitempty"`
}

// TokenRequest is the body of POST /v1/tokens.
type TokenRequest struct {
	User       string `json:"user"`
	TTLSeconds int64  `json:"ttl_seconds,omitempty"`
	// Topics become the token's topics claim.
	Topics []string `json:"topics,omitempty"`
}

// TokenResponse is the answer of POST /v1/tokens.
type TokenResponse struct {
	Token     string `json:"token"`
	ExpiresAt int64  `json:"expires_at"`
}

// Register adds the auth endpoints to mux: POST /v1/verify (open: it only
// answers whether a token is good) and POST /v1/tokens (API key), which
// only mints when Herald holds the signing key (minter, HS256 mode; nil in
// the other modes, where the business system mints).
func Register(mux *http.ServeMux, v herald.Authenticator, minter *JWT, keys *httpx.Keys) {
	mux.Handle("/v1/verify", httpx.Method(http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
		var req VerifyRequest
		if err := httpx.Decode(w, r, 16<<10, &req); err != nil {
			httpx.Error(w, r, err)
			return
		}
		id, err := v.Verify(r.Context(), req.Token)
		switch {
		case errors.Is(err, herald.ErrUnauthorized):
			httpx.Error(w, r, herald.ErrUnauthorized)
			return
		case err != nil: // the external endpoint is down: not the token's fault
			httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "token verification unavailable, retry"))
			return
		}
		resp := VerifyResponse{User: id.User, Topics: id.Topics}
		if !id.ExpiresAt.IsZero() {
			resp.ExpiresAt = id.ExpiresAt.Unix()
		}
		if !id.IssuedAt.IsZero() {
			resp.IssuedAt = id.IssuedAt.Unix()
		}
		httpx.JSON(w, http.StatusOK, resp)
	}))
	mux.Handle("/v1/tokens", httpx.RequireScope(keys, httpx.ScopeAdmin, httpx.Method(http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
		if minter == nil {
			httpx.Error(w, r, herald.Errorf(herald.ENotFound, "this token mode has no signing key here: tokens come from your system"))
			return
		}
		var req TokenRequest
		if err := httpx.Decode(w, r, 16<<10, &req); err != nil {
			httpx.Error(w, r, err)
			return
		}
		ttl := DefaultTokenTTL
		if req.TTLSeconds != 0 {
			ttl = time.Duration(req.TTLSeconds) * time.Second
			if req.TTLSeconds < 0 || req.TTLSeconds > int64(MaxTTL/time.Second) {
				ttl = -1 // Mint refuses it with a clear message
			}
		}
		tok, err := minter.MintTopics(req.User, ttl, req.Topics)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		httpx.JSON(w, http.StatusOK, TokenResponse{Token: tok, ExpiresAt: minter.now().Add(ttl).Unix()})
	})))
}
