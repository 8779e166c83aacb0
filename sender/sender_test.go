package sender

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/collect"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/pebble"
	"github.com/heraldpush/herald/receipts"
)

type nopDispatcher struct{}

func (nopDispatcher) Dispatch(context.Context, []*herald.Message) error { return nil }

// server is a real collect service on a real embedded store, behind front,
// which may get in the way of a request (fail it, or lose its answer).
type server struct {
	store herald.Store
	calls atomic.Int32
	front func(n int32, w http.ResponseWriter, r *http.Request, next http.Handler)
	url   string
}

func newServer(t *testing.T) *server {
	t.Helper()
	st, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	svc := collect.New(collect.DefaultConfig(), collect.Deps{Store: st, Dispatcher: nopDispatcher{}, Receipts: st, Schedule: st, Queue: st,
		Registrations: st, Recalls: st, Collapse: st, Registry: prometheus.NewRegistry()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	mux := http.NewServeMux()
	svc.Register(mux, httpx.SingleKey("k"))
	s := &server{store: st}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.calls.Add(1)
		if s.front != nil {
			s.front(n, w, r, mux)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	s.url = hs.URL
	return s
}

func (s *server) client() *Client {
	c := New("k", s.url)
	c.Backoff = time.Millisecond
	return c
}

func (s *server) stored(t *testing.T, user string) int {
	t.Helper()
	got, err := s.store.Messages(context.Background(), user, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(got)
}

func TestSendAndBatch(t *testing.T) {
	s := newServer(t)
	c := s.client()
	ctx := context.Background()
	id, err := c.Send(ctx, Message{Users: []string{"alice"}, Payload: map[string]string{"text": "hi"}})
	if err != nil || id == "" {
		t.Fatalf("send: %q %v", id, err)
	}
	// Five messages, two to a request, under one key; then the whole call
	// again with the key (the business system's own retry): same IDs,
	// nothing stored twice.
	c.MaxBatch = 2
	msgs := make([]Message, 5)
	for i := range msgs {
		msgs[i] = Message{Users: []string{"bob"}, Payload: json.RawMessage(`{"n":` + string(rune('0'+i)) + `}`)}
	}
	ids, err := c.SendBatch(ctx, msgs, Key("import-1"))
	if err != nil || len(ids) != 5 {
		t.Fatalf("batch: %v %v", ids, err)
	}
	again, err := c.SendBatch(ctx, msgs, Key("import-1"))
	if err != nil || len(again) != 5 || again[4] != ids[4] || again[0] != ids[0] {
		t.Fatalf("retried batch: %v (first %v) %v", again, ids, err)
	}
	if n := s.stored(t, "bob"); n != 5 {
		t.Fatalf("bob has %d messages, want 5", n)
	}
	p, err := c.Publish(ctx, "news", "extra")
	if err != nil || p.Seq != 1 || p.Topic != "news" {
		t.Fatalf("publish: %+v %v", p, err)
	}
	if b, err := c.Broadcast(ctx, 1); err != nil || b.Seq != 1 {
		t.Fatalf("broadcast: %+v %v", b, err)
	}
}

// The answer to a stored message is lost (the connection drops after the
// write): the SDK retries with the same key and gets the first ID; the
// message is stored once.
func TestLostAnswerIsRetriedWithoutRepeat(t *testing.T) {
	s := newServer(t)
	s.front = func(n int32, w http.ResponseWriter, r *http.Request, next http.Handler) {
		if n == 1 {
			next.ServeHTTP(httptest.NewRecorder(), r) // stored, answer thrown away
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		next.ServeHTTP(w, r)
	}
	id, err := s.client().Send(context.Background(), Message{Users: []string{"carol"}, Payload: 1})
	if err != nil || id == "" {
		t.Fatalf("send: %q %v", id, err)
	}
	if n := s.stored(t, "carol"); n != 1 || s.calls.Load() != 2 {
		t.Fatalf("stored %d after %d calls, want 1 after 2", n, s.calls.Load())
	}
}

// 503 is retried (honouring Retry-After); 400 is not, and says why.
func TestRetriesAndRefusals(t *testing.T) {
	s := newServer(t)
	s.front = func(n int32, w http.ResponseWriter, r *http.Request, next http.Handler) {
		if n <= 2 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":{"code":"unavailable","message":"busy"}}`, http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	}
	c := s.client()
	var retried []error
	c.OnRetry = func(err error) { retried = append(retried, err) }
	if _, err := c.Send(context.Background(), Message{Users: []string{"dan"}, Payload: 1}); err != nil || s.calls.Load() != 3 {
		t.Fatalf("after two 503s: %v, %d calls", err, s.calls.Load())
	}
	if len(retried) != 2 {
		t.Fatalf("OnRetry told of %d retries, want 2: %v", len(retried), retried)
	}
	c.OnRetry = nil
	_, err := c.Send(context.Background(), Message{Users: []string{"bad user"}, Payload: 1})
	var e *Error
	if !errors.As(err, &e) || e.Status != 400 || e.Code != "invalid_request" || s.calls.Load() != 4 {
		t.Fatalf("bad user: %v (%d calls)", err, s.calls.Load())
	}
	// Attempts run out: the last error is returned.
	s.front = func(_ int32, w http.ResponseWriter, _ *http.Request, _ http.Handler) {
		http.Error(w, `{"error":{"code":"unavailable","message":"down"}}`, http.StatusServiceUnavailable)
	}
	c.Attempts = 3
	before := s.calls.Load()
	if _, err := c.Send(context.Background(), Message{Users: []string{"dan"}, Payload: 1}); !errors.As(err, &e) || e.Status != 503 || s.calls.Load()-before != 3 {
		t.Fatalf("down: %v after %d calls", err, s.calls.Load()-before)
	}
}

// A message's options reach the server as the API names them: expiry,
// collapse key, notification; a scheduled one waits in the schedule, and
// Recall cancels it; a stored one is recalled.
func TestOptionsAndRecall(t *testing.T) {
	s := newServer(t)
	c := s.client()
	ctx := context.Background()
	id, err := c.Send(ctx, Message{Users: []string{"erin"}, Payload: 1, Options: Options{TTL: time.Hour, CollapseKey: "score",
		Notification: &Notification{Title: "Goal"}, Push: "always"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.store.(herald.ReceiptStore).Message(ctx, id)
	if err != nil || m == nil || m.CollapseKey != "score" || m.Expires.Sub(m.Time) != time.Hour {
		t.Fatalf("stored: %+v %v", m, err)
	}
	if ps, _ := s.store.(herald.PushQueue).ClaimPushes(ctx, time.Now().Add(time.Minute), time.Minute, 10); len(ps) != 1 || ps[0].Notification.Title != "Goal" || ps[0].Mode != "always" {
		t.Fatalf("the notification's push: %+v", ps)
	}
	later := time.Now().Add(time.Hour)
	pub, err := c.PublishWith(ctx, "news", "later", Options{DeliverAt: later})
	if err != nil || pub.Seq != 0 {
		t.Fatalf("scheduled publish: %+v %v", pub, err)
	}
	if sm, _ := s.store.(herald.Schedule).ScheduledMessage(ctx, pub.ID); sm == nil || sm.DeliverAt.UnixMilli() != later.UnixMilli() {
		t.Fatalf("scheduled: %+v", sm)
	}
	if r, err := c.Recall(ctx, pub.ID); err != nil || r.Status != "cancelled" {
		t.Fatalf("cancel: %+v %v", r, err)
	}
	if r, err := c.Recall(ctx, id); err != nil || r.Status != "recalled" || r.RecalledAt == 0 {
		t.Fatalf("recall: %+v %v", r, err)
	}
	var e *Error
	if _, err := c.Recall(ctx, "0123456789abcdef0123456789abcdef"); !errors.As(err, &e) || e.Status != 404 {
		t.Fatalf("an unknown ID: %v", err)
	}
}

// A request signed as Herald signs it (receipts.Sign) passes; another body,
// another secret or an old timestamp does not.
func TestVerifyWebhook(t *testing.T) {
	secret, body := "webhook-secret-0123456789", []byte(`{"events":[{"type":"acked"}]}`)
	now := time.Now()
	ts := now.Unix()
	sig := receipts.Sign(secret, ts, body)
	tss := strconv.FormatInt(ts, 10)
	if !VerifyWebhook(secret, tss, sig, body, now) {
		t.Fatal("Herald's own signature refused")
	}
	for name, ok := range map[string]bool{
		"another body":   VerifyWebhook(secret, tss, sig, append(body, ' '), now),
		"another secret": VerifyWebhook("another-secret-0000", tss, sig, body, now),
		"an old request": VerifyWebhook(secret, tss, sig, body, now.Add(10*time.Minute)),
		"no signature":   VerifyWebhook(secret, tss, "", body, now),
	} {
		if ok {
			t.Errorf("%s passed", name)
		}
	}
}
