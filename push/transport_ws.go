package push

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldpush/herald/internal/bucket"
	"github.com/heraldpush/herald/internal/netpoll"
	"github.com/heraldpush/herald/internal/ws"
)

// wsTransport is a session's WebSocket (RFC 6455): frames in a pooled
// buffer written with one syscall per flush, the closing handshake, and
// the reader the node's poller runs when the client sends something
// (transport_ws_read.go). An idle one has no goroutine and no buffer.
type wsTransport struct {
	c   *session
	nc  net.Conn
	raw syscall.RawConn // for pings written without a writer; nil without a file descriptor

	wbuf *[]byte // frames waiting for one write; only while a writer runs

	// Reader state: the poller never runs two readers of one connection at once.
	parser ws.Parser
	rate   bucket.Bucket // client frames per second: a client that acks every message and pings sends a few; a flood is cut off (1008)
	// discarding: the framing is broken, so bytes are dropped until the
	// client goes (the close frame already sent is not lost to a reset).
	// Once the session is closing, frames are still parsed, for the
	// client's close.
	discarding bool
	stopWatch  func()
	peerGone   atomic.Bool // the client's side has ended (its close frame, or EOF)
}

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func newWSTransport(c *session, nc net.Conn, deflate bool) *wsTransport {
	t := &wsTransport{c: c, nc: nc}
	t.parser.MaxMessage = c.s.cfg.MaxFrame
	t.parser.Deflate = deflate
	if sc, ok := nc.(syscall.Conn); ok {
		t.raw, _ = sc.SyscallConn()
	}
	return t
}

// start reads the frames the client sent right behind its request, then
// hands the socket to the node's poller.
func (t *wsTransport) start(rest []byte) error {
	if len(rest) > 0 && !t.consume(rest) {
		t.peerEnded()
	}
	stop, err := netpoll.Watch(t.nc, netpoll.Handler{Peek: t.onPeek, Data: t.onData})
	if err != nil {
		t.stopWatch = func() {}
		return err
	}
	t.stopWatch = stop
	return nil
}

// write appends a text frame, compressed when permessage-deflate was
// negotiated and the frame is long enough to gain from it.
// Frames of the protobuf encoding go as binary frames. A frame many
// sessions send is compressed once, by the first of them (z).
func (t *wsTransport) write(frame []byte, z *sharedFrame) int {
	op := ws.OpText
	if t.c.enc == encProto {
		op = ws.OpBinary
	}
	if t.parser.Deflate && len(frame) >= t.c.s.cfg.CompressThreshold {
		if t.wbuf == nil {
			t.wbuf = writeBufs.Get().(*[]byte)
		}
		if z != nil {
			*t.wbuf = append(*t.wbuf, z.deflated(op, frame)...)
		} else {
			*t.wbuf = ws.AppendDeflated(*t.wbuf, op, frame)
		}
		return len(*t.wbuf)
	}
	t.appendFrame(op, frame)
	return len(*t.wbuf)
}

func (t *wsTransport) control(k controlKind, payload []byte) {
	op := ws.OpPing
	if k == ctlPong {
		op = ws.OpPong
	}
	t.appendFrame(op, payload)
}

func (t *wsTransport) appendFrame(op ws.Opcode, payload []byte) {
	if t.wbuf == nil {
		t.wbuf = writeBufs.Get().(*[]byte)
	}
	*t.wbuf = ws.AppendFrame(*t.wbuf, op, payload)
}

func (t *wsTransport) flush(timeout time.Duration) (bool, error) {
	if t.wbuf == nil || len(*t.wbuf) == 0 {
		return false, nil
	}
	t.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := t.nc.Write(*t.wbuf)
	*t.wbuf = (*t.wbuf)[:0]
	return true, err
}

// release returns the buffer to the pool, unless a burst grew it large.
func (t *wsTransport) release() { releaseBuf(&t.wbuf) }

// releaseBuf returns a transport's write buffer to the pool, unless a
// burst grew it large, and leaves the transport without one.
func releaseBuf(b **[]byte) {
	if *b == nil {
		return
	}
	if cap(**b) <= 4*flushAt {
		**b = (**b)[:0]
		writeBufs.Put(*b)
	}
	*b = nil
}

// pingFrame is an empty ping.
var pingFrame = ws.AppendFrame(nil, ws.OpPing, nil)

// ping writes the two bytes of an empty ping straight to the socket when
// it takes them at once: no goroutine, no deadline.
func (t *wsTransport) ping() pingResult {
	if t.raw == nil {
		return pingNotWritten
	}
	n, err := netpoll.TryWrite(t.raw, pingFrame)
	switch {
	case err != nil:
		return pingFailed
	case n == 0:
		return pingNotWritten
	case n < len(pingFrame):
		t.wbuf = writeBufs.Get().(*[]byte)
		*t.wbuf = append(*t.wbuf, pingFrame[n:]...)
		return pingPart
	}
	return pingWritten
}

// end sends what is buffered and the close frame, then gives the client a
// moment to answer before closing the socket: closing at once, with the
// client's frames still unread, makes the kernel reset the connection, and
// the client may never see the code and reason.
func (t *wsTransport) end(code int, reason string) {
	t.appendFrame(ws.OpClose, ws.ClosePayload(code, reason))
	t.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	_, err := t.nc.Write(*t.wbuf)
	t.release()
	// Polled: only closing connections wait here, and a channel per
	// connection would cost every open one.
	for end := time.Now().Add(closeGrace); err == nil && !t.peerGone.Load() && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	if t.stopWatch != nil {
		t.stopWatch()
	}
	t.nc.Close()
	t.peerEnded()
}

// closeGrace bounds the wait for the client's side of the closing handshake.
const closeGrace = time.Second

func (t *wsTransport) cut() { t.nc.Close() }

func (t *wsTransport) answersPings() bool { return true }

// peerEnded records that the client will send nothing more.
func (t *wsTransport) peerEnded() { t.peerGone.Store(true) }
