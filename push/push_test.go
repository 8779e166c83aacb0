package push

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/bucket"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
	"github.com/heraldpush/herald/memory"
	"github.com/heraldpush/herald/pebble"
)

type fixture struct {
	svc    *Service
	store  herald.Store
	jwt    *auth.JWT
	ws     string
	http   string // the same server's http:// base
	cancel context.CancelFunc
	done   chan struct{}
}

func newFixture(t *testing.T, tune func(*Config)) *fixture {
	t.Helper()
	return newFixtureStore(t, tune, nil)
}

// newFixtureStore is newFixture with the node's store wrapped by wrap (the
// fixture's own appends go to the store underneath).
func newFixtureStore(t *testing.T, tune func(*Config), wrap func(herald.Store) herald.Store) *fixture {
	t.Helper()
	base, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Close(context.Background()) })
	var st herald.Store = base
	if wrap != nil {
		st = wrap(base)
	}
	j, _ := auth.NewJWT("0123456789abcdef0123456789abcdef")
	cfg := DefaultConfig()
	if tune != nil {
		tune(&cfg)
	}
	svc := New(cfg, testDeps(j, st))
	mux := http.NewServeMux()
	mux.HandleFunc("/", svc.ServeWS)
	mux.HandleFunc("/sse", svc.ServeSSE)
	mux.HandleFunc("/sse/frames", svc.ServeSSEFrames)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{svc: svc, store: st, jwt: j, ws: "ws" + strings.TrimPrefix(srv.URL, "http"), http: srv.URL, cancel: cancel, done: make(chan struct{})}
	go func() { svc.Run(ctx); close(f.done) }()
	t.Cleanup(func() { cancel(); <-f.done })
	return f
}

// testDeps are a node's dependencies on st and an in-memory routing table,
// with whichever of the optional store capabilities st has.
func testDeps(auth herald.Authenticator, st herald.Store) Deps {
	r := memory.NewRouter()
	p := memory.NewTopicPresence(r)
	d := Deps{Auth: auth, Store: st, Router: r, Revocations: r, Presence: p, PresenceBus: p, Directory: r, Online: memory.NewOnline(), Registry: prometheus.NewRegistry()}
	d.Receipts, _ = st.(herald.ReceiptStore)
	d.Gaps, _ = st.(herald.GapCloser)
	d.Appends, _ = st.(herald.AppendCounter)
	d.Registrations, _ = st.(herald.PushRegistrations)
	d.Collapse, _ = st.(herald.CollapseIndex)
	return d
}

func (f *fixture) token(t *testing.T, user string) string {
	tok, err := f.jwt.Mint(user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// store appends a message for users and returns it with its seqs.
func (f *fixture) storeMsg(t *testing.T, payload string, users ...string) *herald.Message {
	t.Helper()
	m := &herald.Message{ID: "m-" + payload, Time: time.Now(), Payload: json.RawMessage(payload), Users: users}
	if err := f.store.Append(context.Background(), []*herald.Message{m}); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEncodeMsg(t *testing.T) {
	d := herald.Delivery{ID: "abc", Seq: 42, Time: time.UnixMilli(1700000000123), Topic: "news", Payload: json.RawMessage(`{"a":[1,"x"]}`)}
	var got map[string]any
	if err := json.Unmarshal(encodeMsg(d), &got); err != nil {
		t.Fatal(err)
	}
	if got["type"] != "msg" || got["id"] != "abc" || got["seq"].(float64) != 42 || got["ts"].(float64) != 1700000000123 || got["topic"] != "news" {
		t.Fatalf("frame = %v", got)
	}
	d.Topic = ""
	if strings.Contains(string(encodeMsg(d)), "topic") {
		t.Error("an empty topic is left out")
	}
}

func TestLiveDedupeAndGapFill(t *testing.T) {
	f := newFixture(t, nil)
	c := probe.MustDialWS(t, f.ws, f.token(t, "u"), "", nil)
	// Three messages are stored but only the third reaches the node live
	// (the first two were lost in flight): the client still gets 1, 2, 3.
	f.storeMsg(t, "1", "u")
	f.storeMsg(t, "2", "u")
	m3 := f.storeMsg(t, "3", "u")
	f.svc.Deliver(context.Background(), []*herald.Message{m3})
	f.svc.Deliver(context.Background(), []*herald.Message{m3}) // a repeat is dropped
	got := c.Msgs(3, 5*time.Second)
	for i, fr := range got {
		if fr.Seq != uint64(i+1) {
			t.Fatalf("got seqs %v %v %v", got[0].Seq, got[1].Seq, got[2].Seq)
		}
	}
	c.Quiet(200 * time.Millisecond)
}

func TestSlowConsumerIsDisconnected(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SendQueue = 4 })
	c := probe.MustDialWS(t, f.ws, f.token(t, "slow"), "", nil)
	// The client does not read; flood its queue.
	for i := 0; i < 5000; i++ {
		m := &herald.Message{ID: "x", Time: time.Now(), Payload: json.RawMessage(`"` + strings.Repeat("y", 1000) + `"`), Users: []string{"slow"}, Seqs: []herald.Seq{herald.Seq(i + 1)}}
		f.svc.Deliver(context.Background(), []*herald.Message{m})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Next(time.Until(deadline))
		if err != nil {
			if !strings.Contains(err.Error(), "4000") {
				t.Fatalf("connection ended with %v, want close 4000", err)
			}
			return
		}
	}
}

func TestDrainClosesWith1012AndLeaves(t *testing.T) {
	f := newFixture(t, nil)
	c := probe.MustDialWS(t, f.ws, f.token(t, "d"), "", nil)
	f.cancel()
	if code, reason := c.CloseCode(10 * time.Second); code != CloseServiceRestart || reason == "" {
		t.Fatalf("close %d %q, want 1012 with a reason", code, reason)
	}
	<-f.done
	if routes, _ := f.svc.router.Lookup(context.Background(), []string{"d"}); len(routes["d"]) != 0 {
		t.Fatalf("routes after drain: %v", routes)
	}
}

func TestAckIsClampedAndSaved(t *testing.T) {
	f := newFixture(t, nil)
	f.storeMsg(t, "1", "a")
	f.storeMsg(t, "2", "a")
	since := uint64(0)
	c := probe.MustDialWS(t, f.ws, f.token(t, "a"), "dev1", &since)
	c.Msgs(2, 5*time.Second)
	if err := c.Ack(99); err != nil { // more than was sent
		t.Fatal(err)
	}
	testenv.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		n, _ := f.store.AckedSeq(context.Background(), "a", "dev1")
		if n > 2 {
			t.Fatalf("stored ack = %d, want 2 (clamped to what was sent)", n)
		}
		if n != 2 {
			return fmt.Errorf("stored ack = %d, want 2", n)
		}
		return nil
	})
}

