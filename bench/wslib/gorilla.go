package main

import (
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// gorilla/websocket with small pooled buffers: a 512-byte read buffer, a
// write buffer taken from a pool only while a frame is written, and the
// one reader goroutine per connection that the library needs (it has no
// readiness API).
func gorillaServer(addr string, k *keepAlive) func(*http.ServeMux) error {
	up := websocket.Upgrader{ReadBufferSize: 512, WriteBufferSize: 256, WriteBufferPool: &sync.Pool{}}
	return func(mux *http.ServeMux) error {
		mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			g := &gorillaConn{c: c}
			c.SetReadLimit(readLimit)
			c.SetReadDeadline(time.Now().Add(pongTimeout))
			c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(pongTimeout)) })
			if c.WriteMessage(websocket.TextMessage, hello) != nil {
				c.Close()
				return
			}
			k.add(g)
			go func() {
				defer k.gone(g)
				defer c.Close()
				for {
					if _, _, err := c.NextReader(); err != nil {
						return
					}
					c.SetReadDeadline(time.Now().Add(pongTimeout))
				}
			}()
		})
		return http.ListenAndServe(addr, mux)
	}
}

type gorillaConn struct{ c *websocket.Conn }

func (g *gorillaConn) ping() error {
	return g.c.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second))
}
func (g *gorillaConn) close() { g.c.Close() }
