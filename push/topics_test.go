package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

func (f *fixture) topicToken(t *testing.T, user string, topics ...string) string {
	tok, err := f.jwt.MintTopics(user, time.Hour, topics)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// storeTopic stores a message of topic (herald.Broadcast for a broadcast).
func (f *fixture) storeTopic(t *testing.T, topic, payload string) *herald.Message {
	t.Helper()
	m := &herald.Message{ID: "t-" + topic + "-" + payload, Time: time.Now(), Topic: topic, Payload: json.RawMessage(payload), Users: []string{herald.TopicKey(topic)}}
	if err := f.store.Append(context.Background(), []*herald.Message{m}); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTopicSubscribeDeliverResumeUnsubscribe(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	c := probe.MustDialWS(t, f.ws, f.topicToken(t, "u", "news", "team:*"), "", nil)
	got := c.Subscribe([]string{"news", "secret", "team:1", "bad topic"}, nil)
	if got["news"].Type != "subscribed" || got["news"].Seq != 0 || got["team:1"].Type != "subscribed" {
		t.Fatalf("allowed topics: %+v", got)
	}
	if got["secret"].Type != "sub_refused" || got["secret"].Code != "forbidden" || got["bad topic"].Code != "invalid" {
		t.Fatalf("refused topics: %+v", got)
	}
	// Live, in order; a message lost on the way is filled from the store.
	f.svc.Deliver(ctx, []*herald.Message{f.storeTopic(t, "news", "1")})
	f.storeTopic(t, "news", "2")
	m3 := f.storeTopic(t, "news", "3")
	f.svc.Deliver(ctx, []*herald.Message{m3, m3})
	pubs := c.Pubs(3, 5*time.Second)
	for i, p := range pubs {
		if p.Topic != "news" || p.Seq != uint64(i+1) || string(p.Payload) != string(rune('1'+i)) {
			t.Fatalf("pub %d: %+v", i, p)
		}
	}
	// A second connection resumes the topic after seq 1.
	c2 := probe.MustDialWS(t, f.ws, f.topicToken(t, "v", "news"), "", nil)
	got = c2.Subscribe([]string{"news"}, map[string]uint64{"news": 1})
	if got["news"].Seq != 3 {
		t.Fatalf("resume answer: %+v", got["news"])
	}
	if pubs := c2.Pubs(2, 5*time.Second); pubs[0].Seq != 2 || pubs[1].Seq != 3 {
		t.Fatalf("resume replay: %+v", pubs)
	}
	// Subscribing again is no error and changes nothing.
	if again := c2.Subscribe([]string{"news"}, nil); !again["news"].Already || again["news"].Seq != 3 {
		t.Fatalf("second sub: %+v", again["news"])
	}
	// Unsubscribed: no more of the topic.
	if err := c.Send(map[string]any{"type": "unsub", "id": "7", "topics": []string{"news"}}); err != nil {
		t.Fatal(err)
	}
	for {
		fr, err := c.Next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if fr.Type == "unsubscribed" {
			break
		}
	}
	f.svc.Deliver(ctx, []*herald.Message{f.storeTopic(t, "news", "4")})
	if p := c2.Pubs(1, 5*time.Second)[0]; p.Seq != 4 {
		t.Fatalf("subscriber got %+v", p)
	}
	c.NoPub(300 * time.Millisecond)
}

func TestBroadcast(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	a := probe.MustDialWS(t, f.ws, f.token(t, "a"), "", nil)
	b := probe.MustDialWS(t, f.ws, f.token(t, "b"), "", nil)
	f.svc.Deliver(ctx, []*herald.Message{f.storeTopic(t, herald.Broadcast, `"one"`)})
	for _, c := range []*probe.WS{a, b} {
		if p := c.Pubs(1, 5*time.Second)[0]; p.Topic != "*" || p.Seq != 1 || string(p.Payload) != `"one"` {
			t.Fatalf("broadcast: %+v", p)
		}
	}
	// Delivered live too, as collect does: the node's cache of the
	// broadcast stream's last seq (streamlast.go) learns it from there.
	f.svc.Deliver(ctx, []*herald.Message{f.storeTopic(t, herald.Broadcast, `"two"`)})
	// A client back after a disconnect resumes the broadcasts it missed.
	c, err := probe.DialWSQuery(t, f.ws, f.token(t, "a"), url.Values{"broadcast_since": {"0"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Hello.BroadcastSeq != 2 {
		t.Fatalf("hello broadcast_seq %d", c.Hello.BroadcastSeq)
	}
	if pubs := c.Pubs(2, 5*time.Second); pubs[0].Seq != 1 || pubs[1].Seq != 2 {
		t.Fatalf("broadcast replay: %+v", pubs)
	}
	// Without broadcast_since, a connection starts at the newest.
	d := probe.MustDialWS(t, f.ws, f.token(t, "d"), "", nil)
	if d.Hello.BroadcastSeq != 2 {
		t.Fatalf("hello broadcast_seq %d", d.Hello.BroadcastSeq)
	}
	d.NoPub(300 * time.Millisecond)
}

func TestSubscribeProxyAndTopicLimit(t *testing.T) {
	var auth string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		var req subProxyRequest
		json.NewDecoder(r.Body).Decode(&req)
		var allowed []string
		for _, tp := range req.Topics {
			if req.User == "u" && tp != "nope" {
				allowed = append(allowed, tp)
			}
		}
		json.NewEncoder(w).Encode(subProxyResponse{Allowed: allowed})
	}))
	defer proxy.Close()
	f := newFixture(t, func(c *Config) {
		c.SubProxyURL, c.SubProxySecret, c.MaxTopics = proxy.URL, "proxy-secret", 2
		c.PrivateNetworks = []string{"127.0.0.0/8"} // the test's proxy is on loopback
	})
	c := probe.MustDialWS(t, f.ws, f.token(t, "u"), "", nil)
	got := c.Subscribe([]string{"vip", "nope"}, nil)
	if got["vip"].Type != "subscribed" || got["nope"].Code != "forbidden" {
		t.Fatalf("proxy answers: %+v", got)
	}
	if auth != "Bearer proxy-secret" {
		t.Fatalf("proxy got Authorization %q", auth)
	}
	got = c.Subscribe([]string{"a", "b"}, nil)
	if got["a"].Type != "subscribed" || got["b"].Code != "too_many" {
		t.Fatalf("limit: %+v", got)
	}
	proxy.Close() // the proxy is down: refused as unavailable, the connection stays
	c2 := probe.MustDialWS(t, f.ws, f.token(t, "u"), "", nil)
	if got := c2.Subscribe([]string{"x"}, nil); got["x"].Code != "unavailable" {
		t.Fatalf("proxy down: %+v", got)
	}
	if err := c2.Send(map[string]any{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
}

func TestTopicCatchUp(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.CatchUpInterval = 100 * time.Millisecond })
	c := probe.MustDialWS(t, f.ws, f.topicToken(t, "u", "*"), "", nil)
	c.Subscribe([]string{"news"}, nil)
	// Stored, never delivered live (dispatch lost it): catch-up sends it.
	f.storeTopic(t, "news", "1")
	f.storeTopic(t, herald.Broadcast, "2")
	pubs := c.Pubs(2, 5*time.Second)
	seen := map[string]uint64{}
	for _, p := range pubs {
		seen[p.Topic] = p.Seq
	}
	if seen["news"] != 1 || seen["*"] != 1 {
		t.Fatalf("caught up: %+v", pubs)
	}
}

// A topic named twice in one frame (through the proxy too) is one
// subscription: its messages come once.
func TestTopicNamedTwiceIsOneSubscription(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req subProxyRequest
		json.NewDecoder(r.Body).Decode(&req)
		json.NewEncoder(w).Encode(subProxyResponse{Allowed: req.Topics})
	}))
	defer proxy.Close()
	f := newFixture(t, func(c *Config) { c.SubProxyURL, c.PrivateNetworks = proxy.URL, []string{"127.0.0.1"} })
	c := probe.MustDialWS(t, f.ws, f.topicToken(t, "u", "a"), "", nil)
	if err := c.Send(map[string]any{"type": "sub", "topics": []string{"a", "a", "b", "b"}}); err != nil {
		t.Fatal(err)
	}
	answers := map[string]int{}
	for n := 0; n < 4; n++ {
		fr, err := c.Next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		answers[fr.Topic+"/"+fr.Type+"/"+strconv.FormatBool(fr.Already)]++
	}
	if answers["a/subscribed/false"] != 1 || answers["a/subscribed/true"] != 1 || answers["b/subscribed/false"] != 1 || answers["b/subscribed/true"] != 1 {
		t.Fatalf("answers %v", answers)
	}
	f.svc.Deliver(context.Background(), []*herald.Message{f.storeTopic(t, "b", "1")})
	if p := c.Pubs(1, 5*time.Second)[0]; p.Topic != "b" || p.Seq != 1 {
		t.Fatalf("pub %+v", p)
	}
	c.NoPub(300 * time.Millisecond)
	if n := f.svc.hub.subCount(herald.TopicKey("b")); n != 1 {
		t.Fatalf("%d subscriptions of b", n)
	}
}

