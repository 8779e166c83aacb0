package e2e

import (
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// The event stream on the binary: hello, a message sent through the API
// with its resume id, an ack POSTed back, and on SIGTERM the close event
// that tells the client to reconnect elsewhere.
func TestSSEOnHeraldAll(t *testing.T) {
	addr := testenv.FreePort(t, "127.0.0.1")
	n := startAll(t, t.TempDir(), addr)
	tok := n.api.Token(t, "alice")
	s, err := probe.DialSSE(t, "http://"+addr, tok, url.Values{"device": {"phone"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Resp.Header.Get("Content-Type") != "text/event-stream" || s.Resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("GET /sse: %v %v", s.Resp.Header, s.Resp.TransferEncoding)
	}
	id := n.api.Send(t, []string{"alice"}, map[string]string{"text": "over SSE"})
	msg := s.MustNext(10 * time.Second)
	if msg.Frame.Type != "msg" || msg.Frame.ID != id || !strings.HasPrefix(msg.ID, "1:0:") {
		t.Fatalf("message event: %+v", msg)
	}
	if code, answer := s.Post("http://"+addr, tok, `{"type":"ack","seq":1}`); code != 204 {
		t.Fatalf("POST ack: %d %s", code, answer)
	}
	n.proc.Signal(syscall.SIGTERM)
	if code, _ := s.MustNext(10 * time.Second).Close(); code != 1012 {
		t.Fatal("on drain: no close event 1012")
	}
}
