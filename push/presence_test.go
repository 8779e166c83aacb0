package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
	"github.com/heraldpush/herald/internal/webhook"
)

// Presence of a namespace that keeps it: subscriptions join, unsubscribes
// and closed connections leave, the counts follow; a subscriber asks with
// a presence frame where the namespace allows it; topics of other
// namespaces keep none.
func TestTopicPresenceOnANode(t *testing.T) {
	ns, _ := herald.ParseNamespaces(`{"chat": {"presence": true, "client_presence": true}, "quiet": {"presence": true}}`)
	f := newFixture(t, func(c *Config) { c.Namespaces = ns })
	store := f.svc.presence.store
	tok := func(u string) string { return f.topicToken(t, u, "chat:*", "quiet:*", "news") }
	a1 := probe.MustDialWS(t, f.ws, tok("ann"), "phone", nil)
	a2 := probe.MustDialWS(t, f.ws, tok("ann"), "laptop", nil)
	b := probe.MustDialWS(t, f.ws, tok("bob"), "", nil)
	for _, c := range []*probe.WS{a1, a2, b} {
		c.Subscribe([]string{"chat:1", "quiet:1", "news"}, nil)
	}
	stats := func(topic string, users, conns int) {
		t.Helper()
		testenv.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
			st, err := store.Stats(context.Background(), topic)
			if err != nil || st.Users != users || st.Connections != conns {
				return fmt.Errorf("%s: %+v %v, want %d users %d connections", topic, st, err, users, conns)
			}
			return nil
		})
	}
	stats("chat:1", 2, 3)
	stats("news", 0, 0)
	ms, _, _ := store.Members(context.Background(), "chat:1", "", 10)
	devices := map[string]bool{}
	for _, m := range ms {
		devices[m.User+"/"+m.Device] = true
	}
	if len(ms) != 3 || !devices["ann/phone"] || !devices["ann/laptop"] || !devices["bob/"] {
		t.Fatalf("members: %+v", ms)
	}

	b.Send(map[string]any{"type": "presence", "id": "7", "topic": "chat:1"})
	if fr := nextOfType(t, b, "presence"); fr.ID != "7" || len(fr.Users) != 2 || fr.More {
		t.Fatalf("presence answer: %+v", fr)
	}
	b.Send(map[string]any{"type": "presence", "topic": "quiet:1"})
	if fr := nextOfType(t, b, "presence"); fr.Code != "forbidden" {
		t.Fatalf("presence of a namespace without client_presence: %+v", fr)
	}
	b.Send(map[string]any{"type": "presence", "topic": "chat:2"})
	if fr := nextOfType(t, b, "presence"); fr.Code != "forbidden" {
		t.Fatalf("presence of a topic not subscribed: %+v", fr)
	}

	a2.Send(map[string]any{"type": "unsub", "topics": []string{"chat:1"}})
	stats("chat:1", 2, 2)
	a1.Conn.Close()
	b.Conn.Close()
	stats("chat:1", 0, 0)
	stats("quiet:1", 1, 1)
}

// nextOfType reads frames until one of type typ.
func nextOfType(t *testing.T, c *probe.WS, typ string) probe.Frame {
	t.Helper()
	for {
		f, err := c.Next(5 * time.Second)
		if err != nil {
			t.Fatalf("waiting for a %s frame: %v", typ, err)
		}
		if f.Type == typ {
			return f
		}
	}
}

