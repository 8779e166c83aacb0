package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/pebble"
)

// slowStore wraps a store and records batch sizes; each Append takes a while,
// as an fsync does, so concurrent requests pile up behind it.
type slowStore struct {
	herald.Store
	mu      sync.Mutex
	batches []int
	fail    error
}

func (s *slowStore) Append(ctx context.Context, msgs []*herald.Message) error {
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	s.batches = append(s.batches, len(msgs))
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	return s.Store.Append(ctx, msgs)
}

type dispatched struct {
	mu   sync.Mutex
	msgs []*herald.Message
}

func (d *dispatched) Dispatch(_ context.Context, msgs []*herald.Message) error {
	d.mu.Lock()
	d.msgs = append(d.msgs, msgs...)
	d.mu.Unlock()
	return nil
}

func (d *dispatched) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.msgs)
}

func newService(t *testing.T) (*Service, *slowStore, *dispatched) {
	t.Helper()
	b, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	st := &slowStore{Store: b}
	d := &dispatched{}
	cfg := DefaultConfig()
	cfg.MaxPayload = 100
	s := New(cfg, Deps{Store: st, Dispatcher: d, Registry: prometheus.NewRegistry()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, st, d
}

func TestGroupCommit(t *testing.T) {
	s, st, d := newService(t)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := s.Validate(&SendRequest{Users: []string{"u"}, Payload: json.RawMessage(`1`)}, time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			if err := s.Submit(context.Background(), []*herald.Message{m}); err != nil || len(m.Seqs) != 1 {
				t.Errorf("submit %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	st.mu.Lock()
	writes := len(st.batches)
	st.mu.Unlock()
	if writes >= n/2 {
		t.Errorf("%d requests took %d writes; group commit should need far fewer", n, writes)
	}
	testenv.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if got := d.count(); got < n {
			return fmt.Errorf("dispatched %d of %d", got, n)
		}
		return nil
	})
	if d.count() != n {
		t.Errorf("dispatched %d of %d", d.count(), n)
	}
}

func TestNoAcceptWithoutStore(t *testing.T) {
	s, st, d := newService(t)
	st.fail = errors.New("disk gone")
	mux := http.NewServeMux()
	s.Register(mux, httpx.SingleKey("k"))
	req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(`{"users":["a"],"payload":1}`))
	req.Header.Set("Authorization", "Bearer k")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"unavailable"`) {
		t.Fatalf("store failure answered %d %s; want 503", rec.Code, rec.Body)
	}
	if d.count() != 0 {
		t.Fatal("a message that was not stored must not be dispatched")
	}
}

func TestValidate(t *testing.T) {
	s, _, _ := newService(t)
	m, err := s.Validate(&SendRequest{Users: []string{"a", "b", "a"}, Payload: json.RawMessage(` { "x" : [1, 2] } `), Topic: "news"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Users) != 2 || string(m.Payload) != `{"x":[1,2]}` || m.ID == "" || len(m.ID) != 32 {
		t.Fatalf("message = %+v, payload %s", m, m.Payload)
	}
	bad := []SendRequest{
		{Payload: json.RawMessage(`1`)},
		{Users: []string{"a"}},
		{Users: []string{"a"}, Payload: json.RawMessage(`null`)},
		{Users: []string{"a/b"}, Payload: json.RawMessage(`1`)},
		{Users: []string{"a"}, Payload: json.RawMessage(`1`), Topic: "bad topic"},
		{Users: []string{"a"}, Payload: json.RawMessage(`"` + strings.Repeat("x", 200) + `"`)},
	}
	for i, req := range bad {
		if _, err := s.Validate(&req, time.Now()); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
}

func TestIDsAreUniqueAndSortByTime(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := newID(time.UnixMilli(int64(1_700_000_000_000 + i)))
		if seen[id] || id <= prev {
			t.Fatalf("id %s repeated or out of order after %s", id, prev)
		}
		seen[id], prev = true, id
	}
}

func TestIdempotencyKey(t *testing.T) {
	s, _, _ := newService(t)
	mux := http.NewServeMux()
	s.Register(mux, httpx.SingleKey("k"))
	send := func(key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(`{"users":["a"],"payload":1}`))
		req.Header.Set("Authorization", "Bearer k")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	first, again, other := send("order-42"), send("order-42"), send("order-43")
	if first.Code != 202 || again.Code != 202 || other.Code != 202 {
		t.Fatalf("codes %d %d %d", first.Code, again.Code, other.Code)
	}
	if first.Body.String() != again.Body.String() || first.Body.String() == other.Body.String() {
		t.Fatalf("bodies %s %s %s", first.Body, again.Body, other.Body)
	}
	if again.Header().Get("Idempotent-Replayed") != "true" || first.Header().Get("Idempotent-Replayed") != "" {
		t.Error("the replayed answer is marked, the first is not")
	}
	got, _ := s.store.Messages(context.Background(), "a", 0, 10)
	if len(got) != 2 {
		t.Fatalf("stored %d messages, want 2", len(got))
	}
	if bad := send(strings.Repeat("x", 300)); bad.Code != 400 {
		t.Fatalf("overlong key: %d", bad.Code)
	}
}

// A batch with an Idempotency-Key sent twice is stored once; the retry gets
// the same IDs, marked as replayed. A batch under another key is new.
func TestBatchIdempotencyKey(t *testing.T) {
	s, _, _ := newService(t)
	mux := http.NewServeMux()
	s.Register(mux, httpx.SingleKey("k"))
	post := func(key string) (*httptest.ResponseRecorder, BatchResponse) {
		req := httptest.NewRequest("POST", "/v1/messages/batch", strings.NewReader(`{"messages":[{"users":["a"],"payload":1},{"users":["a","b"],"payload":2}]}`))
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		var out BatchResponse
		json.Unmarshal(rec.Body.Bytes(), &out)
		return rec, out
	}
	first, ids := post("import-7")
	again, againIDs := post("import-7")
	other, otherIDs := post("import-8")
	if first.Code != 202 || again.Code != 202 || other.Code != 202 {
		t.Fatalf("codes %d %d %d", first.Code, again.Code, other.Code)
	}
	if strings.Join(ids.IDs, ",") != strings.Join(againIDs.IDs, ",") || ids.IDs[0] == ids.IDs[1] || ids.IDs[0] == otherIDs.IDs[0] {
		t.Fatalf("ids %v, retry %v, other key %v", ids.IDs, againIDs.IDs, otherIDs.IDs)
	}
	if again.Header().Get("Idempotent-Replayed") != "true" || first.Header().Get("Idempotent-Replayed") != "" {
		t.Error("the replayed answer is marked, the first is not")
	}
	if got, _ := s.store.Messages(context.Background(), "a", 0, 10); len(got) != 4 {
		t.Fatalf("a has %d messages, want 4 (two batches, the retry stored nothing)", len(got))
	}
	if rec, _ := post(strings.Repeat("x", 300)); rec.Code != 400 {
		t.Fatalf("overlong key: %d", rec.Code)
	}
}

func TestBatchAPI(t *testing.T) {
	s, _, d := newService(t)
	mux := http.NewServeMux()
	s.Register(mux, httpx.SingleKey("k"))
	post := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/messages/batch", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	rec := post(`{"messages":[{"users":["a"],"payload":1},{"users":["a","b"],"payload":{"x":2},"topic":"t"},{"users":["b"],"payload":"3"}]}`)
	var out BatchResponse
	json.Unmarshal(rec.Body.Bytes(), &out)
	if rec.Code != 202 || len(out.IDs) != 3 || out.IDs[0] == out.IDs[1] {
		t.Fatalf("batch: %d %s", rec.Code, rec.Body)
	}
	got, _ := s.store.Messages(context.Background(), "a", 0, 10)
	if len(got) != 2 || got[0].ID != out.IDs[0] || got[1].ID != out.IDs[1] {
		t.Fatalf("a's messages %v, ids %v", got, out.IDs)
	}
	// All or nothing: one bad item refuses the whole batch and names it.
	rec = post(`{"messages":[{"users":["a"],"payload":1},{"users":["bad user"],"payload":1}]}`)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "messages[1]") {
		t.Fatalf("bad item: %d %s", rec.Code, rec.Body)
	}
	if got, _ := s.store.Messages(context.Background(), "a", 0, 10); len(got) != 2 {
		t.Fatalf("a refused batch stored something: %d messages", len(got))
	}
	if rec = post(`{"messages":[]}`); rec.Code != 400 {
		t.Fatalf("empty batch: %d", rec.Code)
	}
	testenv.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if got := d.count(); got < 3 {
			return fmt.Errorf("dispatched %d of %d", got, 3)
		}
		return nil
	})
	if d.count() != 3 {
		t.Fatalf("dispatched %d, want 3", d.count())
	}
}

// The 202's hand-written body is what json.Marshal writes.
func TestSendResponseJSON(t *testing.T) {
	for _, id := range []string{newID(time.Now()), `odd "id" <&>`} {
		want, _ := json.Marshal(struct {
			ID string `json:"id"`
		}{id})
		if got := (SendResponse{ID: id}).AppendJSON(nil); string(got) != string(want) {
			t.Errorf("%s, want %s", got, want)
		}
	}
}
