package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
	"github.com/heraldpush/herald/internal/testenv/traffic"
)

// allNode is a running `herald all`.
type allNode struct {
	proc *testenv.Process
	api  probe.API
	ws   string
	dir  string
	addr string
}

func startAll(t *testing.T, dir, addr string, extra ...string) *allNode {
	t.Helper()
	bin := testenv.HeraldBinary(t)
	args := append([]string{"all", "--listen", addr, "--data-dir", dir}, extra...)
	p := testenv.Start(t, "herald all", bin, nil, args...)
	if err := probe.WaitHTTP("http://"+addr+"/readyz", 15*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Log.String())
	}
	key, err := os.ReadFile(filepath.Join(dir, "api-key"))
	if err != nil {
		t.Fatal(err)
	}
	return &allNode{proc: p, dir: dir, addr: addr, ws: "ws://" + addr,
		api: probe.API{Base: "http://" + addr, Key: strings.TrimSpace(string(key))}}
}

func (n *allNode) stop(t *testing.T) {
	t.Helper()
	if err := n.proc.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func seqs(fs []probe.Frame) []uint64 {
	var out []uint64
	for _, f := range fs {
		out = append(out, f.Seq)
	}
	return out
}

func TestAllEndToEnd(t *testing.T) {
	dir := t.TempDir()
	addr := testenv.FreePort(t, "127.0.0.1")
	n := startAll(t, dir, addr)
	if !n.proc.Log.Contains("Get a token") {
		t.Errorf("herald all must print how to get a token; printed:\n%s", n.proc.Log.String())
	}
	alice := n.api.Token(t, "alice")
	bob := n.api.Token(t, "bob")

	phone := probe.MustDialWS(t, n.ws, alice, "phone", nil)
	laptop := probe.MustDialWS(t, n.ws, alice, "laptop", nil)
	bobWS := probe.MustDialWS(t, n.ws, bob, "", nil)
	if phone.Hello.User != "alice" || phone.Hello.Seq != 0 || phone.Hello.Conn == "" || phone.Hello.Node == "" {
		t.Fatalf("hello = %+v", phone.Hello)
	}

	// Every device of alice gets each message, in seq order; bob gets only his.
	for i := 1; i <= 3; i++ {
		n.api.Send(t, []string{"alice"}, map[string]int{"n": i})
	}
	n.api.Send(t, []string{"bob"}, "for bob")
	for _, c := range []*probe.WS{phone, laptop} {
		got := c.Msgs(3, 5*time.Second)
		if fmt.Sprint(seqs(got)) != "[1 2 3]" || string(got[0].Payload) != `{"n":1}` || got[0].ID == "" || got[0].TS == 0 {
			t.Fatalf("alice's device got %+v", got)
		}
		if err := c.Ack(3); err != nil {
			t.Fatal(err)
		}
	}
	if got := bobWS.Msgs(1, 5*time.Second); string(got[0].Payload) != `"for bob"` || got[0].Seq != 1 {
		t.Fatalf("bob got %+v", got)
	}
	bobWS.Quiet(200 * time.Millisecond)

	// The laptop goes offline; what it misses comes on reconnect, in order,
	// from its last ack (no since needed).
	// No wait for the ack to be saved: a handshake reads the node's
	// unsaved acks too.
	laptop.Conn.Close()
	for i := 4; i <= 6; i++ {
		n.api.Send(t, []string{"alice"}, i)
	}
	phone.Msgs(3, 5*time.Second)
	laptop = probe.MustDialWS(t, n.ws, alice, "laptop", nil)
	if laptop.Hello.Seq != 6 {
		t.Errorf("hello seq = %d, want 6", laptop.Hello.Seq)
	}
	if got := laptop.Msgs(3, 5*time.Second); fmt.Sprint(seqs(got)) != "[4 5 6]" {
		t.Fatalf("laptop resumed with %v, want [4 5 6]", seqs(got))
	}
	// And live messages continue after the replay with no gap.
	n.api.Send(t, []string{"alice"}, 7)
	if got := laptop.Msgs(1, 5*time.Second); got[0].Seq != 7 {
		t.Fatalf("after replay got seq %d, want 7", got[0].Seq)
	}

	// One log line per connection opened and closed, with who, where, how long
	// and why; never a token or the API key.
	waitLog := func(sub string) {
		testenv.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
			if !n.proc.Log.Contains(sub) {
				return fmt.Errorf("log lacks %q", sub)
			}
			return nil
		})
	}
	waitLog(`msg="connection opened" user=alice device=laptop`)
	waitLog(`msg="connection closed" user=alice device=laptop`)
	for _, line := range strings.Split(n.proc.Log.String(), "\n") {
		if strings.Contains(line, "connection closed") && (!strings.Contains(line, "duration=") || !strings.Contains(line, "code=") || !strings.Contains(line, "node=")) {
			t.Errorf("close line without duration, code or node: %s", line)
		}
	}
	if logs := n.proc.Log.String(); strings.Contains(logs, alice) || strings.Contains(logs, n.api.Key) {
		t.Error("a token or the API key was logged")
	}

	// A restart of herald all keeps every stored message.
	n.stop(t)
	n = startAll(t, dir, addr)
	since := uint64(2)
	c := probe.MustDialWS(t, n.ws, alice, "", &since)
	if got := c.Msgs(5, 5*time.Second); fmt.Sprint(seqs(got)) != "[3 4 5 6 7]" {
		t.Fatalf("after restart, since=2 got %v", seqs(got))
	}
	code, body := n.api.Do(t, "GET", "/v1/users/alice/messages?since=5&limit=10", nil)
	var page struct {
		Messages []struct{ Seq uint64 }
		LastSeq  uint64 `json:"last_seq"`
	}
	json.Unmarshal(body, &page)
	if code != 200 || len(page.Messages) != 2 || page.Messages[0].Seq != 6 || page.LastSeq != 7 {
		t.Fatalf("GET messages: %d %s", code, body)
	}
	code, body = n.api.Do(t, "GET", "/v1/users/alice/presence", nil)
	if code != 200 || !strings.Contains(string(body), `"online":true`) {
		t.Fatalf("presence: %d %s", code, body)
	}
}

