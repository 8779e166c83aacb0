package lane

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// A connection is idle while it waits for a request's first byte: Shutdown
// closes it then, and otherwise lets the request finish.
const (
	idle int32 = iota
	active
	closed
)

// conn is one connection the lane reads. Most connections to a `herald all`
// listener are WebSocket upgrades that the lane hands off at their first
// line, so what a served connection reuses from one request to the next
// (its session) is made only at its first served request, and the read
// buffer comes from a pool: 18,000 connections opened at once then leave
// next to no garbage (the heap they would grow stays in RSS a while).
type conn struct {
	s     *Server
	nc    net.Conn
	state atomic.Int32
	head  []byte // the current request's head as read, for a hand-off
	*session
}

// session is what a connection the lane serves keeps between requests.
type session struct {
	tmpl   *http.Request // the connection's context and address
	req    http.Request
	url    url.URL
	hdr    http.Header
	vals   [maxHeaders]string
	nhdr   int
	names  map[string]string // raw header name -> canonical key
	values map[string]string // header values seen before
	body   bodyReader
	buf    []byte // the body's bytes
	w      response
	out    []byte
	cancel context.CancelFunc
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{s: s, nc: nc}
}

// serving makes the connection's session, at its first request that the
// lane serves.
func (c *conn) serving() {
	if c.session != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.session = &session{cancel: cancel, hdr: http.Header{}, names: map[string]string{}, values: map[string]string{}}
	c.tmpl = newRequest(ctx, c.nc)
	c.w.h = http.Header{}
}

// readers are the connections' read buffers.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// bodyReader is the request body: the bytes the lane read, as an
// io.ReadCloser. One slice is all its state, so that dropping the
// connection's body buffer (dropLarge) drops the reader's hold on it too.
type bodyReader struct {
	unread []byte
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if len(b.unread) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.unread)
	b.unread = b.unread[n:]
	return n, nil
}

func (*bodyReader) Close() error { return nil }

// Bytes is the unread body, for a handler that decodes it in place
// (httpx.Buffered) rather than copying it out.
func (b *bodyReader) Bytes() []byte { return b.unread }

// serve reads and answers requests until the peer or the server closes the
// connection, or a request is not the lane's (then net/http gets it).
func (c *conn) serve() {
	handedOff := false
	br := readers.Get().(*bufio.Reader)
	br.Reset(c.nc)
	defer func() {
		if c.session != nil {
			c.cancel()
		}
		if !handedOff {
			c.nc.Close()
		}
		br.Reset(nil)
		readers.Put(br)
		c.s.untrack(c)
	}()
	defer recoverHandler(c)
	wait := c.s.cfg.ReadHeaderTimeout // the first request: from the accept
	for {
		c.head = c.head[:0]
		if c.session != nil {
			c.nhdr = 0
			clear(c.hdr)
		}
		if err := c.nc.SetReadDeadline(deadline(wait)); err != nil {
			return
		}
		if _, err := br.Peek(1); err != nil {
			return
		}
		if !c.state.CompareAndSwap(idle, active) {
			return // closed by Shutdown while idle
		}
		if c.session != nil { // a request was served on this connection: a POST
			// After a POST, net/http skips the CR and LF bytes an old client
			// may send after the body (RFC 9112, section 2.2); so does the
			// lane, or the next request would be handed off as malformed.
			// Fewer than four bytes before the client's EOF end the
			// connection there without an answer, as in net/http.
			peek, err := br.Peek(4)
			if err != nil {
				return
			}
			br.Discard(leadingCRLF(peek))
		}
		start := time.Now()
		c.nc.SetReadDeadline(headDeadline(start, c.s.cfg.ReadHeaderTimeout, c.s.cfg.ReadTimeout))
		h, err := c.readHead(br)
		if errors.Is(err, errHandOff) {
			if h.path != "" {
				c.s.stats.HandedOff.Add(1)
			}
			handedOff = true
			c.handOff(br)
			return
		}
		if err != nil {
			return
		}
		if c.s.cfg.ReadTimeout > 0 {
			c.nc.SetReadDeadline(start.Add(c.s.cfg.ReadTimeout))
		}
		if h.route.Admit != nil && !c.admit(h) {
			c.linger(br) // refused from the head: answered, the body never buffered
			return
		}
		if ok, eof := c.readBody(br, h.length); !ok {
			if eof {
				// The client ended its side within the body: net/http would
				// call the handler, which answers that the body is cut
				// short. It gets the request, as read, to do just that.
				c.head = append(c.head, c.buf...)
				c.s.stats.HandedOff.Add(1)
				handedOff = true
				c.handOff(br)
			}
			return
		}
		// The read deadline stays: nothing reads the socket until the next
		// request, whose wait sets its own.
		// Counted before the answer goes out, so that a client that has
		// read its answer finds it counted.
		c.s.stats.Served.Add(1)
		closeAfter := c.answer(h)
		if closeAfter || !c.idleAgain() {
			return
		}
		wait = c.s.cfg.IdleTimeout
	}
}

