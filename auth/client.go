package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

// Client is a herald.Authenticator that asks a remote auth service (cluster
// mode), with a short-lived cache in front: a reconnect storm after a push
// node dies must not become a storm on the auth service.
//
// Only good answers are cached, for at most CacheTTL and never past the token's
// own expiry; refusals are not cached, so a just-minted token works at once.
type Client struct {
	urls     []string
	path     string // appended to each URL: /v1/verify, or nothing for an external endpoint
	http     *http.Client
	cacheTTL time.Duration

	mu    sync.Mutex
	next  int
	cache map[[32]byte]cached
}

type cached struct {
	id    herald.Identity
	until time.Time
}

// CacheTTL is how long a verified token is trusted without asking again.
const CacheTTL = 30 * time.Second

// maxCache bounds the cache; past it the cache is cleared (simple and bounded).
const maxCache = 100_000

// NewClient returns a Client for the auth services at urls (base URLs such as
// http://10.0.0.5:8081), tried in turn when one fails.
func NewClient(urls []string, cacheTTL time.Duration) *Client {
	return &Client{
		urls:     urls,
		path:     "/v1/verify",
		http:     &http.Client{Timeout: 3 * time.Second},
		cacheTTL: cacheTTL,
		cache:    make(map[[32]byte]cached),
	}
}

// NewExternal returns a Client for the business system's own verify
// endpoint (external auth mode): url gets POST {"token": "..."} and answers
// 200 {"user": "...", "expires_at": unix seconds, "issued_at": optional}
// for a good token, 401 for a bad one (docs/api.md). Answers are cached
// like the auth service's, for at most cacheTTL and never past expires_at.
func NewExternal(url string, timeout, cacheTTL time.Duration) *Client {
	c := NewClient([]string{url}, cacheTTL)
	c.path = ""
	c.http.Timeout = timeout
	return c
}

// Verify implements herald.Authenticator.
func (c *Client) Verify(ctx context.Context, token string) (herald.Identity, error) {
	if token == "" {
		return herald.Identity{}, fmt.Errorf("no token: %w", herald.ErrUnauthorized)
	}
	// The cache is keyed by a hash so tokens are not kept in memory longer than needed.
	key := sha256.Sum256([]byte(token))
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.cache[key]; ok && now.Before(e.until) {
		c.mu.Unlock()
		return e.id, nil
	}
	start := c.next
	c.next++
	c.mu.Unlock()

	body, _ := json.Marshal(VerifyRequest{Token: token})
	var lastErr error
	for i := range c.urls {
		url := c.urls[(start+i)%len(c.urls)]
		id, err := c.ask(ctx, url, body)
		if err == nil {
			until := now.Add(c.cacheTTL)
			if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(until) {
				until = id.ExpiresAt
			}
			c.mu.Lock()
			if len(c.cache) >= maxCache {
				clear(c.cache)
			}
			c.cache[key] = cached{id: id, until: until}
			c.mu.Unlock()
			return id, nil
		}
		if IsUnauthorized(err) {
			return herald.Identity{}, err
		}
		lastErr = err
	}
	return herald.Identity{}, fmt.Errorf("auth service unreachable: %v: %w", lastErr, herald.ErrUnavailable)
}

func (c *Client) ask(ctx context.Context, url string, body []byte) (herald.Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+c.path, bytes.NewReader(body))
	if err != nil {
		return herald.Identity{}, fmt.Errorf("auth request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return herald.Identity{}, fmt.Errorf("auth %s: %w", url, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		var v VerifyResponse
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			return herald.Identity{}, fmt.Errorf("auth %s: decode: %w", url, err)
		}
		if !herald.ValidID(v.User) {
			return herald.Identity{}, fmt.Errorf("auth %s answered a user that is not a valid ID (%q)", url, v.User)
		}
		if err := CheckTopicClaims(v.Topics); err != nil {
			return herald.Identity{}, fmt.Errorf("auth %s answered %v", url, err)
		}
		id := herald.Identity{User: v.User, Topics: v.Topics}
		if v.ExpiresAt != 0 { // an external endpoint may not say: no expiry
			id.ExpiresAt = time.Unix(v.ExpiresAt, 0)
		}
		if v.IssuedAt != 0 {
			id.IssuedAt = time.Unix(v.IssuedAt, 0)
		}
		return id, nil
	case http.StatusUnauthorized:
		return herald.Identity{}, fmt.Errorf("auth service refused the token: %w", herald.ErrUnauthorized)
	default:
		return herald.Identity{}, fmt.Errorf("auth %s: status %d", url, resp.StatusCode)
	}
}
