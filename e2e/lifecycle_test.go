package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// Expiry, collapse keys and last values on real processes, in herald all
// and in a cluster on Redis and FerretDB: a device offline for 1,000
// messages over 10 collapse keys resumes with 10; a message that expired
// while its recipient was offline is never delivered, and its receipt says
// expired; the history leaves expired messages out, and collapses on
// asking; a recall reaches a connection that asked for it; a topic's last
// value is at GET .../last and comes first to a subscriber that asks, then
// the live ones.
const lastValueNamespaces = `{"price": {"last_value": true}}`

func TestMessageLifecycle(t *testing.T) {
	t.Run("all", func(t *testing.T) {
		dir := t.TempDir()
		n := startAll(t, filepath.Join(dir, "data"), testenv.FreePort(t, "127.0.0.1"), "--namespaces", lastValueNamespaces)
		checkLifecycle(t, n.api, n.api, n.ws)
	})
	t.Run("cluster", func(t *testing.T) {
		if testing.Short() {
			t.Skip("cluster")
		}
		c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 1, Dispatch: 1, Push: 1, Env: []string{"HERALD_NAMESPACES=" + lastValueNamespaces}})
		checkLifecycle(t, c.API(0), c.AuthAPI(), c.Push[0].WS())
	})
}

func checkLifecycle(t *testing.T, api, auth probe.API, ws string) {
	batch := make([]map[string]any, 1000)
	for i := range batch {
		batch[i] = map[string]any{"users": []string{"ann"}, "payload": i, "collapse_key": fmt.Sprintf("k%d", i%10)}
	}
	if code, body := api.Do(t, "POST", "/v1/messages/batch", map[string]any{"messages": batch}); code != 202 {
		t.Fatalf("batch: %d %s", code, body)
	}
	code, body := api.Do(t, "POST", "/v1/messages", map[string]any{"users": []string{"ann"}, "payload": "soon gone", "ttl_seconds": 1})
	if code != 202 {
		t.Fatalf("send with a ttl: %d %s", code, body)
	}
	var sent struct{ ID string }
	json.Unmarshal(body, &sent)
	// The receipt turns expired once the second is over: nothing got it.
	testenv.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		code, body := api.Do(t, "GET", "/v1/messages/"+sent.ID, nil)
		var st struct {
			ExpiresAt  int64 `json:"expires_at"`
			Recipients []struct{ Status string }
		}
		json.Unmarshal(body, &st)
		if code != 200 || st.ExpiresAt == 0 || len(st.Recipients) != 1 || st.Recipients[0].Status != "expired" {
			return fmt.Errorf("receipt: %d %s", code, body)
		}
		return nil
	})

	since := uint64(0)
	c := probe.MustDialWS(t, ws, auth.Token(t, "ann"), "phone", &since)
	got := c.Msgs(10, 10*time.Second)
	for i, m := range got {
		if m.Seq != uint64(991+i) || string(m.Payload) != fmt.Sprint(990+i) {
			t.Fatalf("replay %d: seq %d payload %s", i, m.Seq, m.Payload)
		}
	}
	// The next message is a live one, at once: the expired seq 1001 was
	// passed over, and is no hole to wait for.
	id := api.Send(t, []string{"ann"}, "live")
	if m := c.Msgs(1, 5*time.Second)[0]; m.ID != id || m.Seq != 1002 {
		t.Fatalf("live: %+v", m)
	}

	var h struct {
		Messages  []struct{ Seq uint64 }
		NextSince uint64 `json:"next_since"`
	}
	_, body = api.Do(t, "GET", "/v1/users/ann/messages?since=995&limit=10", nil)
	json.Unmarshal(body, &h)
	if len(h.Messages) != 6 || h.Messages[5].Seq != 1002 || h.NextSince != 1002 { // 996-1000, 1002: 1001 expired
		t.Fatalf("history: %s", body)
	}
	_, body = api.Do(t, "GET", "/v1/users/ann/messages?since=0&limit=1000&collapsed=true", nil)
	h.Messages = nil
	json.Unmarshal(body, &h)
	if len(h.Messages) != 10 || h.Messages[0].Seq != 991 || h.NextSince != 1000 {
		t.Fatalf("collapsed history: %d messages, next_since %d", len(h.Messages), h.NextSince)
	}

	// Recall, with the order through dispatch to the push node.
	rc, err := probe.DialWSQuery(t, ws, auth.Token(t, "rc"), url.Values{"recall": {"true"}})
	if err != nil {
		t.Fatal(err)
	}
	rid := api.Send(t, []string{"rc"}, "oops")
	rc.Msgs(1, 5*time.Second)
	if code, body := api.Do(t, "DELETE", "/v1/messages/"+rid, nil); code != 200 {
		t.Fatalf("recall: %d %s", code, body)
	}
	for {
		f, err := rc.Next(5 * time.Second)
		if err != nil {
			t.Fatalf("no recall frame: %v", err)
		}
		if f.Type == "recall" && f.ID == rid && f.Seq == 1 {
			break
		}
	}

	// Last value: the newest of price:btc, then what comes.
	for i := range 3 {
		if code, body := api.Do(t, "POST", "/v1/topics/price:btc/messages", map[string]any{"payload": 100 + i}); code != 202 {
			t.Fatalf("topic send: %d %s", code, body)
		}
	}
	code, body = api.Do(t, "GET", "/v1/topics/price:btc/last", nil)
	var last struct {
		Message struct {
			Seq     uint64
			Payload json.RawMessage
		}
	}
	json.Unmarshal(body, &last)
	if code != 200 || last.Message.Seq != 3 || string(last.Message.Payload) != "102" {
		t.Fatalf("last: %d %s", code, body)
	}
	if code, _ := api.Do(t, "GET", "/v1/topics/news/last", nil); code != 404 {
		t.Fatalf("last of a topic in no last_value namespace: %d", code)
	}
	sub := probe.MustDialWS(t, ws, auth.TokenTopics(t, "bob", "price:*"), "", nil)
	sub.Send(map[string]any{"type": "sub", "topics": []string{"price:btc"}, "last": true})
	for {
		f, err := sub.Next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == "subscribed" {
			if f.Seq != 2 {
				t.Fatalf("subscribed at %d, want 2 (just before the last value)", f.Seq)
			}
			break
		}
	}
	if p := sub.Pubs(1, 5*time.Second)[0]; p.Seq != 3 || string(p.Payload) != "102" {
		t.Fatalf("the last value: %+v", p)
	}
	api.Do(t, "POST", "/v1/topics/price:btc/messages", map[string]any{"payload": 103})
	if p := sub.Pubs(1, 5*time.Second)[0]; p.Seq != 4 || string(p.Payload) != "103" {
		t.Fatalf("live after the last value: %+v", p)
	}
}
