package push

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// sseClient reads an event stream as the HTML standard's parser does: data
// lines joined with "\n", an event dispatched at a blank line, comments
// counted.
type sseClient struct {
	t        *testing.T
	resp     *http.Response
	events   chan sseEvent
	comments chan struct{}
}

type sseEvent struct {
	id    string
	data  string
	frame probe.Frame
}

func dialSSE(t *testing.T, f *fixture, query string, header http.Header) *sseClient {
	t.Helper()
	req, _ := http.NewRequest("GET", f.http+"/sse?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /sse: %d %v", resp.StatusCode, resp.Header)
	}
	c := &sseClient{t: t, resp: resp, events: make(chan sseEvent, 1000), comments: make(chan struct{}, 1000)}
	go c.read()
	return c
}

func (c *sseClient) read() {
	defer close(c.events)
	sc := bufio.NewScanner(c.resp.Body)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				ev.data = strings.Join(data, "\n")
				json.Unmarshal([]byte(ev.data), &ev.frame)
				c.events <- ev
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
			select {
			case c.comments <- struct{}{}:
			default:
			}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		}
	}
}

func (c *sseClient) next(timeout time.Duration) sseEvent {
	c.t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			c.t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(timeout):
		c.t.Fatal("no event in time")
	}
	return sseEvent{}
}

// post sends frames for the stream and returns the status and body.
func (f *fixture) postFrames(t *testing.T, token, conn, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.http+"/sse/frames?conn="+conn, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	// A connection of its own: a POST on a pooled one that the server
	// closed meanwhile fails with a reset (seen once under load), and a
	// POST is not retried.
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}

// An event stream is the same session as a WebSocket: hello, the replay and
// live messages in seq order, each message event with an id to resume
// from; acks and pings as POSTed frames; and a browser's reconnect with
// Last-Event-ID resumes with no gap and no repeat.
func TestSSESession(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(t, "alice")
	f.storeMsg(t, `{"a":1}`, "alice")
	f.storeMsg(t, "{\n  \"pretty\": true\r\n}", "alice") // line breaks in a payload
	c := dialSSE(t, f, "token="+tok+"&device=phone&since=0", nil)
	hello := c.next(5 * time.Second)
	if hello.frame.Type != "hello" || hello.frame.User != "alice" || hello.frame.Seq != 2 || hello.id != "" {
		t.Fatalf("hello: %+v", hello)
	}
	m1, m2 := c.next(5*time.Second), c.next(5*time.Second)
	epoch := strings.SplitN(m1.id, ":", 3)[2]
	if m1.frame.Seq != 1 || m2.frame.Seq != 2 || m1.id != "1:0:"+epoch || m2.id != "2:0:"+epoch || epoch == "" {
		t.Fatalf("replay: %+v %+v", m1, m2)
	}
	var pretty struct{ Pretty bool }
	if json.Unmarshal(m2.frame.Payload, &pretty); !pretty.Pretty {
		t.Fatalf("a payload with line breaks: %q", m2.data)
	}
	m3 := f.storeMsg(t, "3", "alice")
	f.svc.Deliver(context.Background(), []*herald.Message{m3})
	if live := c.next(5 * time.Second); live.frame.Seq != 3 || live.id != "3:0:"+epoch {
		t.Fatalf("live: %+v", live)
	}

	// Frames from the client: one, or several in an array.
	if code, body := f.postFrames(t, tok, hello.frame.Conn, `{"type":"ping"}`); code != 204 {
		t.Fatalf("ping: %d %s", code, body)
	}
	if pong := c.next(5 * time.Second); pong.frame.Type != "pong" {
		t.Fatalf("pong: %+v", pong)
	}
	if code, body := f.postFrames(t, tok, hello.frame.Conn, `[{"type":"ack","seq":2},{"type":"ping"}]`); code != 204 {
		t.Fatalf("ack: %d %s", code, body)
	}
	c.next(5 * time.Second)
	if got := f.svc.acks.unsaved("alice", "phone"); got != 2 {
		t.Fatalf("ack through POST: unsaved %d, want 2", got)
	}
	// Another user's token, or a connection that is not here: 404.
	if code, _ := f.postFrames(t, f.token(t, "mallory"), hello.frame.Conn, `{"type":"ping"}`); code != 404 {
		t.Fatalf("another user's POST: %d", code)
	}

	// The browser reconnects with the last id it saw: only what came after.
	f.storeMsg(t, "4", "alice")
	again := dialSSE(t, f, "token="+tok+"&device=phone&since=0", http.Header{"Last-Event-ID": {"3:0:" + epoch}})
	again.next(5 * time.Second) // hello
	if next := again.next(5 * time.Second); next.frame.Seq != 4 {
		t.Fatalf("resume from Last-Event-ID sent seq %d, want 4", next.frame.Seq)
	}
	if code, _ := f.postFrames(t, tok, "nope", `{"type":"ping"}`); code != 404 {
		t.Fatalf("unknown conn: %d", code)
	}
	resp, err := http.Get(f.http + "/sse?token=" + tok + "&device=phone")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", f.http+"/sse?token="+tok, nil)
	req.Header.Set("Last-Event-ID", "garbage")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Fatalf("a bad Last-Event-ID: %v %v", resp, err)
	}
}

// A frame the server will not accept ends the stream with a close event
// carrying the code and reason a WebSocket client would get, and the POST
// is answered 400 with the reason.
func TestSSERefusedFrameCloses(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(t, "bob")
	c := dialSSE(t, f, "token="+tok, nil)
	hello := c.next(5 * time.Second)
	code, body := f.postFrames(t, tok, hello.frame.Conn, `{"type":"launch"}`)
	if code != 400 || !strings.Contains(body, "unknown frame type") {
		t.Fatalf("unknown frame: %d %s", code, body)
	}
	var end struct {
		Type   string
		Code   int
		Reason string
	}
	ev := c.next(5 * time.Second)
	if json.Unmarshal([]byte(ev.data), &end); end.Type != "close" || end.Code != ClosePolicy || end.Reason != "unknown frame type" {
		t.Fatalf("close event: %q", ev.data)
	}
	select {
	case _, ok := <-c.events:
		if ok {
			t.Fatal("an event after the close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end")
	}
	if code, _ := f.postFrames(t, tok, hello.frame.Conn, "\xff"); code != 404 {
		t.Fatalf("a POST to a closed stream: %d", code)
	}
}

// An idle stream gets heartbeats (comment lines) at the ping interval and
// is not closed for sending nothing: an event stream's client cannot.
func TestSSEHeartbeats(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.PingInterval, c.PongTimeout = 100*time.Millisecond, 300*time.Millisecond })
	c := dialSSE(t, f, "token="+f.token(t, "carol"), nil)
	c.next(5 * time.Second)
	for i := range 8 {
		select {
		case <-c.comments:
		case <-time.After(5 * time.Second):
			t.Fatalf("heartbeat %d did not come", i)
		}
	}
	if n := f.svc.conns.Load(); n != 1 {
		t.Fatalf("%d connections after the pong timeout passed several times", n)
	}
}
