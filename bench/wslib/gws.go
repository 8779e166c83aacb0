package main

import (
	"net/http"
	"time"

	"github.com/lxzan/gws"
)

// lxzan/gws: a reader goroutine per connection (ReadLoop) with event
// callbacks, its buffers sized small.
func gwsServer(addr string, k *keepAlive) func(*http.ServeMux) error {
	up := gws.NewUpgrader(&gwsHandler{k: k}, &gws.ServerOption{
		ReadBufferSize: 512, WriteBufferSize: 256, ReadMaxPayloadSize: int(readLimit),
	})
	return func(mux *http.ServeMux) error {
		mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r)
			if err != nil {
				return
			}
			go c.ReadLoop()
		})
		return http.ListenAndServe(addr, mux)
	}
}

type gwsHandler struct {
	gws.BuiltinEventHandler
	k *keepAlive
}

type gwsConn struct{ c *gws.Conn }

func (g gwsConn) ping() error { return g.c.WritePing(nil) }
func (g gwsConn) close()      { g.c.NetConn().Close() }

func (h *gwsHandler) OnOpen(c *gws.Conn) {
	c.SetReadDeadline(time.Now().Add(pongTimeout))
	if c.WriteString(string(hello)) != nil {
		c.NetConn().Close()
		return
	}
	h.k.add(gwsConn{c})
}
func (h *gwsHandler) OnClose(c *gws.Conn, err error) { h.k.gone(gwsConn{c}) }
func (h *gwsHandler) OnPong(c *gws.Conn, payload []byte) {
	c.SetReadDeadline(time.Now().Add(pongTimeout))
}
func (h *gwsHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	c.SetReadDeadline(time.Now().Add(pongTimeout))
	m.Close()
}
