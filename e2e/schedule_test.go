package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// Scheduled delivery in herald all: the 202 says when the message goes,
// its receipt says scheduled until then, and it gets its seq as of its
// delivery (after a message sent later but delivered first).
func TestScheduledDelivery(t *testing.T) {
	n := startAll(t, filepath.Join(t.TempDir(), "data"), testenv.FreePort(t, "127.0.0.1"))
	api := n.api
	c := probe.MustDialWS(t, n.ws, api.Token(t, "ann"), "phone", nil)
	at := time.Now().Add(1500 * time.Millisecond).UnixMilli()
	code, body := api.Do(t, "POST", "/v1/messages", map[string]any{"users": []string{"ann"}, "payload": "later", "deliver_at": at})
	var r struct {
		ID        string
		DeliverAt int64 `json:"deliver_at"`
	}
	json.Unmarshal(body, &r)
	if code != 202 || r.DeliverAt != at {
		t.Fatalf("schedule: %d %s", code, body)
	}
	code, body = api.Do(t, "GET", "/v1/messages/"+r.ID, nil)
	var st struct {
		DeliverAt  int64 `json:"deliver_at"`
		Recipients []struct{ Status string }
	}
	json.Unmarshal(body, &st)
	if code != 200 || st.DeliverAt != at || len(st.Recipients) != 1 || st.Recipients[0].Status != "scheduled" {
		t.Fatalf("scheduled receipt: %d %s", code, body)
	}
	now := api.Send(t, []string{"ann"}, "now")
	if m := c.Msgs(1, 5*time.Second)[0]; m.ID != now || m.Seq != 1 {
		t.Fatalf("first: %+v", m)
	}
	m := c.Msgs(1, 10*time.Second)[0]
	if m.ID != r.ID || m.Seq != 2 || string(m.Payload) != `"later"` {
		t.Fatalf("the scheduled one: %+v", m)
	}
	if time.Now().UnixMilli() < at {
		t.Fatalf("delivered before its deliver_at")
	}
	for _, bad := range []map[string]any{
		{"users": []string{"ann"}, "payload": 1, "deliver_at": time.Now().Add(31 * 24 * time.Hour).UnixMilli()},
		{"users": []string{"ann"}, "payload": 1, "deliver_at": at + 60_000, "expires_at": at + 30_000},
	} {
		if code, body := api.Do(t, "POST", "/v1/messages", bad); code != 400 {
			t.Errorf("%v: %d %s", bad, code, body)
		}
	}
}

// A cluster of two collect instances on FerretDB: scheduled messages sent
// to one go out on time although it is SIGKILLed, before they are due and
// while it is delivering them: the other takes them from the store when
// the lease ends. Each arrives (a message the dead instance had stored
// but not yet taken off the schedule arrives again, with its seq).
func TestScheduledSurvivesACollectKill(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 3, Dispatch: 1, Push: 1, CollectEnv: []string{"HERALD_LEASE=3s"}})
	ws := probe.MustDialWS(t, c.Push[0].WS(), c.AuthAPI().Token(t, "ann"), "phone", nil)
	schedule := func(api probe.API, n int, in time.Duration, tag string) map[string]bool {
		t.Helper()
		ids := map[string]bool{}
		at := time.Now().Add(in).UnixMilli()
		for i := range n {
			code, body := api.Do(t, "POST", "/v1/messages", map[string]any{"users": []string{"ann"}, "payload": fmt.Sprintf("%s %d", tag, i), "deliver_at": at})
			var r struct{ ID string }
			json.Unmarshal(body, &r)
			if code != 202 {
				t.Fatalf("schedule: %d %s", code, body)
			}
			ids[r.ID] = true
		}
		return ids
	}
	var last uint64 // the highest seq seen: a connection the node closes (a write that timed out on a starved machine) resumes after it
	await := func(ids map[string]bool, onFirst func()) {
		t.Helper()
		got := map[string]bool{}
		deadline := time.Now().Add(60 * time.Second)
		for len(got) < len(ids) {
			f, err := ws.Next(time.Until(deadline))
			if err != nil && time.Now().Before(deadline) {
				t.Logf("connection lost after %d of %d (%v): resuming after seq %d", len(got), len(ids), err, last)
				since := last
				ws = probe.MustDialWS(t, c.Push[0].WS(), c.AuthAPI().Token(t, "ann"), "phone", &since)
				continue
			}
			if err != nil {
				t.Fatalf("%d of %d scheduled messages arrived: %v", len(got), len(ids), err)
			}
			last = max(last, f.Seq)
			if f.Type != "msg" || got[f.ID] {
				continue
			}
			if !ids[f.ID] {
				t.Fatalf("a message not scheduled here: %+v", f)
			}
			got[f.ID] = true
			if len(got) == 1 && onFirst != nil {
				onFirst()
			}
		}
	}
	// Killed before they are due.
	ids := schedule(c.API(0), 10, 2*time.Second, "before")
	c.Collect[0].Kill()
	await(ids, nil)
	// Killed as they go out.
	ids = schedule(c.API(1), 200, 2*time.Second, "during")
	await(ids, func() { c.Collect[1].Kill() })
}
