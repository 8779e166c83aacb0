// Package probe is a test's hands on a running Herald: a raw WebSocket
// client written from docs/protocol.md that sees every frame and close code
// (WS), and the HTTP API as the application calls it (API).
package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Frame is any server frame of the WebSocket protocol (docs/protocol.md).
type Frame struct {
	Type    string          `json:"type"`
	User    string          `json:"user"`
	Conn    string          `json:"conn"`
	Node    string          `json:"node"`
	ID      string          `json:"id"`
	Seq     uint64          `json:"seq"`
	TS      int64           `json:"ts"`
	Topic   string          `json:"topic"`
	Payload json.RawMessage `json:"payload"`
	Gap     bool            `json:"gap"`
	Oldest  uint64          `json:"oldest"`
	Expires int64           `json:"expires"`
	// Topics (sub replies).
	BroadcastSeq uint64   `json:"broadcast_seq"`
	Code         string   `json:"code"`
	Message      string   `json:"message"`
	Topics       []string `json:"topics"`
	Already      bool     `json:"already"`
	// Presence answers, and join, leave and presence_changes frames.
	Users  []string `json:"users"`
	More   bool     `json:"more"`
	Device string   `json:"device"`
	Joins  []Who    `json:"joins"`
	Leaves []Who    `json:"leaves"`
}

// Who is one user of a presence_changes frame.
type Who struct {
	User   string `json:"user"`
	Device string `json:"device"`
}

// WS is a test client of the WebSocket protocol, written from docs/protocol.md.
type WS struct {
	t     testing.TB
	Conn  *websocket.Conn
	Hello Frame
}

// DialWS connects to base (ws://host:port) with token and optional device and
// since, and reads the hello frame.
func DialWS(t testing.TB, base, token, device string, since *uint64) (*WS, error) {
	t.Helper()
	q := url.Values{}
	if device != "" {
		q.Set("device", device)
	}
	if since != nil {
		q.Set("since", strconv.FormatUint(*since, 10))
	}
	return DialWSQuery(t, base, token, q)
}

// DialWSQuery is DialWS with any query parameters (broadcast_since, ...).
func DialWSQuery(t testing.TB, base, token string, q url.Values) (*WS, error) {
	t.Helper()
	q.Set("token", token)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(base+"/ws?"+q.Encode(), nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			return nil, fmt.Errorf("dial: %w (status %d, body %s)", err, resp.StatusCode, body)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	w := &WS{t: t, Conn: c}
	// Pongs with a 10 s write deadline, not gorilla's 1 s: its default
	// handler drops a pong whose write misses the deadline, silently, and a
	// test process starved of CPU under -race (2,000 readers, every server
	// on the same two cores) once missed two in a row on one connection,
	// which the push node then closed as dead (TestIsolation).
	c.SetPingHandler(func(data string) error {
		err := c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
		if err == websocket.ErrCloseSent {
			return nil
		}
		return err
	})
	t.Cleanup(func() { c.Close() })
	f, err := w.Next(5 * time.Second)
	if err != nil {
		return nil, fmt.Errorf("read hello: %w", err)
	}
	if f.Type != "hello" {
		return nil, fmt.Errorf("first frame is %q, want hello", f.Type)
	}
	w.Hello = f
	return w, nil
}

// MustDialWS is DialWS that fails the test on error.
func MustDialWS(t testing.TB, base, token, device string, since *uint64) *WS {
	t.Helper()
	w, err := DialWS(t, base, token, device, since)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Next reads the next frame within timeout.
func (w *WS) Next(timeout time.Duration) (Frame, error) {
	w.Conn.SetReadDeadline(time.Now().Add(timeout))
	_, data, err := w.Conn.ReadMessage()
	if err != nil {
		return Frame{}, err
	}
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil {
		return Frame{}, fmt.Errorf("frame %s: %w", data, err)
	}
	return f, nil
}

// Msgs reads n msg frames (skipping others) within timeout, failing the test otherwise.
func (w *WS) Msgs(n int, timeout time.Duration) []Frame {
	w.t.Helper()
	return w.frames("msg", n, timeout)
}

// Pubs reads until n pub frames (topic messages and broadcasts) arrived,
// and returns them; other frames are skipped.
func (w *WS) Pubs(n int, timeout time.Duration) []Frame {
	w.t.Helper()
	return w.frames("pub", n, timeout)
}

// frames reads n frames of type typ (skipping others) within timeout.
func (w *WS) frames(typ string, n int, timeout time.Duration) []Frame {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	var out []Frame
	for len(out) < n {
		f, err := w.Next(time.Until(deadline))
		if err != nil {
			w.t.Fatalf("got %d of %d %s frames: %v", len(out), n, typ, err)
		}
		if f.Type == typ {
			out = append(out, f)
		}
	}
	return out
}

// NoPub asserts no pub frame arrives within d. Read nothing from w after
// it: a read that timed out leaves the connection unusable.
func (w *WS) NoPub(d time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for {
		f, err := w.Next(time.Until(deadline))
		if err != nil {
			return
		}
		if f.Type == "pub" {
			w.t.Fatalf("unexpected pub %s #%d %s", f.Topic, f.Seq, f.Payload)
		}
	}
}

// Subscribe sends a sub frame and returns the answer for each topic
// (subscribed or sub_refused), by topic. Frames before the answers (pubs of
// other topics) are skipped; pubs after them stay unread.
func (w *WS) Subscribe(topics []string, since map[string]uint64) map[string]Frame {
	w.t.Helper()
	frame := map[string]any{"type": "sub", "id": "s", "topics": topics}
	if since != nil {
		frame["since"] = since
	}
	if err := w.Send(frame); err != nil {
		w.t.Fatalf("send sub: %v", err)
	}
	out := map[string]Frame{}
	for len(out) < len(topics) {
		f, err := w.Next(10 * time.Second)
		if err != nil {
			w.t.Fatalf("sub %v: got %d answers: %v", topics, len(out), err)
		}
		if f.Type == "subscribed" || f.Type == "sub_refused" {
			out[f.Topic] = f
		}
	}
	return out
}

// Quiet asserts no msg frame arrives within d.
func (w *WS) Quiet(d time.Duration) {
	w.t.Helper()
	f, err := w.Next(d)
	if err == nil && f.Type == "msg" {
		w.t.Fatalf("unexpected message %+v", f)
	}
}

// Send writes a client frame.
func (w *WS) Send(v any) error {
	w.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return w.Conn.WriteJSON(v)
}

// Ack acknowledges everything up to seq.
func (w *WS) Ack(seq uint64) error { return w.Send(map[string]any{"type": "ack", "seq": seq}) }

// CloseCode reads until the server closes the connection and returns its close code and reason.
func (w *WS) CloseCode(timeout time.Duration) (int, string) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		_, err := w.Next(time.Until(deadline))
		if ce, ok := err.(*websocket.CloseError); ok {
			return ce.Code, ce.Text
		}
		if err != nil {
			w.t.Fatalf("connection ended without a close frame: %v", err)
		}
	}
	w.t.Fatal("server did not close the connection")
	return 0, ""
}

