package push

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldpush/herald/internal/bucket"
	"github.com/heraldpush/herald/internal/netpoll"
)

// sseTransport is a session's Server-Sent Events stream (the HTML
// standard's text/event-stream), for networks that break WebSocket
// upgrades. Each frame of docs/protocol.md is one event whose data is the
// same JSON as on WebSocket; msg and pub events carry an id, the session's
// resume position (session.eventID), which a browser sends back as
// Last-Event-ID when it reconnects. The client's frames come as POST
// requests (handler_sse.go), one at a time per session.
//
// Like the WebSocket transport it holds no goroutine and no buffer while
// idle: the socket is taken from net/http after the response head, and the
// node's poller watches it for the client's end.
type sseTransport struct {
	c       *session
	nc      net.Conn
	raw     syscall.RawConn // for heartbeats written without a writer
	chunked bool            // HTTP/1.1: each flush is one chunk; HTTP/1.0: the body ends with the connection

	wbuf *[]byte // events waiting for one write; only while a writer runs
	// partial is what a heartbeat written from the keep-alive loop left
	// unwritten: it goes out before the next chunk.
	partial []byte

	// mu orders the client's POSTed frames: the session handles one at a
	// time, as from a WebSocket reader.
	mu        sync.Mutex
	rate      bucket.Bucket // guarded by mu
	stopWatch func()
	peerGone  atomic.Bool
}

func newSSETransport(c *session, nc net.Conn, chunked bool) *sseTransport {
	t := &sseTransport{c: c, nc: nc, chunked: chunked}
	if sc, ok := nc.(syscall.Conn); ok {
		t.raw, _ = sc.SyscallConn()
	}
	return t
}

// start hands the socket to the node's poller, which reports the client's
// end; anything a client sends on an event stream is dropped.
func (t *sseTransport) start() error {
	stop, err := netpoll.Watch(t.nc, netpoll.Handler{Data: t.onData})
	if err != nil {
		t.stopWatch = func() {}
		return err
	}
	t.stopWatch = stop
	return nil
}

func (t *sseTransport) onData(_ []byte, err error) bool {
	if err != nil {
		t.c.close(CloseGoingAway, reasonConnLost)
		t.peerGone.Store(true)
		return false
	}
	return true
}

func (t *sseTransport) buf() *[]byte {
	if t.wbuf == nil {
		t.wbuf = writeBufs.Get().(*[]byte)
	}
	return t.wbuf
}

// write appends frame as one event: an id line for a message (msg, pub),
// then the JSON as data lines. A line break inside the JSON (a payload
// sent pretty-printed) starts a new data line: the client joins them with
// "\n", which is still JSON whitespace.
func (t *sseTransport) write(frame []byte, _ *sharedFrame) int {
	b := t.buf()
	if bytes.HasPrefix(frame, msgPrefix) || bytes.HasPrefix(frame, pubPrefix) {
		*b = append(*b, "id: "...)
		*b = t.c.appendEventID(*b)
		*b = append(*b, '\n')
	}
	*b = append(*b, "data: "...)
	for len(frame) > 0 {
		i := bytes.IndexAny(frame, "\r\n")
		if i < 0 {
			*b = append(*b, frame...)
			break
		}
		*b = append(*b, frame[:i]...)
		*b = append(*b, "\ndata: "...)
		if frame[i] == '\r' && i+1 < len(frame) && frame[i+1] == '\n' {
			i++
		}
		frame = frame[i+1:]
	}
	*b = append(*b, "\n\n"...)
	return len(*b)
}

var (
	msgPrefix = []byte(`{"type":"msg"`)
	pubPrefix = []byte(`{"type":"pub"`)
)

// heartbeat is a comment line: it keeps proxies from timing the stream out
// and lets a dead client's socket fail a write.
const heartbeat = ":\n"

func (t *sseTransport) control(k controlKind, _ []byte) {
	if k == ctlPing {
		b := t.buf()
		*b = append(*b, heartbeat...)
	}
}

func (t *sseTransport) flush(timeout time.Duration) (bool, error) {
	if (t.wbuf == nil || len(*t.wbuf) == 0) && len(t.partial) == 0 {
		return false, nil
	}
	t.nc.SetWriteDeadline(time.Now().Add(timeout))
	bufs := net.Buffers{t.partial}
	if t.wbuf != nil && len(*t.wbuf) > 0 {
		bufs = append(bufs, t.frame(*t.wbuf)...)
	}
	_, err := bufs.WriteTo(t.nc)
	t.partial = nil
	if t.wbuf != nil {
		*t.wbuf = (*t.wbuf)[:0]
	}
	return true, err
}

// frame wraps body as one chunk when the response is chunked.
func (t *sseTransport) frame(body []byte) net.Buffers {
	if !t.chunked {
		return net.Buffers{body}
	}
	head := strconv.AppendInt(make([]byte, 0, 18), int64(len(body)), 16)
	return net.Buffers{append(head, "\r\n"...), body, []byte("\r\n")}
}

func (t *sseTransport) release() { releaseBuf(&t.wbuf) }

// heartbeatChunk is a heartbeat as the keep-alive loop writes it.
var heartbeatChunk, heartbeatRaw = []byte("2\r\n" + heartbeat + "\r\n"), []byte(heartbeat)

func (t *sseTransport) ping() pingResult {
	if t.raw == nil {
		return pingNotWritten
	}
	p := heartbeatRaw
	if t.chunked {
		p = heartbeatChunk
	}
	n, err := netpoll.TryWrite(t.raw, p)
	switch {
	case err != nil:
		return pingFailed
	case n == 0:
		return pingNotWritten
	case n < len(p):
		t.partial = append([]byte(nil), p[n:]...)
		return pingPart
	}
	return pingWritten
}

// end sends what is buffered and a close frame, the code and reason a
// WebSocket client would get in its close frame, then ends the body. An
// event stream has no closing handshake to wait for.
func (t *sseTransport) end(code int, reason string) {
	t.write(closeFrame(code, reason), nil)
	t.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	bufs := append(net.Buffers{t.partial}, t.frame(*t.wbuf)...)
	if t.chunked {
		bufs = append(bufs, []byte("0\r\n\r\n"))
	}
	bufs.WriteTo(t.nc)
	t.partial = nil
	t.release()
	if t.stopWatch != nil {
		t.stopWatch()
	}
	t.nc.Close()
	t.peerGone.Store(true)
}

func (t *sseTransport) cut() { t.nc.Close() }

func (t *sseTransport) answersPings() bool { return false }
