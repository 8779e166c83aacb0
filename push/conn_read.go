package push

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/heraldpush/herald/internal/ws"
)

// The reader. The node's poller reads a client's socket when it has data:
// onPeek takes a read of nothing but pongs on the poller's own goroutine;
// any other read goes to onData, which parses whatever frames are complete
// (ws.Parser keeps an incomplete one) and acts on them. Any bad frame closes
// this connection only, with a code and reason that say what was wrong.

// errPeerClosed stops parsing at the client's close frame.
var errPeerClosed = errors.New("client sent close")

// onData handles what the client sent, or the end of its side (err); false
// stops the watch.
func (c *conn) onData(b []byte, err error) bool {
	if len(b) > 0 && !c.consume(b) {
		c.peerEnded()
		return false
	}
	if err != nil {
		c.close(CloseGoingAway, "connection lost")
		c.peerEnded()
		return false
	}
	return true
}

// onPeek handles a read that holds only whole pongs (the answers to the
// keep-alive loop's pings, most of what an idle connection sends) by
// noting the time, as onFrame would; it runs on the poller's goroutine, so
// it only looks. Anything else, or a pong while a message or frame is
// part-read, it leaves to onData and the parser.
func (c *conn) onPeek(b []byte) bool {
	if c.discarding || !c.parser.Idle() || !ws.OnlyPongs(b) {
		return false
	}
	c.lastRead.Store(time.Now().UnixNano())
	return true
}

// consume parses data; false when the client has closed its side.
func (c *conn) consume(data []byte) bool {
	if c.discarding {
		return true
	}
	err := c.parser.Feed(data, c.onFrame)
	var pe *ws.ProtocolError
	switch {
	case err == nil:
		return true
	case errors.Is(err, errPeerClosed):
		return false
	case errors.As(err, &pe):
		c.discarding = true
		c.close(pe.Code, pe.Reason)
	}
	return true
}

// onFrame acts on one client frame (or whole message).
func (c *conn) onFrame(op ws.Opcode, payload []byte) error {
	now := time.Now()
	c.lastRead.Store(now.UnixNano())
	if c.closing() { // close was called: only the client's close frame matters now
		if op == ws.OpClose {
			return errPeerClosed
		}
		return nil
	}
	switch op {
	case ws.OpClose:
		c.close(CloseNormal, "closed by client")
		return errPeerClosed
	case ws.OpPong:
		return nil // lastRead is all a pong is for
	}
	if !c.rate.Allow(now, float64(c.s.cfg.MaxFrameRate)) {
		return c.refuse(ClosePolicy, "too many frames: at most "+strconv.Itoa(c.s.cfg.MaxFrameRate)+" a second")
	}
	switch op {
	case ws.OpPing:
		c.enqueue(outItem{control: ws.OpPong, frame: append([]byte(nil), payload...)})
		return nil
	case ws.OpBinary:
		return c.refuse(CloseUnsupported, "binary frames are not supported; send JSON text")
	}
	if code, reason := c.handleFrame(payload); code != 0 {
		return c.refuse(code, reason)
	}
	return nil
}

// refuse closes the connection over a frame the server will not accept.
// Parsing goes on, in the closing state, to find the client's answering
// close frame.
func (c *conn) refuse(code int, reason string) error {
	c.close(code, reason)
	return nil
}

// handleFrame acts on one client text frame; a non-zero code closes the connection.
func (c *conn) handleFrame(data []byte) (int, string) {
	f, code, reason := parseClientFrame(data)
	if code != 0 {
		return code, reason
	}
	switch f.Type {
	case "ping":
		c.enqueue(outItem{frame: pongFrame})
	case "refresh":
		return c.refresh(f.Token)
	case "sub":
		return c.subscribe(f)
	case "unsub":
		return c.unsubscribe(f)
	case "ack":
		// An ack cannot cover what was never sent: clamping keeps a buggy
		// client from skipping messages on its next resume.
		seq := min(*f.Seq, c.lastSent.Load())
		if c.device != "" {
			c.s.acks.add(c.user, c.device, seq)
		}
		if c.s.receipts != nil {
			c.s.receipts.Ack(c.user, c.deviceKey(), seq, time.Now())
		}
	}
	return 0, ""
}

// parseClientFrame decodes and checks one client frame. A non-zero code is
// the close code for a frame the server will not accept, with its reason.
func parseClientFrame(data []byte) (clientFrame, int, string) {
	var f clientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return f, CloseInvalidPayload, "frame is not a JSON object"
	}
	switch f.Type {
	case "ping":
	case "ack":
		if f.Seq == nil {
			return f, ClosePolicy, "ack needs a seq"
		}
	case "refresh":
		if f.Token == "" {
			return f, ClosePolicy, "refresh needs a token"
		}
	case "sub", "unsub":
		if len(f.Topics) == 0 {
			return f, ClosePolicy, f.Type + " needs topics"
		}
	default:
		return f, ClosePolicy, "unknown frame type"
	}
	return f, 0, ""
}
