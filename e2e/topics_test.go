package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// sendTopic posts one message to a topic and returns its topic seq.
func sendTopic(t *testing.T, api probe.API, topic string, payload any) uint64 {
	t.Helper()
	code, body := api.Do(t, "POST", "/v1/topics/"+topic+"/messages", map[string]any{"payload": payload})
	if code != 202 {
		t.Fatalf("send to %s: %d %s", topic, code, body)
	}
	var r struct{ Seq uint64 }
	json.Unmarshal(body, &r)
	return r.Seq
}

func TestAllTopicsAndBroadcast(t *testing.T) {
	n := startAll(t, t.TempDir(), testenv.FreePort(t, "127.0.0.1"))
	sub := probe.MustDialWS(t, n.ws, n.api.TokenTopics(t, "alice", "news"), "", nil)
	other := probe.MustDialWS(t, n.ws, n.api.Token(t, "bob"), "", nil)
	if got := sub.Subscribe([]string{"news"}, nil); got["news"].Type != "subscribed" {
		t.Fatalf("sub: %+v", got)
	}
	if got := other.Subscribe([]string{"news"}, nil); got["news"].Code != "forbidden" {
		t.Fatalf("bob has no topics claim: %+v", got)
	}
	for i := 1; i <= 3; i++ {
		if seq := sendTopic(t, n.api, "news", i); seq != uint64(i) {
			t.Fatalf("topic seq %d, want %d", seq, i)
		}
	}
	if code, body := n.api.Do(t, "POST", "/v1/broadcast", map[string]any{"payload": "all"}); code != 202 {
		t.Fatalf("broadcast: %d %s", code, body)
	}
	pubs := sub.Pubs(4, 5*time.Second)
	for i := range 3 {
		if pubs[i].Topic != "news" || pubs[i].Seq != uint64(i+1) {
			t.Fatalf("pub %d: %+v", i, pubs[i])
		}
	}
	if pubs[3].Topic != "*" || string(pubs[3].Payload) != `"all"` {
		t.Fatalf("broadcast pub: %+v", pubs[3])
	}
	if p := other.Pubs(1, 5*time.Second)[0]; p.Topic != "*" {
		t.Fatalf("bob's only pub is the broadcast: %+v", p)
	}
}

// TestClusterTopics: a topic subscriber on each of 3 push nodes gets every
// topic message once and in order; only nodes with subscribers are routed
// the topic; a broadcast reaches every connection once; and a subscriber
// whose node is killed (SIGKILL) resumes on another node with no topic
// message lost.
func TestClusterTopics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 1, Dispatch: 2, Push: 3})
	authAPI := c.AuthAPI()
	api := c.API(0)
	subs := make([]*probe.WS, 3)
	for i := range subs {
		subs[i] = probe.MustDialWS(t, c.Push[i].WS(), authAPI.TokenTopics(t, fmt.Sprintf("s%d", i), "news", "sport"), "", nil)
		if got := subs[i].Subscribe([]string{"news"}, nil); got["news"].Type != "subscribed" {
			t.Fatalf("sub on node %d: %+v", i, got)
		}
	}
	// sport has a subscriber on node 0 only; node 2 holds a plain user.
	subs[0].Subscribe([]string{"sport"}, nil)
	plain := probe.MustDialWS(t, c.Push[2].WS(), authAPI.Token(t, "plain"), "", nil)

	rdb := goredis.NewClient(&goredis.Options{Addr: c.Redis.Addr})
	defer rdb.Close()
	nodes, err := rdb.HKeys(context.Background(), "herald:user:#sport").Result()
	if err != nil || len(nodes) != 1 || nodes[0] != subs[0].Hello.Node {
		t.Fatalf("sport's route: %v %v, want only %s", nodes, err, subs[0].Hello.Node)
	}
	if nodes, _ := rdb.HKeys(context.Background(), "herald:user:#news").Result(); len(nodes) != 3 {
		t.Fatalf("news's route names %v, want 3 nodes", nodes)
	}

	for i := 1; i <= 20; i++ {
		sendTopic(t, api, "news", i)
	}
	sendTopic(t, api, "sport", "goal")
	if code, body := api.Do(t, "POST", "/v1/broadcast", map[string]any{"payload": "all"}); code != 202 {
		t.Fatalf("broadcast: %d %s", code, body)
	}
	for i, s := range subs {
		want := 21 // news and the broadcast
		if i == 0 {
			want = 22
		}
		got := map[string][]uint64{}
		for _, p := range s.Pubs(want, 10*time.Second) {
			got[p.Topic] = append(got[p.Topic], p.Seq)
		}
		if len(got["news"]) != 20 || !sort.SliceIsSorted(got["news"], func(a, b int) bool { return got["news"][a] < got["news"][b] }) ||
			got["news"][0] != 1 || got["news"][19] != 20 || len(got["*"]) != 1 {
			t.Fatalf("subscriber on node %d got %v", i, got)
		}
	}
	if p := plain.Pubs(1, 5*time.Second)[0]; p.Topic != "*" {
		t.Fatalf("plain user got %+v", p)
	}
	plain.NoPub(300 * time.Millisecond)

	// Node 0 dies while news keeps coming. Its subscriber reconnects to node
	// 1 and subscribes again from the last seq it saw: nothing is lost.
	c.Push[0].Kill()
	for i := 21; i <= 30; i++ {
		sendTopic(t, api, "news", i)
	}
	again := probe.MustDialWS(t, c.Push[1].WS(), authAPI.TokenTopics(t, "s0", "news"), "", nil)
	got := again.Subscribe([]string{"news"}, map[string]uint64{"news": 20})
	if got["news"].Seq != 30 {
		t.Fatalf("resume answer: %+v", got["news"])
	}
	for i := 31; i <= 35; i++ {
		sendTopic(t, api, "news", i)
	}
	var seqs []uint64
	for _, p := range again.Pubs(15, 10*time.Second) {
		seqs = append(seqs, p.Seq)
	}
	for i, s := range seqs {
		if s != uint64(21+i) {
			t.Fatalf("after the kill: seqs %v, want 21..35", seqs)
		}
	}

	// Redis restarts empty: the topic routes are gone with it. Each node's
	// next heartbeat finds its key missing and registers its users' and its
	// topics' routes again; topic messages sent meanwhile still arrive
	// (catch-up), in order, once.
	c.Redis.Restart(t)
	for i := 36; i <= 40; i++ {
		sendTopic(t, api, "news", i)
	}
	seqs = seqs[:0]
	for _, p := range again.Pubs(5, 20*time.Second) {
		seqs = append(seqs, p.Seq)
	}
	if fmt.Sprint(seqs) != "[36 37 38 39 40]" {
		t.Fatalf("after the Redis restart: seqs %v", seqs)
	}
	rdb2 := goredis.NewClient(&goredis.Options{Addr: c.Redis.Addr})
	defer rdb2.Close()
	testenv.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		if nodes, _ := rdb2.HKeys(context.Background(), "herald:user:#news").Result(); len(nodes) != 2 { // nodes 1 and 2; node 0 is dead
			return fmt.Errorf("news's route after the Redis restart: %v", nodes)
		}
		return nil
	})
	again.NoPub(300 * time.Millisecond)
}
