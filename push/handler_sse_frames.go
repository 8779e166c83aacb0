package push

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
)

var _ herald.FrameTaker = (*Service)(nil)

// ServeSSEFrames is POST /sse/frames?conn=ID: the frames a client sends on
// WebSocket (ack, ping, refresh, sub, unsub), for its event stream. The
// body is one frame or a JSON array of them, at most --max-frame bytes; the
// token must be the stream's user's. Each frame is handled as on WebSocket:
// one the server will not accept closes the stream with the code and reason
// a WebSocket would get, and the request is answered 400 with that reason.
// 204 means every frame was taken; answers (pong, subscribed) come on the
// stream. In a cluster the POST may reach any push node: one that does not
// hold the stream hands the frames over the internal gRPC to the node
// named in the connection ID (TakeFrames there).
func (s *Service) ServeSSEFrames(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		s.preflight(w, r)
		return
	}
	if r.Method != http.MethodPost {
		httpx.Error(w, r, herald.Errorf(herald.EMethod, "use POST"))
		return
	}
	if !s.originAllowed(r) {
		httpx.Error(w, r, herald.Errorf(herald.EForbidden, "origin %q is not allowed", r.Header.Get("Origin")))
		return
	}
	allowOrigin(w, r)
	id, ok := s.verify(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxFrame)))
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.ETooLarge, "frames over %d bytes", s.cfg.MaxFrame))
		return
	}
	f := herald.ClientFrames{User: id.User, Conn: r.URL.Query().Get("conn"), Body: body}
	res, err := s.frames(r.Context(), f)
	switch {
	case err != nil:
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "the push node holding event stream %q did not answer: %v", f.Conn, err))
	case !res.Found:
		httpx.Error(w, r, herald.Errorf(herald.ENotFound, "no open event stream %q of this user", f.Conn))
	case res.Code != 0:
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "%s (close %d)", res.Reason, res.Code))
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// frames hands f to the session it names, here or on the node holding it.
func (s *Service) frames(ctx context.Context, f herald.ClientFrames) (herald.FramesResult, error) {
	node, epoch, ok := connNode(f.Conn)
	switch {
	case !ok:
		return herald.FramesResult{}, nil
	case node == s.node.ID && epoch == s.node.Epoch:
		return s.TakeFrames(ctx, f)
	case s.relay == nil:
		return herald.FramesResult{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	defer cancel()
	routes, err := s.router.Lookup(ctx, []string{f.User})
	if err != nil {
		return herald.FramesResult{}, err
	}
	// The user's route names each live node holding one of their
	// connections: a stream on a node that died, or of another user, is
	// not found without asking anyone.
	for _, n := range routes[f.User] {
		if n.ID == node && n.Epoch == epoch {
			return s.relay.RelayFrames(ctx, n, f)
		}
	}
	return herald.FramesResult{}, nil
}

// connNode reads the node ID and the node's epoch out of a connection ID
// (node ID, epoch and a counter joined by "-", the last two in base 36; a
// node ID may hold "-" itself).
func connNode(conn string) (string, int64, bool) {
	i := strings.LastIndexByte(conn, '-')
	if i <= 0 {
		return "", 0, false
	}
	j := strings.LastIndexByte(conn[:i], '-')
	if j <= 0 {
		return "", 0, false
	}
	epoch, err := strconv.ParseInt(conn[j+1:i], 36, 64)
	return conn[:j], epoch, err == nil
}

// TakeFrames implements herald.FrameTaker: f's frames go to the user's
// event stream on this node, one at a time as from a WebSocket reader,
// under the stream's frame rate.
func (s *Service) TakeFrames(_ context.Context, f herald.ClientFrames) (herald.FramesResult, error) {
	var c *session
	for _, uc := range s.hub.userConns(f.User) {
		if uc.id == f.Conn {
			c = uc
		}
	}
	t, ok := c.transport().(*sseTransport)
	if !ok {
		return herald.FramesResult{}, nil
	}
	frames, code, reason := splitFrames(f.Body)
	t.mu.Lock()
	for _, fr := range frames {
		if code != 0 {
			break
		}
		if c.closing() {
			t.mu.Unlock()
			return herald.FramesResult{}, nil
		}
		now := time.Now()
		c.lastRead.Store(now.UnixNano())
		if !t.rate.Allow(now, float64(s.cfg.MaxFrameRate)) {
			code, reason = ClosePolicy, "too many frames: at most "+strconv.Itoa(s.cfg.MaxFrameRate)+" a second"
			break
		}
		code, reason = c.handleFrame(fr)
	}
	t.mu.Unlock()
	if code != 0 {
		c.close(code, reason)
	}
	return herald.FramesResult{Found: true, Code: code, Reason: reason}, nil
}

// splitFrames reads a POSTed body: one frame, or an array of them. A body
// that is neither gets the close code a WebSocket frame like it would.
func splitFrames(body []byte) ([]json.RawMessage, int, string) {
	if !utf8.Valid(body) {
		return nil, CloseInvalidPayload, "frames are not valid UTF-8"
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var fs []json.RawMessage
		if json.Unmarshal(trimmed, &fs) != nil {
			return nil, CloseInvalidPayload, "frames are not a JSON array of objects"
		}
		return fs, 0, ""
	}
	return []json.RawMessage{trimmed}, 0, ""
}

// preflight answers a browser's CORS preflight for POST /sse/frames from an
// allowed origin (its frames are JSON, and its token may be a header).
func (s *Service) preflight(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		httpx.Error(w, r, herald.Errorf(herald.EForbidden, "origin %q is not allowed", r.Header.Get("Origin")))
		return
	}
	allowOrigin(w, r)
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// allowOrigin lets an allowed cross-origin page read the answer.
func allowOrigin(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Add("Vary", "Origin")
	}
}
