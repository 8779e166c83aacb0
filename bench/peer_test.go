package bench

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldpush/herald/auth"
)

const testSecret = "0123456789abcdef0123456789abcdef"

func centrifugoConfig() Config {
	cfg := DefaultConfig()
	cfg.Peer, cfg.PeerSecret = PeerCentrifugo, testSecret
	return cfg
}

// What --peer centrifugo takes and what it refuses, with a reason.
func TestCheckPeer(t *testing.T) {
	for _, c := range []struct {
		edit func(*Config)
		want string // "" for accepted
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.Mode = "multicast" }, ""},
		{func(c *Config) { c.Peer = "" }, ""},
		{func(c *Config) { c.Peer = "goim" }, "unknown peer"},
		{func(c *Config) { c.Mode = "topic" }, "topic mode"},
		{func(c *Config) { c.Ack = true }, "--ack"},
		{func(c *Config) { c.PeerSecret = "short" }, "--peer-secret"},
		{func(c *Config) { c.PeerSecret, c.Worker = "", true }, ""},
	} {
		cfg := centrifugoConfig()
		c.edit(&cfg)
		err := cfg.checkPeer()
		if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: %v, want %q", cfg, err, c.want)
		}
	}
}

// Connection tokens for Centrifugo are HS256 with the user as sub: the
// same shape Herald's own verifier checks.
func TestCentrifugoTokens(t *testing.T) {
	toks, err := centrifugoConfig().mintTokens(context.Background(), []string{"bench-u0", "bench-u1"})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := auth.NewJWT(testSecret)
	for i, tok := range toks {
		id, err := j.Verify(context.Background(), tok)
		if err != nil || id.User != benchUsers("bench-u", 2)[i] {
			t.Fatalf("token %d: %+v %v", i, id, err)
		}
	}
}

// The server API bodies: publish to a personal channel, a batch of them, a
// broadcast to k channels.
func TestCentrifugoRequests(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	users := benchUsers("bench-u", 4)
	cfg := centrifugoConfig()
	type publish struct {
		Channel string
		Data    struct{ T int64 }
	}
	b, path := buildRequest(nil, rnd, users, cfg, 1, time.Now())
	var p publish
	if err := json.Unmarshal(b, &p); err != nil || path != "/api/publish" ||
		!strings.HasPrefix(p.Channel, "personal:#bench-u") || p.Data.T == 0 {
		t.Fatalf("publish %s %s: %v", path, b, err)
	}
	cfg.Batch = 3
	b, path = buildRequest(b[:0], rnd, users, cfg, 1, time.Now())
	var batch struct{ Commands []struct{ Publish publish } }
	if err := json.Unmarshal(b, &batch); err != nil || path != "/api/batch" || len(batch.Commands) != 3 ||
		!strings.HasPrefix(batch.Commands[2].Publish.Channel, "personal:#") {
		t.Fatalf("batch %s %s: %v", path, b, err)
	}
	cfg.Batch = 0
	b, path = buildRequest(b[:0], rnd, users, cfg, 3, time.Now())
	var bc struct {
		Channels []string
		Data     struct{ T int64 }
	}
	if err := json.Unmarshal(b, &bc); err != nil || path != "/api/broadcast" || len(bc.Channels) != 3 ||
		bc.Channels[0] == bc.Channels[1] || bc.Data.T == 0 {
		t.Fatalf("broadcast %s %s: %v", path, b, err)
	}
}

// The client side of Centrifugo's protocol against a stand-in server: the
// connect command with the token, pings answered, several pushes in one
// frame each handed over, a refused connect reported with the server's reply.
func TestCentrifugoClient(t *testing.T) {
	pongs := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/connection/websocket" {
			http.NotFound(w, r)
			return
		}
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_, cmd, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if !strings.Contains(string(cmd), `"token":"good"`) {
			ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"error":{"code":109,"message":"token expired"}}`))
			return
		}
		ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{"client":"c","subs":{"personal:#u":{}}}}`))
		ws.WriteMessage(websocket.TextMessage, []byte(`{}`))
		_, pong, _ := ws.ReadMessage()
		pongs <- string(pong)
		ws.WriteMessage(websocket.TextMessage, []byte(
			`{"push":{"channel":"personal:#u","pub":{"data":{"t":42},"offset":1}}}`+"\n"+
				`{"push":{"channel":"personal:#u","pub":{"data":{"t":43},"offset":2}}}`))
		ws.ReadMessage() // until the client goes
	}))
	defer srv.Close()
	cfg := centrifugoConfig()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")
	if _, err := cfg.dial(context.Background(), &websocket.Dialer{}, base, "bad"); err == nil || !strings.Contains(err.Error(), "token expired") {
		t.Fatalf("refused connect: %v", err)
	}
	ws, err := cfg.dial(context.Background(), &websocket.Dialer{}, base, "good")
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{ws: ws, centrifugo: true, done: make(chan struct{})}
	got := make(chan [2]int64, 2)
	h := func(b []byte) {
		seq, sent, ok := parsePush(b)
		if ok {
			got <- [2]int64{int64(seq), sent}
		}
	}
	c.handler.Store(&h)
	go c.read()
	defer closeAll([]*conn{c})
	select {
	case p := <-pongs:
		if p != "{}" {
			t.Fatalf("pong %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ping not answered")
	}
	for _, want := range [][2]int64{{1, 42}, {2, 43}} {
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("push %v, want %v", g, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("push not handed over")
		}
	}
	if _, _, ok := parsePush([]byte(`{"id":2,"publish":{}}`)); ok {
		t.Fatal("a reply parsed as a push")
	}
}

// Centrifugo's server API takes the key in X-API-Key and answers 200.
func TestCentrifugoSender(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != "k" || r.Header.Get("Authorization") != "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"result":{}}`))
	}))
	defer srv.Close()
	cfg := centrifugoConfig()
	cfg.APIKey = "k"
	s, err := cfg.newSender(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if !s.post("/api/publish", []byte(`{}`)) {
		t.Fatal("publish with the key not accepted")
	}
	cfg.APIKey = "other"
	s2, _ := cfg.newSender(srv.URL)
	defer s2.close()
	if s2.post("/api/publish", []byte(`{}`)) {
		t.Fatal("a 401 counted as accepted")
	}
}
