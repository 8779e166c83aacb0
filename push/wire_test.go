package push

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// rawDial opens a WebSocket by hand, so a test can send what no library
// would (unmasked frames) or nothing at all.
func rawDial(t *testing.T, f *fixture, user string) (net.Conn, *bufio.Reader) {
	t.Helper()
	addr := strings.TrimPrefix(f.ws, "ws://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := "GET /ws?token=" + f.token(t, user) + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	c.Write([]byte(req))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return c, br
}

// readClose reads server frames until the close frame and returns its code.
func readClose(t *testing.T, br *bufio.Reader) (code int, reason string, pings int) {
	t.Helper()
	for {
		b0, err := br.ReadByte()
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		n, _ := br.ReadByte()
		size := int(n & 0x7f)
		if size == 126 {
			hi, _ := br.ReadByte()
			lo, _ := br.ReadByte()
			size = int(hi)<<8 | int(lo)
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(br, payload); err != nil {
			t.Fatal(err)
		}
		switch b0 & 0x0f {
		case 0x9:
			pings++
		case 0x8:
			return int(payload[0])<<8 | int(payload[1]), string(payload[2:]), pings
		}
	}
}

// The server pings every PingInterval; a client that answers stays, a
// client that sends nothing is closed with 1001 after PongTimeout.
func TestKeepAlive(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.PingInterval = 50 * time.Millisecond
		c.PongTimeout = 400 * time.Millisecond
		// Shorter than the test: a deadline left by one write must not
		// fail a later ping.
		c.WriteTimeout = 100 * time.Millisecond
	})
	// gorilla answers pings with pongs while it reads.
	live := probe.MustDialWS(t, f.ws, f.token(t, "live"), "", nil)
	var pings atomic.Int32
	live.Conn.SetPingHandler(func(data string) error {
		pings.Add(1)
		return live.Conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() {
		for {
			if _, err := live.Next(10 * time.Second); err != nil {
				return
			}
		}
	}()

	start := time.Now()
	_, br := rawDial(t, f, "silent")
	code, reason, silentPings := readClose(t, br)
	if code != CloseGoingAway || !strings.Contains(reason, "pong") || silentPings == 0 {
		t.Fatalf("silent client: close %d %q after %d pings, want 1001 after pings", code, reason, silentPings)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("closed after %v, before the pong timeout", d)
	}
	if pings.Load() < 5 {
		t.Fatalf("live client saw %d pings", pings.Load())
	}
	if err := live.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatalf("answering client was dropped: %v", err)
	}
}

// WebSocket framing errors close with 1002 and a reason; fragmented
// messages and client pings work.
func TestFraming(t *testing.T) {
	f := newFixture(t, nil)
	c, br := rawDial(t, f, "raw")
	// An unmasked text frame: forbidden from a client.
	c.Write([]byte{0x81, 0x02, 'h', 'i'})
	if code, reason, _ := readClose(t, br); code != CloseProtocol || !strings.Contains(reason, "masked") {
		t.Fatalf("unmasked frame: close %d %q", code, reason)
	}

	// gorilla fragments a message bigger than its write buffer.
	d := websocket.Dialer{WriteBufferSize: 64}
	w, _, err := d.Dial(f.ws+"/ws?token="+f.token(t, "frag"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pong := make(chan string, 1)
	w.SetPongHandler(func(s string) error { pong <- s; return nil })
	w.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second))
	w.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","padding":"`+strings.Repeat("x", 300)+`"}`))
	w.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	for len(got) < 2 {
		_, data, err := w.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(data))
	}
	if !strings.Contains(got[1], `"pong"`) {
		t.Fatalf("fragmented ping answered with %q", got)
	}
	select {
	case s := <-pong:
		if s != "are you there" {
			t.Fatalf("pong %q", s)
		}
	default:
		t.Fatal("no pong for the client's ping")
	}
}

// An idle connection holds no goroutine: 200 connections, and the count of
// goroutines barely moves once their handshakes are written.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	f := newFixture(t, nil)
	warm := probe.MustDialWS(t, f.ws, f.token(t, "warm"), "", nil)
	warm.Quiet(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	for i := range 200 {
		c, br := rawDial(t, f, "idle"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := br.ReadByte(); err != nil { // the hello has arrived
			t.Fatal(err)
		}
	}
	// The test's own side holds no goroutine per connection either (raw
	// conns, not read): the difference is the server's, once the
	// handshakes' writers have ended.
	testenv.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if n := runtime.NumGoroutine() - before; n > 20 {
			return fmt.Errorf("%d more goroutines with 200 idle connections", n)
		}
		return nil
	})
	if got := f.svc.conns.Load(); got != 201 {
		t.Fatalf("%d connections", got)
	}
}