// idleAgain marks the connection idle between requests, unless the server
// is shutting down.
func (c *conn) idleAgain() bool {
	c.state.Store(idle)
	return !c.s.isClosing()
}

// closeIfIdle closes the connection if it is waiting for a request.
func (c *conn) closeIfIdle() {
	if c.state.CompareAndSwap(idle, closed) {
		c.nc.Close()
	}
}

// handOff gives the connection, with the bytes read of the current request
// and those buffered behind it, to the net/http server.
func (c *conn) handOff(br *bufio.Reader) {
	c.nc.SetDeadline(time.Time{})
	n := br.Buffered()
	buf := make([]byte, 0, len(c.head)+n)
	buf = append(buf, c.head...)
	if n > 0 {
		b, _ := br.Peek(n)
		buf = append(buf, b...)
	}
	c.s.fallback.put(&prefixConn{Conn: c.nc, buf: buf})
}

// readBody reads the n bytes of the request's body. The buffer grows with
// what arrives (doubling, from what the connection kept), never to the
// declared Content-Length ahead of the bytes: a client that declares a
// megabyte and sends ten bytes costs ten bytes and a little, not a megabyte.
//
// It reports whether the body came whole, and if not, whether that is
// because the peer ended its side (eof) rather than a timeout or an error.
func (c *conn) readBody(br *bufio.Reader, n int) (ok, eof bool) {
	buf := c.buf[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, max(2*cap(buf), bodyChunk)))
			copy(grown, buf)
			buf = grown
		}
		m, err := br.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			c.buf = buf
			return false, errors.Is(err, io.EOF)
		}
	}
	c.buf = buf
	c.body.unread = c.buf
	return true, false
}

// Closing a socket with unread bytes in it makes the kernel send a reset,
// which can destroy the refusal just written before the client reads it
// (a client sends its head and body together). So, as net/http does, the
// lane ends its side first and reads what the client still sends, into
// the connection's small read buffer, for a bounded time and amount.
const (
	lingerTime  = time.Second
	lingerBytes = 256 << 10
)

// linger half-closes the connection and discards what the client still
// sends, until it closes too or the bound is reached.
func (c *conn) linger(br *bufio.Reader) {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	for drained := 0; drained < lingerBytes; {
		n, err := br.Discard(min(max(br.Buffered(), 1), lingerBytes-drained))
		drained += n
		if err != nil {
			return // the client closed too, or the time is up
		}
	}
}

// leadingCRLF counts the CR and LF bytes that b begins with.
func leadingCRLF(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	return n
}

// bodyChunk is the least a body buffer grows by: a send request's body is
// a few hundred bytes, read in one go.
const bodyChunk = 4 << 10

// admit runs the route's Admit on the head. A refusal is written at once,
// with Connection: close (the body is never read, so the connection cannot
// carry another request), and false returned.
func (c *conn) admit(h head) bool {
	r := c.request(h, http.NoBody)
	c.w.reset()
	if h.route.Admit(&c.w, r) {
		return true
	}
	c.out = c.w.appendTo(c.out[:0], true)
	if c.s.cfg.WriteTimeout > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	}
	c.nc.Write(c.out)
	return false
}

// request is the connection's request for head h, with body.
func (c *conn) request(h head, body io.ReadCloser) *http.Request {
	r := &c.req
	*r = *c.tmpl
	c.url = url.URL{Path: h.path}
	r.Method, r.URL, r.RequestURI, r.Host = h.method, &c.url, h.path, h.host
	r.Header, r.ContentLength, r.Body, r.Close = c.hdr, int64(h.length), body, h.closeAfter
	return r
}

// answer runs the handler on the request and writes its answer in one
// write; it reports whether the connection is to close after it.
func (c *conn) answer(h head) bool {
	r := c.request(h, &c.body)
	c.w.reset()
	handler := h.route.Handler
	if handler == nil {
		handler = c.s.cfg.Handler
	}
	handler.ServeHTTP(&c.w, r)
	closeAfter := h.closeAfter || c.w.h.Get("Connection") == "close"
	c.out = c.w.appendTo(c.out[:0], closeAfter)
	if c.s.cfg.WriteTimeout > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	}
	if _, err := c.nc.Write(c.out); err != nil {
		return true
	}
	c.dropLarge()
	return closeAfter
}

// keepBuf is the largest buffer a connection keeps between requests: a
// sender that posted one batch of a megabyte does not pin a megabyte for as
// long as its connection stays open.
const keepBuf = 64 << 10

func (c *conn) dropLarge() {
	if cap(c.buf) > keepBuf {
		c.buf = nil
		c.body.unread = nil
	}
	if cap(c.out) > keepBuf {
		c.out = nil
	}
	if cap(c.w.body) > keepBuf {
		c.w.body = nil
	}
}

// deadline is now+d, or none for d <= 0.
func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// headDeadline is when a head that started at start must be read by: the
// sooner of the two timeouts that are set.
func headDeadline(start time.Time, header, read time.Duration) time.Time {
	d := header
	if d <= 0 || (read > 0 && read < d) {
		d = read
	}
	if d <= 0 {
		return time.Time{}
	}
	return start.Add(d)
}
