package lane

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// handoff is the listener the net/http server accepts from: it yields the
// connections the lane hands on.
type handoff struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{ch: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.ch:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.addr }

// put gives c to the net/http server, or closes it once that has stopped.
func (h *handoff) put(c net.Conn) {
	select {
	case h.ch <- c:
	case <-h.done:
		c.Close()
	}
}

// prefixConn is a connection some of whose bytes the lane has read already:
// net/http reads them first.
type prefixConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		if len(c.buf) == 0 {
			c.buf = nil // keep no array alive for the connection's lifetime
		}
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection, as net/http does before closing one
// whose request it did not read to the end (so the peer gets the answer, not
// a reset): an embedded net.Conn would hide the TCP connection's method.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// errPrefixUnread is SyscallConn's answer while bytes the lane read wait to
// be read: reading the descriptor would skip them.
var errPrefixUnread = errors.New("lane: the connection has bytes read ahead; read it through Read")

// SyscallConn gives the descriptor once the bytes read ahead are consumed,
// as they are by the time a WebSocket upgrade hijacks the connection: a push
// node then watches it with epoll (internal/netpoll) like any other, instead
// of giving it a reading goroutine and its buffer.
func (c *prefixConn) SyscallConn() (syscall.RawConn, error) {
	c.mu.Lock()
	unread := len(c.buf)
	c.mu.Unlock()
	if unread > 0 {
		return nil, errPrefixUnread
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}
