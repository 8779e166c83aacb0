package push

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
	"github.com/heraldpush/herald/internal/webhook"
)

// The connection webhook: connect (with the transport), subscribe,
// unsubscribe and disconnect (with the code, the reason and who closed),
// signed, each with its own ID.
func TestConnectionWebhook(t *testing.T) {
	const secret = "0123456789abcdef-connections"
	var mu sync.Mutex
	var events []ConnEvent
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(webhook.TimestampHeader), 10, 64)
		if r.Header.Get(webhook.SignatureHeader) != webhook.Sign(secret, ts, body) {
			t.Errorf("bad signature %q", r.Header.Get(webhook.SignatureHeader))
			w.WriteHeader(400)
			return
		}
		var b webhook.Body[ConnEvent]
		json.Unmarshal(body, &b)
		mu.Lock()
		events = append(events, b.Events...)
		mu.Unlock()
	}))
	defer hook.Close()
	f := newFixture(t, func(c *Config) {
		c.ConnWebhookURL, c.ConnWebhookSecret = hook.URL, secret
		c.ConnWebhookEvents = []string{"connect", "disconnect", "subscribe", "unsubscribe"}
		c.PrivateNetworks = []string{"127.0.0.0/8"} // the test's receiver is on loopback
	})
	c := probe.MustDialWS(t, f.ws, f.topicToken(t, "ann", "news"), "phone", nil)
	c.Subscribe([]string{"news"}, nil)
	c.Send(map[string]any{"type": "unsub", "topics": []string{"news"}})
	c.Subscribe([]string{"news"}, nil)
	c.Conn.WriteControl(8, []byte{0x03, 0xe8}, time.Now().Add(time.Second)) // close 1000
	s, err := probe.DialSSE(t, f.http, f.token(t, "bob"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Hello.User != "bob" {
		t.Fatalf("hello: %+v", s.Hello)
	}
	f.svc.Deliver(t.Context(), []*herald.Message{{Kind: herald.KindDisconnect, Users: []string{"bob"}, Payload: []byte(`"bye"`)}}) // the server closes bob's stream
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		byUser := map[string][]string{}
		ids := map[string]bool{}
		for _, e := range events {
			if ids[e.ID] || e.Node != f.svc.node.ID || e.Conn == "" || e.TS == 0 {
				return fmt.Errorf("event %+v: a repeated ID, or no node, conn or time", e)
			}
			ids[e.ID] = true
			d := e.Type + " " + e.User
			switch e.Type {
			case "connect":
				d += " " + e.Transport + " " + e.Device
			case "subscribe", "unsubscribe":
				d += " " + e.Topic
			case "disconnect":
				d += fmt.Sprintf(" %d by %s", e.Code, e.By)
			}
			byUser[e.User] = append(byUser[e.User], d)
		}
		// In order per connection; the two connections' interleave.
		for user, want := range map[string]string{
			"ann": "connect ann websocket phone|subscribe ann news|unsubscribe ann news|subscribe ann news|unsubscribe ann news|disconnect ann 1000 by client",
			"bob": "connect bob sse |disconnect bob 4003 by server",
		} {
			if got := strings.Join(byUser[user], "|"); got != want {
				return fmt.Errorf("%s's events:\n%s\nwant\n%s", user, got, want)
			}
		}
		return nil
	})
}

// online and offline: a user's first connection, and their last one gone
// with none back within the grace; a reload within it is neither.
func TestOnlineOffline(t *testing.T) {
	var mu sync.Mutex
	var events []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b webhook.Body[ConnEvent]
		json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		for _, e := range b.Events {
			events = append(events, e.Type+" "+e.User)
		}
		mu.Unlock()
	}))
	defer hook.Close()
	f := newFixture(t, func(c *Config) {
		c.ConnWebhookURL, c.ConnWebhookSecret, c.ConnWebhookEvents = hook.URL, "0123456789abcdef-connections", []string{"online", "offline"}
		c.OfflineGrace = 300 * time.Millisecond
		c.PrivateNetworks = []string{"127.0.0.0/8"}
	})
	wait := func(want string) {
		t.Helper()
		testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			mu.Lock()
			defer mu.Unlock()
			if got := strings.Join(events, "|"); got != want {
				return fmt.Errorf("events %q, want %q", got, want)
			}
			return nil
		})
	}
	a := probe.MustDialWS(t, f.ws, f.token(t, "ann"), "phone", nil)
	b := probe.MustDialWS(t, f.ws, f.token(t, "ann"), "laptop", nil)
	wait("online ann")
	a.Conn.Close()
	b.Conn.Close()
	wait("online ann|offline ann")
	// A reload: closed and back within the grace.
	c := probe.MustDialWS(t, f.ws, f.token(t, "ann"), "phone", nil)
	wait("online ann|offline ann|online ann")
	c.Conn.Close()
	d := probe.MustDialWS(t, f.ws, f.token(t, "ann"), "phone", nil)
	d.Conn.Close()
	// The reload was neither an offline nor an online: only the last
	// close is.
	wait("online ann|offline ann|online ann|offline ann")
}
