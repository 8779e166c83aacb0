package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/memory"
	"github.com/heraldpush/herald/pebble"
)

// fakeProvider records pushes and answers what answer says for a device.
type fakeProvider struct {
	mu     sync.Mutex
	pushed []string // "user/device msg"
	answer func(device string, attempt int) PushResult
	tries  map[string]int
}

func (f *fakeProvider) Push(_ context.Context, reg herald.PushRegistration, p herald.PendingPush) PushResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tries == nil {
		f.tries = map[string]int{}
	}
	f.tries[reg.Device]++
	r := PushResult{OK: true}
	if f.answer != nil {
		r = f.answer(reg.Device, f.tries[reg.Device])
	}
	if r.OK {
		f.pushed = append(f.pushed, fmt.Sprintf("%s/%s %s", reg.User, reg.Device, p.Notification.Title))
	}
	return r
}

func (f *fakeProvider) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.pushed)
	slices.Sort(out)
	return out
}

// wait waits until the pushes made are want (in any order).
func (f *fakeProvider) wait(t *testing.T, want ...string) {
	t.Helper()
	slices.Sort(want)
	testenv.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := f.got(); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("pushed %v, want %v", got, want)
		}
		return nil
	})
}

// startPusher runs a collect service with d (its store, registrations and
// queue a fresh embedded store) whose pushes are due pushAfter after a
// message, tuned by tune before it runs; the context ends with the test.
func startPusher(t *testing.T, pushAfter time.Duration, d Deps, tune func(*Service)) (*Service, *pebble.Store, context.Context) {
	t.Helper()
	b, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	cfg := DefaultConfig()
	cfg.PushAfter, cfg.PushEvery = pushAfter, 20*time.Millisecond
	d.Store, d.Registrations, d.Queue, d.Dispatcher, d.Registry = b, b, b, &dispatched{}, prometheus.NewRegistry()
	s := New(cfg, d)
	tune(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, b, ctx
}

// Pushing, with a provider that stands in: a device that acked in time is
// not pushed (if_not_acked), one that did not is; always pushes both; a
// gone registration is removed; a refused push is tried again with
// backoff; a message without a notification queues nothing.
func TestPusher(t *testing.T) {
	fake := &fakeProvider{}
	s, b, ctx := startPusher(t, 200*time.Millisecond, Deps{Providers: map[string]Provider{herald.ProviderFCM: fake, herald.ProviderAPNs: fake}},
		func(s *Service) { s.pusher.retryBase = 50 * time.Millisecond })

	for _, r := range []herald.PushRegistration{
		{User: "ann", Device: "phone", Provider: herald.ProviderFCM, Token: "t1"},
		{User: "ann", Device: "ipad", Provider: herald.ProviderAPNs, Token: "t2", Topic: "com.example.app"},
		{User: "bob", Device: "old", Provider: herald.ProviderFCM, Token: "t3"},
		{User: "cy", Device: "phone", Provider: herald.ProviderFCM, Token: "t4"},
	} {
		if err := b.PutRegistration(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	send := func(body string) *herald.Message {
		t.Helper()
		var req SendRequest
		if err := json.Unmarshal([]byte(body), &req); err != nil {
			t.Fatal(err)
		}
		m, err := s.Validate(&req, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Submit(ctx, []*herald.Message{m}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	wait := func(want ...string) { t.Helper(); fake.wait(t, want...) }

	// ann's phone acks before the push is due; her ipad does not.
	m := send(`{"users":["ann"],"payload":1,"notification":{"title":"one"}}`)
	if err := b.SaveAcks(ctx, []herald.Ack{{User: "ann", Device: "phone", Seq: m.Seqs[0]}}); err != nil {
		t.Fatal(err)
	}
	wait("ann/ipad one")
	send(`{"users":["ann"],"payload":2,"notification":{"title":"two"},"push":"always"}`)
	wait("ann/ipad one", "ann/ipad two", "ann/phone two")

	// bob's token is gone: his registration goes with it.
	fake.answer = func(device string, attempt int) PushResult {
		switch device {
		case "old":
			return PushResult{Gone: true, Reason: "UNREGISTERED"}
		case "phone":
			if attempt <= 2 { // cy's: refused twice, then through
				return PushResult{Retry: true, Reason: "QUOTA_EXCEEDED"}
			}
		}
		return PushResult{OK: true}
	}
	fake.mu.Lock()
	fake.tries = map[string]int{}
	fake.mu.Unlock()
	send(`{"users":["bob","cy"],"payload":3,"notification":{"title":"three","body":"b"}}`)
	wait("ann/ipad one", "ann/ipad two", "ann/phone two", "cy/phone three")
	if regs, _ := b.Registrations(ctx, "bob"); len(regs) != 0 {
		t.Fatalf("bob's gone registration is still there: %v", regs)
	}
	send(`{"users":["ann"],"payload":4}`)
	if ps, _ := b.ClaimPushes(ctx, time.Now().Add(time.Hour), time.Minute, 10); len(ps) != 0 {
		t.Fatalf("queued without a notification, or left over: %+v", ps)
	}

	for body, want := range map[string]string{
		`{"users":["ann"],"payload":1,"push":"always"}`:                                  "needs a notification",
		`{"users":["ann"],"payload":1,"notification":{}}`:                                "a title or a body",
		`{"users":["ann"],"payload":1,"notification":{"title":"x","data":[1]}}`:          "a JSON object",
		`{"users":["ann"],"payload":1,"notification":{"title":"x"},"push":"sometimes"}`:  "if_not_acked, if_offline, always or never",
		`{"users":["ann"],"payload":1,"notification":{"title":"x","priority":"urgent"}}`: "normal or high",
		`{"users":["ann"],"payload":1,"notification":{"title":"x","ttl_seconds":-1}}`:    "ttl_seconds",
	} {
		var req SendRequest
		json.Unmarshal([]byte(body), &req)
		if _, err := s.Validate(&req, time.Now()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

// Topic messages and broadcasts: pushed to the registrations that list
// the topic (all of them for a broadcast), if_offline by default, so a
// device with a connection is not; spread a page at a time, a user whose
// devices straddle two pages pushed once each.
func TestPusherTopics(t *testing.T) {
	fake := &fakeProvider{}
	router := memory.NewRouter()
	s, b, ctx := startPusher(t, 100*time.Millisecond, Deps{Directory: router, Providers: map[string]Provider{herald.ProviderFCM: fake}},
		func(s *Service) { s.pusher.page = 1 }) // every user's devices straddle pages

	for _, r := range []herald.PushRegistration{
		{User: "ann", Device: "phone", Topics: []string{"news"}},
		{User: "ann", Device: "tablet", Topics: []string{"news", "sport"}},
		{User: "ann", Device: "web"},
		{User: "bob", Device: "phone", Topics: []string{"news"}},
		{User: "cy", Device: "phone", Topics: []string{"sport"}},
	} {
		r.Provider, r.Token = herald.ProviderFCM, "t"
		if err := b.PutRegistration(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	node := herald.Node{ID: "n1", Epoch: 1}
	router.Heartbeat(ctx, node, time.Minute)
	router.SetRoutes(ctx, node, []herald.UserConns{{User: "bob", Conns: []herald.Conn{{ID: "c1", Device: "phone"}}}}, time.Minute)

	mux := http.NewServeMux()
	s.Register(mux, httpx.SingleKey("k"))
	send := func(path, body string) {
		t.Helper()
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 202 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
	wait := func(want ...string) { t.Helper(); fake.wait(t, want...) }
	send("/v1/topics/news/messages", `{"payload":1,"notification":{"title":"news"}}`) // bob's phone is connected
	wait("ann/phone news", "ann/tablet news")
	send("/v1/broadcast", `{"payload":2,"notification":{"title":"all"},"push":"always"}`)
	wait("ann/phone news", "ann/tablet news", "ann/phone all", "ann/tablet all", "ann/web all", "bob/phone all", "cy/phone all")
	send("/v1/topics/nobody/messages", `{"payload":3,"notification":{"title":"none"}}`)
	testenv.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if ps, _ := b.ClaimPushes(ctx, time.Now().Add(time.Hour), time.Minute, 10); len(ps) != 0 {
			return fmt.Errorf("left in the queue: %+v", ps)
		}
		return nil
	})
	if got := len(fake.got()); got != 7 {
		t.Fatalf("%d pushes, want 7", got)
	}

	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/v1/topics/news/messages", strings.NewReader(`{"payload":1,"notification":{"title":"x"},"push":"if_not_acked"}`))
	r.Header.Set("Authorization", "Bearer k")
	mux.ServeHTTP(rec, r)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "not acked") {
		t.Fatalf("if_not_acked on a topic: %d %s", rec.Code, rec.Body)
	}
}