func TestAllBadInput(t *testing.T) {
	dir := t.TempDir()
	addr := testenv.FreePort(t, "127.0.0.1")
	n := startAll(t, dir, addr, "--max-payload", "1024")
	good := n.api.Token(t, "carol")
	watcher := probe.MustDialWS(t, n.ws, good, "w", nil)

	noKey := probe.API{Base: n.api.Base}
	wrongKey := probe.API{Base: n.api.Base, Key: "wrong"}
	cases := []struct {
		name   string
		api    probe.API
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"malformed JSON", n.api, "POST", "/v1/messages", []byte(`{"users":`), 400, "invalid_request"},
		{"not an object", n.api, "POST", "/v1/messages", []byte(`[1,2]`), 400, "invalid_request"},
		{"no users", n.api, "POST", "/v1/messages", map[string]any{"payload": 1}, 400, "invalid_request"},
		{"empty users", n.api, "POST", "/v1/messages", map[string]any{"users": []string{}, "payload": 1}, 400, "invalid_request"},
		{"no payload", n.api, "POST", "/v1/messages", map[string]any{"users": []string{"a"}}, 400, "invalid_request"},
		{"null payload", n.api, "POST", "/v1/messages", map[string]any{"users": []string{"a"}, "payload": nil}, 400, "invalid_request"},
		{"bad user", n.api, "POST", "/v1/messages", map[string]any{"users": []string{"a b"}, "payload": 1}, 400, "invalid_request"},
		{"long user", n.api, "POST", "/v1/messages", map[string]any{"users": []string{strings.Repeat("x", 129)}, "payload": 1}, 400, "invalid_request"},
		{"wrong type", n.api, "POST", "/v1/messages", []byte(`{"users":"a","payload":1}`), 400, "invalid_request"},
		{"unknown field", n.api, "POST", "/v1/messages", []byte(`{"users":["a"],"payload":1,"extra":1}`), 400, "invalid_request"},
		{"payload too large", n.api, "POST", "/v1/messages", map[string]any{"users": []string{"a"}, "payload": strings.Repeat("x", 2000)}, 413, "payload_too_large"},
		{"no key", noKey, "POST", "/v1/messages", map[string]any{"users": []string{"a"}, "payload": 1}, 401, "unauthorized"},
		{"wrong key", wrongKey, "POST", "/v1/messages", map[string]any{"users": []string{"a"}, "payload": 1}, 401, "unauthorized"},
		{"wrong method", n.api, "GET", "/v1/messages", nil, 405, "method_not_allowed"},
		{"bad since", n.api, "GET", "/v1/users/a/messages?since=x", nil, 400, "invalid_request"},
		{"unknown path", n.api, "GET", "/v1/nothing", nil, 404, "not_found"},
		{"verify bad token", noKey, "POST", "/v1/verify", map[string]any{"token": "x.y.z"}, 401, "unauthorized"},
		{"mint without key", noKey, "POST", "/v1/tokens", map[string]any{"user": "a"}, 401, "unauthorized"},
		{"mint bad user", n.api, "POST", "/v1/tokens", map[string]any{"user": ""}, 400, "invalid_request"},
		{"mint bad topics claim", n.api, "POST", "/v1/tokens", map[string]any{"user": "a", "topics": []string{"a*b"}}, 400, "invalid_request"},
		{"topic: bad name", n.api, "POST", "/v1/topics/a%20b/messages", map[string]any{"payload": 1}, 400, "invalid_request"},
		{"topic: long name", n.api, "POST", "/v1/topics/" + strings.Repeat("t", 129) + "/messages", map[string]any{"payload": 1}, 400, "invalid_request"},
		{"topic: no payload", n.api, "POST", "/v1/topics/news/messages", map[string]any{}, 400, "invalid_request"},
		{"topic: unknown field", n.api, "POST", "/v1/topics/news/messages", []byte(`{"payload":1,"users":["a"]}`), 400, "invalid_request"},
		{"topic: too large", n.api, "POST", "/v1/topics/news/messages", map[string]any{"payload": strings.Repeat("x", 2000)}, 413, "payload_too_large"},
		{"topic: no key", noKey, "POST", "/v1/topics/news/messages", map[string]any{"payload": 1}, 401, "unauthorized"},
		{"topic: wrong method", n.api, "DELETE", "/v1/topics/news/messages", nil, 405, "method_not_allowed"},
		{"broadcast: malformed JSON", n.api, "POST", "/v1/broadcast", []byte(`{"payload":`), 400, "invalid_request"},
		{"broadcast: wrong method", n.api, "GET", "/v1/broadcast", nil, 405, "method_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.api.Do(t, tc.method, tc.path, tc.body)
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &e); err != nil || status != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Fatalf("got %d %s, want %d with code %s", status, body, tc.status, tc.code)
			}
		})
	}

	// WebSocket: a bad token is refused with 401 and a JSON body before any upgrade.
	for _, tok := range []string{"", "garbage", good + "x"} {
		if _, err := probe.DialWS(t, n.ws, tok, "", nil); err == nil || !strings.Contains(err.Error(), "status 401") || !strings.Contains(err.Error(), `"unauthorized"`) {
			t.Errorf("token %q: %v", tok, err)
		}
	}
	// Bad frames close that connection only, with a code and a reason.
	frames := []struct {
		name string
		send func(w *probe.WS) error
		code int
	}{
		{"not JSON", func(w *probe.WS) error { return w.Conn.WriteMessage(1, []byte("hello?")) }, 1007},
		{"binary", func(w *probe.WS) error { return w.Conn.WriteMessage(2, []byte{1, 2}) }, 1003},
		{"unknown type", func(w *probe.WS) error { return w.Send(map[string]any{"type": "hack"}) }, 1008},
		{"too big", func(w *probe.WS) error { return w.Conn.WriteMessage(1, []byte(`"`+strings.Repeat("x", 10000)+`"`)) }, 1009},
		{"sub without topics", func(w *probe.WS) error { return w.Send(map[string]any{"type": "sub"}) }, 1008},
		{"sub with topics of the wrong type", func(w *probe.WS) error { return w.Send(map[string]any{"type": "sub", "topics": "news"}) }, 1007},
		{"sub with 101 topics", func(w *probe.WS) error { return w.Send(map[string]any{"type": "sub", "topics": make([]string, 101)}) }, 1008},
	}
	for _, f := range frames {
		t.Run("frame "+f.name, func(t *testing.T) {
			w := probe.MustDialWS(t, n.ws, good, "", nil)
			if err := f.send(w); err != nil {
				t.Fatal(err)
			}
			if code, reason := w.CloseCode(5 * time.Second); code != f.code || reason == "" {
				t.Fatalf("close %d %q, want %d with a reason", code, reason, f.code)
			}
		})
	}
	// ping -> pong
	if err := watcher.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if f, err := watcher.Next(5 * time.Second); err != nil || f.Type != "pong" {
		t.Fatalf("ping answered with %+v, %v", f, err)
	}
	// Through all of it the well-behaved client kept being served.
	n.api.Send(t, []string{"carol"}, "still here")
	if got := watcher.Msgs(1, 5*time.Second); string(got[0].Payload) != `"still here"` {
		t.Fatalf("watcher got %+v", got)
	}
}

