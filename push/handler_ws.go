package push

import (
	"log/slog"
	"net/http"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/internal/ws"
)

// ServeWS is GET /ws: admit the client (a 4xx or 503 with a JSON body
// before any upgrade), upgrade (with permessage-deflate if offered and
// allowed, and protobuf frames if the client lists herald.v1.protobuf in
// Sec-WebSocket-Protocol), open its session on a WebSocket transport, then
// hello, replay, live.
func (s *Service) ServeWS(w http.ResponseWriter, r *http.Request) {
	if s.refuseDraining(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		httpx.Error(w, r, herald.Errorf(herald.EMethod, "use GET with a WebSocket upgrade"))
		return
	}
	a, ok := s.admit(w, r)
	if !ok {
		return
	}
	defer a.release()
	if err := ws.CheckRequest(r); err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "%s", err.Error()))
		return
	}
	if !s.reserve(w, r) {
		return
	}
	var acc ws.Accepted
	if s.cfg.Compression {
		acc.Extensions = ws.NegotiateDeflate(r.Header)
	}
	if ws.OffersProtocol(r.Header, ProtobufProtocol) {
		acc.Protocol = ProtobufProtocol
	}
	nc, rest, err := ws.UpgradeWith(w, r, acc)
	if err != nil {
		s.connWG.Done()
		return // the connection is gone; nothing can be answered
	}
	c := s.newSession(a)
	if acc.Protocol == ProtobufProtocol {
		c.enc = encProto
	}
	t := newWSTransport(c, nc, acc.Extensions != "")
	c.t = t
	s.open(c, a)
	if err := t.start(rest); err != nil {
		slog.Warn("cannot watch connection", "conn", c.id, "err", err)
		c.close(CloseInternal, "server error, retry")
	}
	// The handler returns, so the HTTP server's per-connection state (and
	// its 8 KiB of buffers) is freed; the connection keeps no goroutine
	// once its handshake is written.
	go c.serve(s.routes.mark(c.user), s.routes.mark(herald.BroadcastKey), a.start)
}
