package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

const presenceNamespaces = `{"chat": {"presence": true, "client_presence": true, "join_leave": true}}`

type presencePage struct {
	Members []struct {
		User, Device, Conn, Node string
	} `json:"members"`
	NextCursor string `json:"next_cursor"`
}

// getPresence reads a topic's stats and its first page of members.
func getPresence(t *testing.T, api probe.API, topic string) (users, conns int, page presencePage) {
	t.Helper()
	code, body := api.Do(t, "GET", "/v1/topics/"+topic+"/presence/stats", nil)
	var st struct{ Users, Connections int }
	if code != 200 || json.Unmarshal(body, &st) != nil {
		t.Fatalf("stats: %d %s", code, body)
	}
	code, body = api.Do(t, "GET", "/v1/topics/"+topic+"/presence?limit=100", nil)
	if code != 200 || json.Unmarshal(body, &page) != nil {
		t.Fatalf("presence: %d %s", code, body)
	}
	return st.Users, st.Connections, page
}

// Presence on herald all: the API's pages and stats, a topic of no
// presence namespace answered 404, a member gone with its connection.
func TestTopicPresenceOnHeraldAll(t *testing.T) {
	addr := testenv.FreePort(t, "127.0.0.1")
	n := startAll(t, t.TempDir(), addr, "--namespaces", presenceNamespaces)
	var conns []*probe.WS
	for i := range 5 {
		c := probe.MustDialWS(t, n.ws, n.api.TokenTopics(t, fmt.Sprintf("u%d", i%3), "chat:*"), fmt.Sprintf("d%d", i), nil)
		c.Subscribe([]string{"chat:lobby"}, nil)
		conns = append(conns, c)
	}
	testenv.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if users, c, page := getPresence(t, n.api, "chat:lobby"); users != 3 || c != 5 || len(page.Members) != 5 {
			return fmt.Errorf("%d users, %d connections, %d members", users, c, len(page.Members))
		}
		return nil
	})
	code, body := n.api.Do(t, "GET", "/v1/topics/chat:lobby/presence?limit=2", nil)
	var page presencePage
	if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Members) != 2 || page.NextCursor == "" {
		t.Fatalf("a page of 2: %d %s", code, body)
	}
	if code, body := n.api.Do(t, "GET", "/v1/topics/news/presence", nil); code != 404 {
		t.Fatalf("a topic whose presence is not kept: %d %s", code, body)
	}
	conns[0].Conn.Close()
	testenv.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if _, c, _ := getPresence(t, n.api, "chat:lobby"); c != 4 {
			return fmt.Errorf("%d connections after one closed", c)
		}
		return nil
	})
}

// Presence across three push nodes on Redis: collect lists the members of
// every node; a join on one node reaches a subscriber on another; a push
// node killed with SIGKILL takes its members with it once its heartbeat
// lapses, and the subscribers left get their leaves.
func TestTopicPresenceInACluster(t *testing.T) {
	var mu sync.Mutex
	var hooked []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Events []struct{ Type, User, Node string }
		}
		json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		for _, e := range b.Events {
			hooked = append(hooked, e.Type+" "+e.User)
		}
		mu.Unlock()
	}))
	defer hook.Close()
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 1, Dispatch: 1, Push: 3,
		Env: []string{"HERALD_NAMESPACES=" + presenceNamespaces},
		PushEnv: []string{"HERALD_CONNECTION_WEBHOOK_URL=" + hook.URL, "HERALD_CONNECTION_WEBHOOK_SECRET=0123456789abcdef-hooks",
			"HERALD_CONNECTION_WEBHOOK_EVENTS=online,offline", "HERALD_OFFLINE_GRACE=500ms", "HERALD_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8"}})
	hookedHas := func(want string) error {
		mu.Lock()
		defer mu.Unlock()
		for _, h := range hooked {
			if h == want {
				return nil
			}
		}
		return fmt.Errorf("no %q among the webhook's events %v", want, hooked)
	}
	api, auth := c.API(0), c.AuthAPI()
	var conns []*probe.WS
	for i := range 3 {
		ws := probe.MustDialWS(t, c.Push[i].WS(), auth.TokenTopics(t, fmt.Sprintf("u%d", i), "chat:*"), "", nil)
		ws.Subscribe([]string{"chat:ops"}, nil)
		conns = append(conns, ws)
	}
	// u0, on push 0, hears u1 and u2 join through the other nodes.
	heard := map[string]bool{}
	for !heard["u1"] || !heard["u2"] {
		f, err := conns[0].Next(10 * time.Second)
		if err != nil {
			t.Fatalf("joins heard on push 0: %v, %v", heard, err)
		}
		if f.Type == "join" {
			heard[f.User] = true
		}
		for _, w := range f.Joins {
			heard[w.User] = true
		}
	}
	testenv.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		users, conns, page := getPresence(t, api, "chat:ops")
		nodes := map[string]bool{}
		for _, m := range page.Members {
			nodes[m.Node] = true
		}
		if users != 3 || conns != 3 || len(nodes) != 3 {
			return fmt.Errorf("%d users, %d connections, on %d nodes", users, conns, len(nodes))
		}
		return nil
	})
	c.Push[2].Kill()
	testenv.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		if users, conns, page := getPresence(t, api, "chat:ops"); users != 2 || conns != 2 || len(page.Members) != 2 {
			return fmt.Errorf("after push 2 died: %d users, %d connections, %d members", users, conns, len(page.Members))
		}
		return nil
	})
	for {
		f, err := conns[0].Next(20 * time.Second)
		if err != nil {
			t.Fatalf("no leave for u2 after push 2 died: %v", err)
		}
		if f.Type == "leave" && f.User == "u2" || len(f.Leaves) == 1 && f.Leaves[0].User == "u2" {
			break
		}
	}
	// The webhook heard each user come online, and u2 go offline: told by
	// a live node, since push 2 could not.
	testenv.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		for _, want := range []string{"online u0", "online u1", "online u2", "offline u2"} {
			if err := hookedHas(want); err != nil {
				return err
			}
		}
		return nil
	})
}
