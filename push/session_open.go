package push

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

// Opening a session, whatever its transport: a handler admits the client
// (admit), reserves its place against a drain (reserve), makes its
// transport, and opens the session on it (open).

// admission is a client admitted to open a session: who, from where, and
// where its streams start.
type admission struct {
	s      *Service
	id     herald.Identity
	device string
	ip     string
	start  start
	opened bool
}

// release gives back the address's count unless a session took it over.
func (a *admission) release() {
	if !a.opened {
		a.s.ips.release(a.ip)
	}
}

// admit runs the checks every transport's handshake makes before it
// answers, once the handler has refused a draining node (refuseDraining)
// and a request its transport cannot serve: the node is not full, the origin and the client's
// address are allowed, the token is valid and not revoked, the user is under
// its limit, and the device and resume parameters are well formed. A client
// refused gets its error (4xx or 503, JSON) here; false means it was sent.
// Call release on the admission when the handler ends.
func (s *Service) admit(w http.ResponseWriter, r *http.Request) (*admission, bool) {
	if !s.originAllowed(r) {
		s.m.refused.WithLabelValues("origin").Inc()
		httpx.Error(w, r, herald.Errorf(herald.EForbidden, "origin %q is not allowed to connect", r.Header.Get("Origin")))
		return nil, false
	}
	if max := s.cfg.MaxConnections; max > 0 && s.conns.Load() >= int64(max) {
		s.m.refused.WithLabelValues("node_full").Inc()
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "node full (%d connections), connect to another", max))
		return nil, false
	}
	ip, refused := s.ips.admit(r, time.Now())
	switch refused {
	case "ip_connections":
		s.m.refused.WithLabelValues("ip_connections").Inc()
		httpx.Error(w, r, herald.Errorf(herald.ETooMany, "your address has %d connections on this node, the limit", s.cfg.MaxIPConns))
		return nil, false
	case "ip_rate":
		s.m.refused.WithLabelValues("ip_rate").Inc()
		w.Header().Set("Retry-After", "1")
		httpx.Error(w, r, herald.Errorf(herald.ETooMany, "more than %d new connections a second from your address; retry later", s.cfg.MaxIPRate))
		return nil, false
	}
	a := &admission{s: s, ip: ip}
	ok := false
	defer func() {
		if !ok {
			a.release()
		}
	}()
	q := r.URL.Query()
	id, verified := s.verify(w, r)
	if !verified {
		return nil, false
	}
	if s.revoked(r.Context(), id) {
		httpx.Error(w, r, herald.Errorf(herald.EUnauthorized, "token revoked: ask the application for a new one"))
		return nil, false
	}
	if max := s.cfg.MaxUserConns; max > 0 && s.hub.count(id.User) >= max {
		s.m.refused.WithLabelValues("user_connections").Inc()
		httpx.Error(w, r, herald.Errorf(herald.ETooMany, "user has %d connections on this node, the limit", max))
		return nil, false
	}
	device := q.Get("device")
	if device != "" && !herald.ValidID(device) {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "device: 1-128 bytes of A-Z a-z 0-9 _ - . @ :"))
		return nil, false
	}
	var st start
	var err error
	st.since, st.hasSince, err = seqParam(q, "since")
	if err == nil {
		st.bsince, st.hasBSince, err = seqParam(q, "broadcast_since")
	}
	if err != nil {
		httpx.Error(w, r, err)
		return nil, false
	}
	switch q.Get("recall") {
	case "", "false":
	case "true":
		st.recall = true
	default:
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "recall: true or false"))
		return nil, false
	}
	if st.epoch = q.Get("epoch"); len(st.epoch) > 64 || !utf8.ValidString(st.epoch) {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "epoch: the hello's epoch, as it came"))
		return nil, false
	}
	a.id, a.device, a.start, ok = id, device, st, true
	return a, true
}

// verify checks the request's token (the token parameter, or an
// Authorization: Bearer header); a client refused gets its 401, or 503
// when the auth service cannot answer, and false.
func (s *Service) verify(w http.ResponseWriter, r *http.Request) (herald.Identity, bool) {
	token := r.URL.Query().Get("token")
	if token == "" {
		token = httpx.BearerToken(r)
	}
	id, err := s.auth.Verify(r.Context(), token)
	switch {
	case errors.Is(err, herald.ErrUnauthorized):
		httpx.Error(w, r, herald.ErrUnauthorized)
	case err != nil:
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "auth service unavailable, retry"))
	default:
		return id, true
	}
	return herald.Identity{}, false
}

// reserve counts a session about to open in the drain's wait group, under
// the lock the drain takes to start, so that a drain never waits while a
// session is being added, nor misses one. False: the node began draining,
// and the client was told so. Once it returns true, the handler must call
// open, or connWG.Done if it fails before.
func (s *Service) reserve(w http.ResponseWriter, r *http.Request) bool {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	if s.refuseDraining(w, r) {
		return false
	}
	s.connWG.Add(1)
	return true
}

// refuseDraining tells a client that a draining node opens no session (503,
// connect to another) and reports whether it did.
func (s *Service) refuseDraining(w http.ResponseWriter, r *http.Request) bool {
	select {
	case <-s.draining:
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "node shutting down, connect to another"))
		return true
	default:
		return false
	}
}

// open binds session c, its transport set, on this node: the hub and the
// keep-alive wheel have it from here on. Its first writer (serve) holds the
// writing flag through hello and replay: live frames queue up behind them.
func (s *Service) open(c *session, a *admission) {
	a.opened = true // finish releases the address's count
	c.writing.Store(true)
	s.hub.add(c)
	s.wheel.add(c)
	select {
	case <-s.draining:
		// Drain began during the upgrade and may not have seen this one.
		c.close(CloseServiceRestart, "node shutting down, reconnect")
	default:
	}
	s.m.connections.Inc()
	s.conns.Add(1)
	s.m.opened.Inc()
	slog.Info("connection opened", "user", c.user, "device", c.device, "conn", c.id, "node", s.node.ID)
	c.connEvent(ConnEvent{Type: "connect", Transport: c.transportName()})
	c.countOpened()
}

// seqParam reads an optional seq query parameter.
func seqParam(q url.Values, name string) (herald.Seq, bool, error) {
	v := q.Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, herald.Errorf(herald.EInvalid, "%s: a non-negative integer", name)
	}
	return n, true, nil
}

// originAllowed checks a browser's Origin header: requests without one (not
// from a browser) pass; otherwise the origin must be listed in
// AllowedOrigins ("*" allows any), or be the origin the request was sent to
// (RFC 6454: scheme, host and port; the scheme from a trusted proxy's
// X-Forwarded-Proto when it terminates TLS), so that another site's page,
// or the same host's page over plain http, cannot open connections with a
// user's token.
func (s *Service) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return httpx.SameOrigin(r, origin, s.ips.scheme(r))
}
