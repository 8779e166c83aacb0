package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldpush/herald/client"
)

// A connection that closes right after its hello (as a client must close
// over a text frame that is not UTF-8) makes the client back off, not
// reconnect flat out.
func TestShortConnectionsBackOff(t *testing.T) {
	var connections atomic.Int32
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		connections.Add(1)
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","user":"u","conn":"c","node":"n","seq":0,"broadcast_seq":0}`))
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1007, "invalid UTF-8"))
		c.Close()
	}))
	defer srv.Close()
	c, err := client.New(client.Options{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Token: "t",
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.Run(ctx)
	// Jittered delays from 50, 100, 200, 400, 800 ms add up to at most
	// 1.55 s: a handful of connections in 2 s.
	if n := connections.Load(); n < 2 || n > 8 {
		t.Fatalf("%d connections in 2 s", n)
	}
}