// A message stored but never delivered live (dispatch was down) reaches a
// connection that stays open within the catch-up interval.
func TestCatchUpDeliversWhatMissedLiveDelivery(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.CatchUpInterval = 100 * time.Millisecond })
	c := probe.MustDialWS(t, f.ws, f.token(t, "u"), "", nil)
	f.storeMsg(t, "1", "u")
	f.storeMsg(t, "2", "u")
	if got := c.Msgs(2, 5*time.Second); got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("got %v, %v", got[0].Seq, got[1].Seq)
	}
}

// A resume that asks for messages retention removed gets a hello that says so.
func TestHelloReportsRetentionGap(t *testing.T) {
	f := newFixture(t, nil)
	old := &herald.Message{ID: "old", Time: time.Now().Add(-time.Hour), Payload: json.RawMessage(`0`), Users: []string{"g"}}
	if err := f.store.Append(context.Background(), []*herald.Message{old}); err != nil {
		t.Fatal(err)
	}
	f.storeMsg(t, "2", "g")
	if _, err := f.store.Sweep(context.Background(), time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	since := uint64(0)
	c := probe.MustDialWS(t, f.ws, f.token(t, "g"), "", &since)
	if h := c.Hello; h.Seq != 2 || !h.Gap || h.Oldest != 2 {
		t.Fatalf("hello %+v, want seq 2 with gap and oldest 2", h)
	}
	if got := c.Msgs(1, 5*time.Second); got[0].Seq != 2 {
		t.Fatalf("replayed %d", got[0].Seq)
	}
	// No gap when nothing asked for is gone.
	since = 1
	c2 := probe.MustDialWS(t, f.ws, f.token(t, "g"), "", &since)
	if c2.Hello.Gap {
		t.Fatalf("gap reported for since=1: %+v", c2.Hello)
	}
}

func dialStatus(t *testing.T, url, token, origin string, header ...string) int {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	c, resp, err := websocket.DefaultDialer.Dial(url+"/ws?token="+token, h)
	if err == nil {
		t.Cleanup(func() { c.Close() })
		return resp.StatusCode
	}
	if resp == nil {
		t.Fatal(err)
	}
	body := make([]byte, 256)
	n, _ := resp.Body.Read(body)
	if !strings.Contains(string(body[:n]), `"error"`) {
		t.Errorf("refusal %d without a JSON error body: %s", resp.StatusCode, body[:n])
	}
	return resp.StatusCode
}

func TestConnectionLimits(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxConnections = 2; c.MaxUserConns = 1 })
	a, b, c := f.token(t, "a"), f.token(t, "b"), f.token(t, "c")
	if got := dialStatus(t, f.ws, a, ""); got != 101 {
		t.Fatalf("first connection: %d", got)
	}
	waitConns := func(n int64) {
		testenv.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if got := f.svc.conns.Load(); got != n {
				return fmt.Errorf("%d connections, want %d", got, n)
			}
			return nil
		})
	}
	waitConns(1)
	if got := dialStatus(t, f.ws, a, ""); got != 429 {
		t.Fatalf("second connection of one user: %d, want 429", got)
	}
	if got := dialStatus(t, f.ws, b, ""); got != 101 {
		t.Fatalf("another user: %d", got)
	}
	waitConns(2)
	if got := dialStatus(t, f.ws, c, ""); got != 503 {
		t.Fatalf("past the node's limit: %d, want 503", got)
	}
}

