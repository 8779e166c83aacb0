package e2e

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
)

// rawStatus sends raw on a new connection and returns the answer's status.
func rawStatus(t *testing.T, addr, raw string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Request heads are bounded on every path (the send lane, the WebSocket
// upgrade, the rest of net/http) by --max-header-bytes, 16 KiB by default,
// not net/http's megabyte: a larger one gets 431 and the node goes on.
func TestRequestHeadLimit(t *testing.T) {
	n := startAll(t, t.TempDir(), testenv.FreePort(t, "127.0.0.1"))
	head := func(method, path string, pad int) string {
		return method + " " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + n.api.Key +
			"\r\nX-Pad: " + strings.Repeat("a", pad) + "\r\nContent-Length: 0\r\n\r\n"
	}
	for _, c := range []struct{ method, path string }{{"POST", "/v1/messages"}, {"GET", "/ws"}, {"GET", "/healthz"}, {"POST", "/v1/broadcast"}} {
		if got := rawStatus(t, n.addr, head(c.method, c.path, 17<<10)); got != 431 {
			t.Errorf("%s %s with a 17 KiB head: %d, want 431", c.method, c.path, got)
		}
	}
	if got := rawStatus(t, n.addr, head("GET", "/healthz", 14<<10)); got != 200 {
		t.Errorf("a 14 KiB head: %d, want 200", got)
	}
	if tok := n.api.Token(t, "after"); tok == "" {
		t.Fatal("not serving after the refusals")
	}
}