// A client that stops reading is cut off once its queue is full (close 4000),
// other clients keep receiving, and on reconnect it resumes from its last ack.
func TestSlowConsumer(t *testing.T) {
	dir := t.TempDir()
	addr := testenv.FreePort(t, "127.0.0.1")
	n := startAll(t, dir, addr, "--send-queue", "32")
	slow := probe.MustDialWS(t, n.ws, n.api.Token(t, "slow"), "tablet", nil)
	fast := traffic.NewDevice("fast", "phone", n.api.Token(t, "fast"), func() string { return n.ws })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go fast.Run(ctx)

	sender := traffic.NewSender(n.api.Key, n.api.Base)
	big := strings.Repeat("x", 16<<10)
	const total = 300 // 300 x 16 KiB: far more than socket buffers and the queue hold
	for i := range total {
		if _, err := sender.Send(ctx, []string{"slow", "fast"}, map[string]any{"i": i, "pad": big}); err != nil {
			t.Fatal(err)
		}
	}
	if r := traffic.Check(sender, []*traffic.Device{fast}, 20*time.Second); !r.OK() {
		t.Fatalf("the fast client suffered: %+v", r)
	}
	if code, reason := slow.CloseCode(20 * time.Second); code != 4000 || reason == "" {
		t.Fatalf("slow client closed with %d %q, want 4000", code, reason)
	}
	// It comes back (having acked nothing) and gets everything, in order.
	again := probe.MustDialWS(t, n.ws, n.api.Token(t, "slow"), "tablet", nil)
	got := again.Msgs(total, 20*time.Second)
	for i, f := range got {
		if f.Seq != uint64(i+1) {
			t.Fatalf("resumed stream: message %d has seq %d", i, f.Seq)
		}
	}
}