// Join and leave frames: a user's first subscription is a join to every
// subscriber, their last one ending a leave; a burst is gathered into
// presence_changes frames; a user's second device is no join.
func TestJoinLeaveFrames(t *testing.T) {
	ns, _ := herald.ParseNamespaces(`{"room": {"presence": true, "join_leave": true}}`)
	f := newFixture(t, func(c *Config) { c.Namespaces = ns })
	tok := func(u string) string { return f.topicToken(t, u, "room:*") }
	watcher := probe.MustDialWS(t, f.ws, tok("watcher"), "", nil)
	watcher.Subscribe([]string{"room:1"}, nil)
	if fr := nextOfType(t, watcher, "join"); fr.User != "watcher" || fr.Topic != "room:1" {
		t.Fatalf("own join: %+v", fr)
	}
	ann := probe.MustDialWS(t, f.ws, tok("ann"), "phone", nil)
	ann.Subscribe([]string{"room:1"}, nil)
	if fr := nextOfType(t, watcher, "join"); fr.User != "ann" || fr.Device != "phone" {
		t.Fatalf("ann's join: %+v", fr)
	}
	ann2 := probe.MustDialWS(t, f.ws, tok("ann"), "laptop", nil)
	ann2.Subscribe([]string{"room:1"}, nil)
	ann.Conn.Close() // ann is still there, on her laptop: no leave
	ann2.Conn.Close()
	if fr := nextOfType(t, watcher, "leave"); fr.User != "ann" {
		t.Fatalf("ann's leave: %+v", fr)
	}
	// Ten users at once: their joins come in presence_changes frames (or
	// a join each, if they trickle in slower than the interval).
	for i := range 10 {
		c := probe.MustDialWS(t, f.ws, tok(fmt.Sprintf("g%d", i)), "", nil)
		c.Send(map[string]any{"type": "sub", "topics": []string{"room:1"}})
	}
	joined, frames := map[string]bool{}, 0
	for len(joined) < 10 {
		fr, err := watcher.Next(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d joins: %v", len(joined), err)
		}
		switch fr.Type {
		case "join":
			joined[fr.User], frames = true, frames+1
		case "presence_changes":
			for _, w := range fr.Joins {
				joined[w.User] = true
			}
			frames++
		case "leave":
			t.Fatalf("a leave in the burst: %+v", fr)
		}
	}
	t.Logf("10 joins in %d frames", frames)
}

// A node that died before this one started (the whole cluster restarted)
// was never seen alive here: the stores name it as a holder, and it is
// reaped a beat after it was first found not alive, its members leaving
// with a leave frame and its users going offline.
func TestReapANodeNeverSeenAlive(t *testing.T) {
	offline := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b webhook.Body[ConnEvent]
		json.NewDecoder(r.Body).Decode(&b)
		for _, e := range b.Events {
			offline <- e.User
		}
	}))
	defer hook.Close()
	ns, _ := herald.ParseNamespaces(`{"room": {"presence": true, "join_leave": true}}`)
	f := newFixture(t, func(c *Config) {
		c.Namespaces = ns
		c.HeartbeatInterval = 50 * time.Millisecond
		c.ConnWebhookURL, c.ConnWebhookSecret, c.ConnWebhookEvents = hook.URL, "0123456789abcdef-connections", []string{"offline"}
		c.OfflineGrace = 10 * time.Millisecond
		c.PrivateNetworks = []string{"127.0.0.0/8"}
	})
	watcher := probe.MustDialWS(t, f.ws, f.topicToken(t, "watcher", "room:*"), "", nil)
	watcher.Subscribe([]string{"room:1"}, nil)
	nextOfType(t, watcher, "join") // its own
	ghost := herald.Node{ID: "ghost", Epoch: 1}
	ctx := context.Background()
	if _, err := f.svc.presence.store.Change(ctx, ghost, herald.PresenceBatch{Changes: []herald.PresenceChange{
		{Topic: "room:1", Join: true, Member: herald.Member{User: "gina", Conn: "g1", Since: time.Now()}},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.online.Opened(ctx, ghost, "gina"); err != nil {
		t.Fatal(err)
	}
	if fr := nextOfType(t, watcher, "leave"); fr.User != "gina" {
		t.Fatalf("the ghost's member's leave: %+v", fr)
	}
	select {
	case u := <-offline:
		if u != "gina" {
			t.Fatalf("offline %s, want gina", u)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no offline for the ghost's user")
	}
	for _, list := range []func(context.Context) ([]herald.Node, error){f.svc.presence.store.Holders, f.svc.online.OnlineHolders} {
		if hs, _ := list(ctx); len(hs) != 1 || hs[0].ID != f.svc.node.ID {
			t.Fatalf("holders after the reap: %v", hs)
		}
	}
}
