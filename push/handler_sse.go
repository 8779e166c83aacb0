package push

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

// ServeSSE is GET /sse: the same session as GET /ws, over Server-Sent
// Events (transport_sse.go). Admission answers as for WebSocket (a 4xx or
// 503 with a JSON body); a Last-Event-ID header, which a browser sends
// when it reconnects, resumes from the event it names, ahead of the since
// parameters of the URL it reconnects to.
func (s *Service) ServeSSE(w http.ResponseWriter, r *http.Request) {
	if s.refuseDraining(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		httpx.Error(w, r, herald.Errorf(herald.EMethod, "use GET for the event stream; client frames go to POST /sse/frames"))
		return
	}
	if r.ProtoMajor != 1 {
		// Taking the socket from net/http is what lets an idle stream cost
		// no goroutine; HTTP/2 has no socket per stream to take.
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "the event stream needs HTTP/1.1"))
		return
	}
	a, ok := s.admit(w, r)
	if !ok {
		return
	}
	defer a.release()
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		st, err := parseEventID(id)
		if err != nil {
			httpx.Error(w, r, err)
			return
		}
		st.recall = a.start.recall // the URL's, as every other option
		a.start = st
	}
	if !s.reserve(w, r) {
		return
	}
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.connWG.Done()
		httpx.Error(w, r, herald.Errorf(herald.EInternal, "cannot stream on this connection"))
		return
	}
	chunked := r.ProtoAtLeast(1, 1)
	nc.SetDeadline(time.Time{}) // net/http's read deadlines end with the request
	nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if _, err := nc.Write(sseHead(r, chunked)); err != nil {
		nc.Close()
		s.connWG.Done()
		return
	}
	c := s.newSession(a)
	t := newSSETransport(c, nc, chunked)
	c.t = t
	s.open(c, a)
	if err := t.start(); err != nil {
		slog.Warn("cannot watch connection", "conn", c.id, "err", err)
		c.close(CloseInternal, "server error, retry")
	}
	go c.serve(s.routes.mark(c.user), s.routes.mark(herald.BroadcastKey), a.start)
}

// sseHead is the response head of an event stream. The stream is not to
// be cached or buffered on the way (X-Accel-Buffering: nginx's switch); an
// allowed cross-origin page gets its origin back, as EventSource needs.
func sseHead(r *http.Request, chunked bool) []byte {
	b := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache, no-store\r\nX-Accel-Buffering: no\r\nDate: ")
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	if o := r.Header.Get("Origin"); o != "" {
		b = append(b, "\r\nAccess-Control-Allow-Origin: "...)
		b = append(b, o...)
		b = append(b, "\r\nVary: Origin"...)
	}
	if chunked {
		b = append(b, "\r\nTransfer-Encoding: chunked"...)
	} else {
		b = append(b, "\r\nConnection: close"...)
	}
	return append(b, "\r\n\r\n"...)
}

// parseEventID reads an event id (session.appendEventID): the user's seq,
// the broadcast seq and the epoch they count in.
func parseEventID(id string) (start, error) {
	bad := herald.Errorf(herald.EInvalid, "Last-Event-ID: an id of this stream's events, as it came")
	parts := strings.SplitN(id, ":", 3)
	if len(parts) != 3 || len(parts[2]) > 64 || !utf8.ValidString(parts[2]) {
		return start{}, bad
	}
	seq, err1 := strconv.ParseUint(parts[0], 10, 64)
	bseq, err2 := strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return start{}, bad
	}
	return start{since: seq, hasSince: true, epoch: parts[2], bsince: bseq, hasBSince: true}, nil
}

// transport is the session's transport; nil for no session.
func (c *session) transport() transport {
	if c == nil {
		return nil
	}
	return c.t
}