// Namespaces decide who subscribes and how many: "public:" topics are open
// to every user, "vip:" ones always ask the subscribe proxy (whatever the
// claim says), "room:" ones take two subscribers a node; topics of no
// namespace keep the claim.
func TestNamespaces(t *testing.T) {
	var asked []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req subProxyRequest
		json.NewDecoder(r.Body).Decode(&req)
		asked = append(asked, req.Topics...)
		json.NewEncoder(w).Encode(subProxyResponse{Allowed: []string{"vip:ok"}})
	}))
	defer proxy.Close()
	ns, err := herald.ParseNamespaces(`{"public": {"subscribe": "any"}, "vip": {"subscribe": "proxy"}, "room": {"max_subscribers": 2}}`)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *Config) {
		c.Namespaces, c.SubProxyURL = ns, proxy.URL
		c.PrivateNetworks = []string{"127.0.0.0/8"}
	})
	tok := f.topicToken(t, "u", "vip:*", "room:*", "news")
	c := probe.MustDialWS(t, f.ws, tok, "", nil)
	got := c.Subscribe([]string{"public:lobby", "vip:ok", "vip:no", "news", "room:1"}, nil)
	for topic, want := range map[string]string{"public:lobby": "subscribed", "vip:ok": "subscribed", "news": "subscribed", "room:1": "subscribed"} {
		if got[topic].Type != want {
			t.Errorf("%s: %+v", topic, got[topic])
		}
	}
	if got["vip:no"].Code != "forbidden" {
		t.Errorf("vip:no: %+v", got["vip:no"])
	}
	if strings.Join(asked, ",") != "vip:ok,vip:no" {
		t.Errorf("the proxy was asked %v, want the vip topics only (the claim allows them, the namespace asks anyway)", asked)
	}
	c2 := probe.MustDialWS(t, f.ws, tok, "", nil)
	c2.Subscribe([]string{"room:1"}, nil)
	c3 := probe.MustDialWS(t, f.ws, tok, "", nil)
	if got := c3.Subscribe([]string{"room:1"}, nil); got["room:1"].Code != "too_many" {
		t.Fatalf("a third subscriber of room:1: %+v", got["room:1"])
	}
	c.Send(map[string]any{"type": "unsub", "topics": []string{"room:1"}})
	testenv.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if got := c3.Subscribe([]string{"room:1"}, nil); got["room:1"].Type != "subscribed" {
			return fmt.Errorf("after an unsub: %+v", got["room:1"])
		}
		return nil
	})
}
