package main

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldpush/herald/internal/netpoll"
	"github.com/heraldpush/herald/internal/ws"
)

// Herald's own layer, bare: internal/ws for the upgrade and the frames,
// internal/netpoll for readiness (one epoll goroutine reads every idle
// connection and notes a pong without starting a goroutine), pings written
// straight from the keep-alive loop. herald all adds a push node's state
// per connection (hub, routes, receipts, tokens) on top of this.
func heraldServer(addr string, k *keepAlive) func(*http.ServeMux) error {
	return func(mux *http.ServeMux) error {
		mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
			nc, rest, err := ws.Upgrade(w, r)
			if err != nil {
				return
			}
			// k before add: the keep-alive loop may close c at once.
			c := &heraldConn{nc: nc, parser: ws.Parser{MaxMessage: readLimit}, k: k}
			c.lastRead.Store(time.Now().UnixNano())
			if sc, ok := nc.(syscall.Conn); ok {
				c.raw, _ = sc.SyscallConn()
			}
			if _, err := nc.Write(ws.AppendFrame(nil, ws.OpText, hello)); err != nil {
				nc.Close()
				return
			}
			if len(rest) > 0 && !c.consume(rest) {
				nc.Close()
				return
			}
			k.add(c)
			stop, err := netpoll.Watch(nc, netpoll.Handler{Peek: c.onPeek, Data: c.onData})
			if err != nil {
				c.close()
				return
			}
			c.mu.Lock()
			c.stop = stop
			closed := c.closed
			c.mu.Unlock()
			if closed { // closed by a read before the watch was stored
				stop()
			}
		})
		return http.ListenAndServe(addr, mux)
	}
}

var heraldPing = ws.AppendFrame(nil, ws.OpPing, nil)

type heraldConn struct {
	nc       net.Conn
	raw      syscall.RawConn
	parser   ws.Parser
	lastRead atomic.Int64
	k        *keepAlive
	mu       sync.Mutex
	stop     func()
	closed   bool
}

func (c *heraldConn) onData(b []byte, err error) bool {
	if (len(b) > 0 && !c.consume(b)) || err != nil {
		c.close()
		return false
	}
	return true
}

// onPeek takes a read of whole pongs on the poller's goroutine, as the push
// node does (push/transport_ws_read.go).
func (c *heraldConn) onPeek(b []byte) bool {
	if !c.parser.Idle() || !ws.OnlyPongs(b) {
		return false
	}
	c.lastRead.Store(time.Now().UnixNano())
	return true
}

// consume parses what arrived; false when the connection must end.
func (c *heraldConn) consume(b []byte) bool {
	c.lastRead.Store(time.Now().UnixNano())
	return c.parser.Feed(b, func(op ws.Opcode, _ []byte) error {
		if op == ws.OpClose {
			return net.ErrClosed
		}
		return nil
	}) == nil
}

// ping closes a connection silent for the pong timeout, else writes a ping
// if the socket takes it at once (a full socket buffer skips one round).
func (c *heraldConn) ping() error {
	if time.Since(time.Unix(0, c.lastRead.Load())) > pongTimeout {
		return net.ErrClosed
	}
	if c.raw == nil {
		return nil
	}
	_, err := netpoll.TryWrite(c.raw, heraldPing)
	return err
}

func (c *heraldConn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	stop := c.stop
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	c.nc.Close()
	c.k.gone(c)
}