// API is a client of Herald's HTTP API.
type API struct {
	Base string // http://host:port
	Key  string
	// Timeout bounds each request; 0 means 15 s.
	Timeout time.Duration
}

// Do sends method path with body (JSON-encoded unless []byte) and the API key,
// and returns the status and body.
func (a API) Do(t testing.TB, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.Base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.Key != "" {
		req.Header.Set("Authorization", "Bearer "+a.Key)
	}
	timeout := a.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	c := http.Client{Timeout: timeout}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TokenTopics mints a token for user with a topics claim (none without topics).
func (a API) TokenTopics(t testing.TB, user string, topics ...string) string {
	t.Helper()
	req := map[string]any{"user": user}
	if len(topics) > 0 {
		req["topics"] = topics
	}
	code, body := a.Do(t, "POST", "/v1/tokens", req)
	if code != 200 {
		t.Fatalf("mint token: %d %s", code, body)
	}
	var r struct{ Token string }
	json.Unmarshal(body, &r)
	return r.Token
}

// TokenTopicsCtx is TokenTopics for code outside a test's goroutine (a
// client SDK's TokenFunc): it returns an error instead of failing the test.
func (a API) TokenTopicsCtx(ctx context.Context, user string, topics ...string) (string, error) {
	return a.MintCtx(ctx, user, 0, topics...)
}

// MintCtx mints a token for user valid ttlSeconds (0: the default), with a
// topics claim when topics are given; it returns an error instead of
// failing the test.
func (a API) MintCtx(ctx context.Context, user string, ttlSeconds int, topics ...string) (string, error) {
	b, _ := json.Marshal(map[string]any{"user": user, "ttl_seconds": ttlSeconds, "topics": topics})
	req, err := http.NewRequestWithContext(ctx, "POST", a.Base+"/v1/tokens", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Token == "" {
		return "", fmt.Errorf("mint token: status %d", resp.StatusCode)
	}
	return r.Token, nil
}

// Token mints a token for user through POST /v1/tokens.
func (a API) Token(t testing.TB, user string) string {
	t.Helper()
	return a.TokenTopics(t, user)
}

// Send posts a message and returns its id, failing the test unless the answer is 202.
func (a API) Send(t testing.TB, users []string, payload any) string {
	t.Helper()
	code, body := a.Do(t, "POST", "/v1/messages", map[string]any{"users": users, "payload": payload})
	if code != 202 {
		t.Fatalf("send: %d %s", code, body)
	}
	var r struct{ ID string }
	json.Unmarshal(body, &r)
	return r.ID
}

// WaitHTTP polls url until it answers 200, up to timeout.
func WaitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (last: %v)", url, timeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