func TestOrigins(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AllowedOrigins = []string{"https://app.example"} })
	host := strings.TrimPrefix(f.ws, "ws://")
	cases := map[string]int{
		"":                      101, // not a browser
		"http://" + host:        101, // the page's own origin
		"https://app.example":   101, // listed
		"https://evil.example":  403,
		"https://app.example.x": 403,
		"https://" + host:       403, // the same host over another scheme is another origin (RFC 6454)
		"http://" + strings.Split(host, ":")[0] + ":1": 403, // another port
	}
	for origin, want := range cases {
		if got := dialStatus(t, f.ws, f.token(t, "o"+strconv.Itoa(len(origin))), origin); got != want {
			t.Errorf("origin %q: %d, want %d", origin, got, want)
		}
	}
	// X-Forwarded-Proto counts only from a trusted proxy (one that
	// terminates TLS in front of the node).
	if got := dialStatus(t, f.ws, f.token(t, "xfp"), "https://"+host, "X-Forwarded-Proto", "https"); got != 403 {
		t.Errorf("X-Forwarded-Proto from an untrusted peer: %d, want 403", got)
	}
	behind := newFixture(t, func(c *Config) { c.TrustedProxies = []string{"127.0.0.0/8"} })
	bhost := strings.TrimPrefix(behind.ws, "ws://")
	if got := dialStatus(t, behind.ws, behind.token(t, "xfp"), "https://"+bhost, "X-Forwarded-Proto", "https"); got != 101 {
		t.Errorf("https page behind a trusted TLS proxy: %d, want 101", got)
	}
	if got := dialStatus(t, behind.ws, behind.token(t, "xfp2"), "http://"+bhost, "X-Forwarded-Proto", "https"); got != 403 {
		t.Errorf("http page, the proxy says https: %d, want 403", got)
	}
}

func TestFrameRate(t *testing.T) {
	var r bucket.Bucket
	now := time.Unix(0, 0)
	n := 0
	for range 50 {
		if r.Allow(now, 10) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("burst allowed %d, want 10", n)
	}
	if !r.Allow(now.Add(150*time.Millisecond), 10) || r.Allow(now.Add(150*time.Millisecond), 10) {
		t.Fatal("refill: one frame per 100 ms")
	}
}

// A ping flood closes that connection with 1008; the server keeps serving.
func TestPingFloodIsCutOff(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxFrameRate = 20 })
	c := probe.MustDialWS(t, f.ws, f.token(t, "flood"), "", nil)
	go func() {
		for range 500 {
			if c.Send(map[string]string{"type": "ping"}) != nil {
				return
			}
		}
	}()
	for {
		_, err := c.Next(5 * time.Second)
		if err == nil {
			continue // pongs
		}
		if !strings.Contains(err.Error(), "1008") {
			t.Fatalf("flood ended with %v, want close 1008", err)
		}
		break
	}
	other := probe.MustDialWS(t, f.ws, f.token(t, "calm"), "", nil)
	if err := other.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if fr, err := other.Next(5 * time.Second); err != nil || fr.Type != "pong" {
		t.Fatalf("calm client: %+v %v", fr, err)
	}
}

// countingStore counts the catch-up's reads of newest seqs.
type countingStore struct {
	herald.Store
	lastSeqs atomic.Int64
}

func (c *countingStore) LastSeqs(ctx context.Context, users []string) (map[string]herald.Seq, error) {
	c.lastSeqs.Add(1)
	return c.Store.LastSeqs(ctx, users)
}

func (c *countingStore) Appends() uint64 { return c.Store.(herald.AppendCounter).Appends() }

// On a node whose store counts appends, catch-up rounds read nothing while
// nothing is stored, and still catch up what is stored later.
func TestCatchUpIdlesWhileNothingIsStored(t *testing.T) {
	var cs *countingStore
	f := newFixtureStore(t, func(c *Config) { c.CatchUpInterval = 50 * time.Millisecond }, func(s herald.Store) herald.Store {
		cs = &countingStore{Store: s}
		return cs
	})
	c := probe.MustDialWS(t, f.ws, f.token(t, "u"), "", nil)
	f.storeMsg(t, "1", "u") // not delivered live: catch-up brings it
	if got := c.Msgs(1, 5*time.Second); got[0].Seq != 1 {
		t.Fatalf("got seq %d", got[0].Seq)
	}
	// A few rounds still look (the one that found it, and the next); then
	// none should: 400 ms (eight rounds) without a read, within 5 s.
	for deadline := time.Now().Add(5 * time.Second); ; {
		before := cs.lastSeqs.Load()
		time.Sleep(400 * time.Millisecond)
		if cs.lastSeqs.Load() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("catch-up rounds still read newest seqs with nothing stored")
		}
	}
	f.storeMsg(t, "2", "u")
	if got := c.Msgs(1, 5*time.Second); got[0].Seq != 2 {
		t.Fatalf("got seq %d", got[0].Seq)
	}
}
