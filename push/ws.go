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
	"github.com/heraldpush/herald/internal/netpoll"
	"github.com/heraldpush/herald/internal/ws"
)

// ServeWS is GET /ws: authenticate (401 with a JSON body before any upgrade),
// upgrade, bind the connection, register its route, then hello, replay, live.
func (s *Service) ServeWS(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.draining:
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "node shutting down, connect to another"))
		return
	default:
	}
	if r.Method != http.MethodGet {
		httpx.Error(w, r, herald.Errorf(herald.EMethod, "use GET with a WebSocket upgrade"))
		return
	}
	if !s.originAllowed(r) {
		s.m.refused.WithLabelValues("origin").Inc()
		httpx.Error(w, r, herald.Errorf(herald.EForbidden, "origin %q is not allowed to connect", r.Header.Get("Origin")))
		return
	}
	if max := s.cfg.MaxConnections; max > 0 && s.conns.Load() >= int64(max) {
		s.m.refused.WithLabelValues("node_full").Inc()
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "node full (%d connections), connect to another", max))
		return
	}
	ip, refused := s.ips.admit(r, time.Now())
	switch refused {
	case "ip_connections":
		s.m.refused.WithLabelValues("ip_connections").Inc()
		httpx.Error(w, r, herald.Errorf(herald.ETooMany, "your address has %d connections on this node, the limit", s.cfg.MaxIPConns))
		return
	case "ip_rate":
		s.m.refused.WithLabelValues("ip_rate").Inc()
		w.Header().Set("Retry-After", "1")
		httpx.Error(w, r, herald.Errorf(herald.ETooMany, "more than %d new connections a second from your address; retry later", s.cfg.MaxIPRate))
		return
	}
	upgraded := false
	defer func() {
		if !upgraded {
			s.ips.release(ip)
		}
	}()
	q := r.URL.Query()
	token := q.Get("token")
	if token == "" {
		token = httpx.BearerToken(r)
	}
	id, err := s.auth.Verify(r.Context(), token)
	if err != nil {
		if errors.Is(err, herald.ErrUnauthorized) {
			httpx.Error(w, r, herald.ErrUnauthorized)
		} else {
			httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "auth service unavailable, retry"))
		}
		return
	}
	if s.revoked(r.Context(), id) {
		httpx.Error(w, r, herald.Errorf(herald.EUnauthorized, "token revoked: ask the application for a new one"))
		return
	}
	if max := s.cfg.MaxUserConns; max > 0 && s.hub.count(id.User) >= max {
		s.m.refused.WithLabelValues("user_connections").Inc()
		httpx.Error(w, r, herald.Errorf(herald.ETooMany, "user has %d connections on this node, the limit", max))
		return
	}
	device := q.Get("device")
	if device != "" && !herald.ValidID(device) {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "device: 1-128 bytes of A-Z a-z 0-9 _ - . @ :"))
		return
	}
	var st start
	st.since, st.hasSince, err = seqParam(q, "since")
	if err == nil {
		st.bsince, st.hasBSince, err = seqParam(q, "broadcast_since")
	}
	if err != nil {
		httpx.Error(w, r, err)
		return
	}
	if st.epoch = q.Get("epoch"); len(st.epoch) > 64 || !utf8.ValidString(st.epoch) {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "epoch: the hello's epoch, as it came"))
		return
	}
	if err := ws.CheckRequest(r); err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "%s", err.Error()))
		return
	}
	// Count the connection before the upgrade, under the lock drain takes to
	// start, so drain never waits while a new connection is being added.
	s.drainMu.Lock()
	select {
	case <-s.draining:
		s.drainMu.Unlock()
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "node shutting down, connect to another"))
		return
	default:
	}
	s.connWG.Add(1)
	s.drainMu.Unlock()
	nc, rest, err := ws.Upgrade(w, r)
	if err != nil {
		s.connWG.Done()
		return // the connection is gone; nothing can be answered
	}
	c := s.newConn(nc, id.User, device)
	c.ip, upgraded = ip, true // finish releases the address's count
	if !id.ExpiresAt.IsZero() {
		c.expires.Store(id.ExpiresAt.UnixNano())
	}
	c.claims = id.Topics
	// The first writer (serve, below) holds the writing flag through hello
	// and replay: live frames queue up behind them.
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
	// Frames the client sent right behind its request came with it.
	if len(rest) > 0 && !c.consume(rest) {
		c.peerEnded()
	}
	stop, err := netpoll.Watch(nc, netpoll.Handler{Peek: c.onPeek, Data: c.onData})
	if err != nil {
		slog.Warn("cannot watch connection", "conn", c.id, "err", err)
		c.close(CloseInternal, "server error, retry")
		stop = func() {}
	}
	c.stopWatch = stop
	// The handler returns, so the HTTP server's per-connection state (and
	// its 8 KiB of buffers) is freed; the connection keeps no goroutine
	// once its handshake is written.
	go c.serve(s.routes.mark(c.user), s.routes.mark(herald.BroadcastKey), st)
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
