package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
)

// The event stream on the binary: hello, a message sent through the API
// with its resume id, an ack POSTed back, and on SIGTERM the close event
// that tells the client to reconnect elsewhere.
func TestSSEOnHeraldAll(t *testing.T) {
	addr := testenv.FreePort(t, "127.0.0.1")
	n := startAll(t, t.TempDir(), addr)
	tok := n.api.Token(t, "alice")
	resp, err := http.Get("http://" + addr + "/sse?token=" + tok + "&device=phone")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("GET /sse: %d %v %v", resp.StatusCode, resp.Header, resp.TransferEncoding)
	}
	type event struct {
		id    string
		frame map[string]any
	}
	events := make(chan event, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var ev event
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == "" && ev.frame != nil:
				events <- ev
				ev = event{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(line[6:]), &ev.frame)
			}
		}
	}()
	next := func() event {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return event{}
	}
	hello := next()
	if hello.frame["type"] != "hello" {
		t.Fatalf("first event: %v", hello.frame)
	}
	id := n.api.Send(t, []string{"alice"}, map[string]string{"text": "over SSE"})
	msg := next()
	if msg.frame["type"] != "msg" || msg.frame["id"] != id || !strings.HasPrefix(msg.id, "1:0:") {
		t.Fatalf("message event: %+v", msg)
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/sse/frames?conn="+hello.frame["conn"].(string), strings.NewReader(`{"type":"ack","seq":1}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 204 {
		t.Fatalf("POST ack: %v %v", r, err)
	}
	n.proc.Signal(syscall.SIGTERM)
	if end := next(); end.frame["type"] != "close" || end.frame["code"] != float64(1012) {
		t.Fatalf("on drain: %+v", end)
	}
}
