package main

import (
	"net/http"
	"time"

	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"
)

// lesismal/nbio: event-driven on epoll (no goroutine per connection); its
// own HTTP server parses the upgrade and serves the other endpoints too.
func nbioServer(addr string, k *keepAlive) func(*http.ServeMux) error {
	up := websocket.NewUpgrader()
	up.KeepaliveTime = pongTimeout
	up.MessageLengthLimit = int(readLimit)
	up.SetPongHandler(func(c *websocket.Conn, _ string) { c.SetReadDeadline(time.Now().Add(pongTimeout)) })
	up.OnMessage(func(c *websocket.Conn, _ websocket.MessageType, _ []byte) {
		c.SetReadDeadline(time.Now().Add(pongTimeout))
	})
	up.OnClose(func(c *websocket.Conn, _ error) { k.gone(nbioConn{c}) })
	return func(mux *http.ServeMux) error {
		mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			if c.WriteMessage(websocket.TextMessage, hello) != nil {
				c.Close()
				return
			}
			k.add(nbioConn{c})
		})
		engine := nbhttp.NewEngine(nbhttp.Config{
			Network: "tcp", Addrs: []string{addr}, Handler: mux,
			MaxLoad: 1 << 20, ReleaseWebsocketPayload: true,
		})
		if err := engine.Start(); err != nil {
			return err
		}
		select {}
	}
}

type nbioConn struct{ c *websocket.Conn }

func (n nbioConn) ping() error { return n.c.WriteMessage(websocket.PingMessage, nil) }
func (n nbioConn) close()      { n.c.Close() }
