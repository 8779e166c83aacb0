package push

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/heraldpush/herald"
)

// A connection's token has a life: the server asks for a new one before it
// expires (a refresh frame), the client answers with one, and a connection
// whose token expired more than TokenGrace ago is closed with 4001. A user
// revoked through POST /v1/users/{user}/disconnect is closed on every node
// with 4003, and tokens issued up to the revocation open no connection
// (and renew none) for RevokeTTL.

// Close codes of the token's life (docs/protocol.md).
const (
	CloseTokenExpired = 4001 // the token expired and no new one came in time
	CloseRevoked      = 4003 // the user was disconnected by the business system
)

// revoked reports whether id's token was issued at or before the user's
// last revocation. Revocations are kept to the second: a token minted in
// the same second as a revocation counts as revoked (the client asks for
// another a moment later). When the routing store cannot answer, the token
// passes: a Redis outage must not lock every user out, and the revocation
// also closed the user's connections directly.
func (s *Service) revoked(ctx context.Context, id herald.Identity) bool {
	if s.revocations == nil {
		return false
	}
	at, err := s.revocations.RevokedAt(ctx, id.User)
	if err != nil {
		slog.Warn("revocation check failed; letting the token through", "user", id.User, "err", err)
		return false
	}
	return !at.IsZero() && (id.IssuedAt.IsZero() || id.IssuedAt.Unix() <= at.Unix())
}

// disconnect closes the local connections of the users, or of the one
// device the order names (KindDisconnect).
func (s *Service) disconnect(m *herald.Message) int {
	o := herald.ParseDisconnectOrder(m.Payload)
	if o.Reason == "" {
		o.Reason = "disconnected by the server"
	}
	n := 0
	for _, u := range m.Users {
		for _, c := range s.hub.userConns(u) {
			if o.Device == "" || c.device == o.Device {
				c.close(CloseRevoked, o.Reason)
				n++
			}
		}
	}
	return n
}

// checkToken runs on each keep-alive visit: ask for a new token when the
// current one expires before the next visit, close the connection once it
// is past its expiry by more than TokenGrace.
func (c *session) checkToken(now time.Time) {
	exp := c.expires.Load()
	switch {
	case exp == 0:
	case now.UnixNano() > exp+int64(c.s.cfg.TokenGrace):
		c.close(CloseTokenExpired, "token expired: connect again with a new token")
	case now.UnixNano() > exp-int64(c.s.cfg.PingInterval)-int64(time.Second) && !c.refreshAsked.Load():
		c.refreshAsked.Store(true)
		c.enqueue(outItem{frame: c.enc.expiry(false, exp)})
	}
}

// expiryFrame is a refresh or refreshed frame: its type and a token's expiry
// (exp in Unix nanoseconds, sent in milliseconds).
func expiryFrame(typ string, exp int64) []byte {
	return []byte(`{"type":"` + typ + `","expires":` + strconv.FormatInt(exp/int64(time.Millisecond), 10) + `}`)
}

// refresh handles the client's new token. It runs on the connection's
// reader: the connection reads nothing else while the token is checked
// (with the auth service, for a cluster).
func (c *session) refresh(token string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, err := c.s.auth.Verify(ctx, token)
	switch {
	case errors.Is(err, herald.ErrUnauthorized):
		return CloseTokenExpired, "refresh token refused"
	case err != nil:
		// The auth service is down: keep the old token's life; the next
		// keep-alive visit asks again.
		slog.Warn("token refresh: auth service unavailable", "user", c.user, "conn", c.id, "err", err)
		c.refreshAsked.Store(false)
		return 0, ""
	case id.User != c.user:
		return ClosePolicy, "refresh token is for another user"
	case c.s.revoked(ctx, id):
		return CloseRevoked, "token revoked"
	}
	exp := int64(0)
	if !id.ExpiresAt.IsZero() {
		exp = id.ExpiresAt.UnixNano()
	}
	c.expires.Store(exp)
	c.mu.Lock()
	c.claims = id.Topics // new subscriptions are checked against the new token; current ones stay
	c.mu.Unlock()
	c.refreshAsked.Store(false)
	c.enqueue(outItem{frame: c.enc.expiry(true, exp)})
	return 0, ""
}
