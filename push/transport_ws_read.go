package push

import (
	"errors"
	"strconv"
	"time"

	"github.com/heraldpush/herald/internal/ws"
)

// The WebSocket reader. The node's poller reads a client's socket when it has data:
// onPeek takes a read of nothing but pongs on the poller's own goroutine;
// any other read goes to onData, which parses whatever frames are complete
// (ws.Parser keeps an incomplete one): control frames it answers itself,
// text messages go to the session (handleFrame). Any bad frame closes this
// connection only, with a code and reason that say what was wrong.

// errPeerClosed stops parsing at the client's close frame.
var errPeerClosed = errors.New("client sent close")

// onData handles what the client sent, or the end of its side (err); false
// stops the watch.
func (t *wsTransport) onData(b []byte, err error) bool {
	if len(b) > 0 && !t.consume(b) {
		t.peerEnded()
		return false
	}
	if err != nil {
		t.c.close(CloseGoingAway, reasonConnLost)
		t.peerEnded()
		return false
	}
	return true
}

// onPeek handles a read that holds only whole pongs (the answers to the
// keep-alive loop's pings, most of what an idle connection sends) by
// noting the time, as onFrame would; it runs on the poller's goroutine, so
// it only looks. Anything else, or a pong while a message or frame is
// part-read, it leaves to onData and the parser.
func (t *wsTransport) onPeek(b []byte) bool {
	if t.discarding || !t.parser.Idle() || !ws.OnlyPongs(b) {
		return false
	}
	t.c.lastRead.Store(time.Now().UnixNano())
	return true
}

// consume parses data; false when the client has closed its side.
func (t *wsTransport) consume(data []byte) bool {
	if t.discarding {
		return true
	}
	err := t.parser.Feed(data, t.onFrame)
	var pe *ws.ProtocolError
	switch {
	case err == nil:
		return true
	case errors.Is(err, errPeerClosed):
		return false
	case errors.As(err, &pe):
		t.discarding = true
		t.c.close(pe.Code, pe.Reason)
	}
	return true
}

// onFrame acts on one client frame (or whole message).
func (t *wsTransport) onFrame(op ws.Opcode, payload []byte) error {
	now := time.Now()
	t.c.lastRead.Store(now.UnixNano())
	if t.c.closing() { // close was called: only the client's close frame matters now
		if op == ws.OpClose {
			return errPeerClosed
		}
		return nil
	}
	switch op {
	case ws.OpClose:
		t.c.close(CloseNormal, reasonClientClosed)
		return errPeerClosed
	case ws.OpPong:
		return nil // lastRead is all a pong is for
	}
	if !t.rate.Allow(now, float64(t.c.s.cfg.MaxFrameRate)) {
		return t.refuse(ClosePolicy, "too many frames: at most "+strconv.Itoa(t.c.s.cfg.MaxFrameRate)+" a second")
	}
	switch op {
	case ws.OpPing:
		t.c.enqueue(outItem{ctl: ctlPong, frame: append([]byte(nil), payload...)})
		return nil
	case ws.OpBinary:
		if t.c.enc != encProto {
			return t.refuse(CloseUnsupported, "binary frames are not supported; send JSON text (or choose the subprotocol "+ProtobufProtocol+")")
		}
	case ws.OpText:
		if t.c.enc == encProto {
			return t.refuse(CloseUnsupported, "this connection speaks "+ProtobufProtocol+": send binary frames")
		}
	}
	if code, reason := t.c.handleFrame(payload); code != 0 {
		return t.refuse(code, reason)
	}
	return nil
}

// refuse closes the connection over a frame the server will not accept.
// Parsing goes on, in the closing state, to find the client's answering
// close frame.
func (t *wsTransport) refuse(code int, reason string) error {
	t.c.close(code, reason)
	return nil
}
