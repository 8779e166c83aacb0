package main

import (
	"net"
	"net/http"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// gobwas/ws: the upgrade without the HTTP server's buffers kept, then a
// reader goroutine per connection reading frame headers straight off the
// socket (no buffered reader). The library's event-driven use needs an
// epoll loop of one's own (mailru/easygo's netpoll, not served by this
// machine's module proxy); a goroutine per connection is its plain use.
func gobwasServer(addr string, k *keepAlive) func(*http.ServeMux) error {
	return func(mux *http.ServeMux) error {
		mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
			c, _, _, err := ws.UpgradeHTTP(r, w)
			if err != nil {
				return
			}
			g := &gobwasConn{c: c}
			if wsutil.WriteServerText(c, hello) != nil {
				c.Close()
				return
			}
			k.add(g)
			go g.read(k)
		})
		return http.ListenAndServe(addr, mux)
	}
}

type gobwasConn struct{ c net.Conn }

func (g *gobwasConn) ping() error {
	g.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return ws.WriteFrame(g.c, ws.NewPingFrame(nil))
}
func (g *gobwasConn) close() { g.c.Close() }

func (g *gobwasConn) read(k *keepAlive) {
	defer k.gone(g)
	defer g.c.Close()
	for {
		g.c.SetReadDeadline(time.Now().Add(pongTimeout))
		h, err := ws.ReadHeader(g.c)
		if err != nil || h.Length > readLimit {
			return
		}
		payload := make([]byte, h.Length)
		if _, err := readFull(g.c, payload); err != nil {
			return
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		if h.OpCode == ws.OpClose {
			return
		}
		if h.OpCode == ws.OpPing {
			g.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if ws.WriteFrame(g.c, ws.NewPongFrame(payload)) != nil {
				return
			}
		}
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
