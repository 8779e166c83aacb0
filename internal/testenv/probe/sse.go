package probe

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// SSE is a test client of the event-stream transport, written from
// docs/protocol.md ("Server-Sent Events"): it reads every event and POSTs
// the client's frames to whichever node it is told.
type SSE struct {
	t      testing.TB
	Resp   *http.Response
	Hello  Frame
	events chan Event
}

// Event is one event of the stream: its id (empty if none) and its data,
// which is a server frame.
type Event struct {
	ID    string
	Data  string
	Frame Frame
}

// Close reads a close event's code and reason; 0 for any other event.
func (e Event) Close() (int, string) {
	var c struct {
		Type   string `json:"type"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal([]byte(e.Data), &c) != nil || c.Type != "close" {
		return 0, ""
	}
	return c.Code, c.Reason
}

// DialSSE opens GET base/sse with token and q, and reads the hello event.
func DialSSE(t testing.TB, base, token string, q url.Values) (*SSE, error) {
	if q == nil {
		q = url.Values{}
	}
	q.Set("token", token)
	resp, err := http.Get(base + "/sse?" + q.Encode())
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("GET /sse: %d %s", resp.StatusCode, b)
	}
	s := &SSE{t: t, Resp: resp, events: make(chan Event, 64)}
	t.Cleanup(func() { resp.Body.Close() })
	go s.read()
	hello, err := s.Next(10 * time.Second)
	if err != nil {
		return nil, err
	}
	if hello.Frame.Type != "hello" {
		return nil, fmt.Errorf("first event %q, want a hello", hello.Data)
	}
	s.Hello = hello.Frame
	return s, nil
}

// read parses the stream as an EventSource does (data lines joined with
// "\n", comments skipped) until it ends.
func (s *SSE) read() {
	defer close(s.events)
	sc := bufio.NewScanner(s.Resp.Body)
	sc.Buffer(nil, 1<<20)
	var ev Event
	var data []string
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "" && data != nil:
			ev.Data = strings.Join(data, "\n")
			json.Unmarshal([]byte(ev.Data), &ev.Frame)
			s.events <- ev
			ev, data = Event{}, nil
		case field == "id":
			ev.ID = value
		case field == "data":
			data = append(data, value)
		}
	}
}

// Next returns the next event.
func (s *SSE) Next(timeout time.Duration) (Event, error) {
	select {
	case ev, ok := <-s.events:
		if !ok {
			return Event{}, errors.New("the stream ended")
		}
		return ev, nil
	case <-time.After(timeout):
		return Event{}, errors.New("no event in " + timeout.String())
	}
}

// MustNext returns the next event, or fails the test.
func (s *SSE) MustNext(timeout time.Duration) Event {
	s.t.Helper()
	ev, err := s.Next(timeout)
	if err != nil {
		s.t.Fatal(err)
	}
	return ev
}

// Post sends body (one frame or an array) as POST base/sse/frames for this
// stream, with token, and returns the status and the answer's body.
func (s *SSE) Post(base, token, body string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/sse/frames?conn="+url.QueryEscape(s.Hello.Conn), strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
