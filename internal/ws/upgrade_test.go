package ws

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestUpgrade(t *testing.T) {
	done := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := CheckRequest(r); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		conn, rest, err := Upgrade(w, r)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		done <- rest
	}))
	defer srv.Close()

	// The RFC 6455 example key; the client's first frame comes in the same
	// packet as its request and must be handed over, not lost.
	first := clientFrame(true, OpText, []byte("hi"))
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	c.Write(append([]byte(req), first...))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("status %d accept %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	select {
	case rest := <-done:
		if string(rest) != string(first) {
			t.Fatalf("rest %q, want the first frame", rest)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no upgrade")
	}

	for name, h := range map[string]string{
		"no upgrade":  "Connection: keep-alive\r\n",
		"version 8":   "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
		"short key":   "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: abc=\r\n",
		"missing key": "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
	} {
		resp, err := http.DefaultClient.Do(mustReq(t, srv.URL, h))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", name, resp.StatusCode)
		}
	}
}

func mustReq(t *testing.T, url, headers string) *http.Request {
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(headers), "\r\n") {
		k, v, _ := strings.Cut(line, ": ")
		r.Header.Add(k, v)
	}
	return r
}
