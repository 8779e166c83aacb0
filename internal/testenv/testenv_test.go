package testenv

import (
	"net"
	"testing"
)

// FreePort never hands out one address twice, and each is free to bind.
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 300 {
		addr := FreePort(t, "127.0.0.1")
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("bind %s: %v", addr, err)
		}
		l.Close()
	}
}
