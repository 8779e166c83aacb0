package netpoll

import (
	"net"
	"testing"
)

// Connections on different pollers each get their own bytes.
func TestManyConnections(t *testing.T) {
	const n = 8
	cs := make([]*collector, n)
	clients := make([]net.Conn, n)
	for i := range n {
		client, server := pair(t)
		clients[i], cs[i] = client, newCollector(t)
		stop, err := Watch(server, Handler{Data: cs[i].data})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	if len(pollers) < 2 {
		t.Fatalf("%d pollers with 8 Ps, want 2", len(pollers))
	}
	for i, c := range clients {
		c.Write([]byte{'a' + byte(i)})
	}
	for i, c := range cs {
		if got := c.read(1); got[0] != 'a'+byte(i) {
			t.Fatalf("connection %d got %q", i, got)
		}
	}
}
