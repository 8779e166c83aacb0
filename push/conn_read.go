package push

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/ws"
)

// The reader. The node's poller calls onReadable when a client's socket has
// data; it reads once into a pooled buffer, parses whatever frames are
// complete (ws.Parser keeps an incomplete one), and acts on them. Any bad
// frame closes this connection only, with a code and reason that say what
// was wrong.

// readBufSize is one read's buffer: client frames are acks and pings, a few
// dozen bytes; a bigger frame arrives over several reads.
const readBufSize = 4096

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// errPeerClosed stops parsing at the client's close frame.
var errPeerClosed = errors.New("client sent close")

// onReadable reads what the client sent; false stops the watch.
func (c *conn) onReadable() bool {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	n, err := c.nc.Read(*bp)
	if n > 0 && !c.consume((*bp)[:n]) {
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
			c.s.receipts.ack(c.user, c.deviceKey(), seq, time.Now())
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
