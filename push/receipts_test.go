package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/pebble"
)

func TestReceiptsAndWebhook(t *testing.T) {
	const secret = "0123456789abcdef-webhook"
	var mu sync.Mutex
	var events []Event
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(TimestampHeader), 10, 64)
		if r.Header.Get(SignatureHeader) != Sign(secret, ts, body) {
			t.Errorf("bad signature %q", r.Header.Get(SignatureHeader))
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(503) // the first try fails: the batch comes again
			return
		}
		var b WebhookBody
		json.Unmarshal(body, &b)
		events = append(events, b.Events...)
	}))
	defer hook.Close()
	f := newFixture(t, func(c *Config) {
		c.WebhookURL, c.WebhookSecret, c.AckTimeout = hook.URL, secret, 500*time.Millisecond
		c.PrivateNetworks = []string{"127.0.0.0/8"} // the test's receiver is on loopback
	})
	f.svc.hook.baseDelay = 10 * time.Millisecond
	ctx := context.Background()
	rs := f.store.(herald.ReceiptStore)
	phone := testenv.MustDialWS(t, f.ws, f.token(t, "alice"), "phone", nil)
	m1 := f.storeMsg(t, "1", "alice", "bob")
	m2 := f.storeMsg(t, "2", "alice")
	f.svc.Deliver(ctx, []*herald.Message{m1, m2})
	phone.Msgs(2, 5*time.Second)
	if err := phone.Ack(1); err != nil { // m1 acked, m2 not
		t.Fatal(err)
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("m1 acked in the store", func() bool {
		got, _ := rs.Receipts(ctx, m1.ID)
		return len(got) == 1 && !got[0].Acked.IsZero() && got[0].Device == "phone" && got[0].User == "alice"
	})
	got, _ := rs.Receipts(ctx, m2.ID)
	if len(got) != 1 || !got[0].Acked.IsZero() || got[0].Delivered.IsZero() || got[0].Seq != 2 {
		t.Fatalf("m2's receipt: %+v", got)
	}
	wait("two webhook events", func() bool { mu.Lock(); defer mu.Unlock(); return len(events) >= 2 })
	mu.Lock()
	defer mu.Unlock()
	byType := map[string]Event{}
	for _, e := range events {
		byType[e.Type] = e
	}
	if a := byType["acked"]; a.ID != m1.ID || a.Device != "phone" || a.AckedAt == 0 || a.DeliveredAt == 0 {
		t.Fatalf("acked event: %+v", a)
	}
	if n := byType["not_acked"]; n.ID != m2.ID || n.Seq != 2 || n.AckedAt != 0 {
		t.Fatalf("not_acked event: %+v", n)
	}
	if len(events) != 2 || calls < 2 {
		t.Fatalf("events %+v after %d calls", events, calls)
	}
}

func TestReceiptsOff(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Receipts = false })
	if f.svc.receipts != nil {
		t.Fatal("receipts recorder with --receipts=false")
	}
	c := testenv.MustDialWS(t, f.ws, f.token(t, "u"), "", nil)
	m := f.storeMsg(t, "1", "u")
	f.svc.Deliver(context.Background(), []*herald.Message{m})
	c.Msgs(1, 5*time.Second)
}

// failingReceipts fails the next fails writes of each kind, then writes.
type failingReceipts struct {
	herald.ReceiptStore
	mu                       sync.Mutex
	failDelivered, failAcked int
}

// failNext reports whether this call is to fail, counting *n down.
func (f *failingReceipts) failNext(n *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	*n--
	return *n >= 0
}

func (f *failingReceipts) SaveDelivered(ctx context.Context, rs []herald.Receipt) error {
	if f.failNext(&f.failDelivered) {
		return errors.New("database is locked")
	}
	return f.ReceiptStore.SaveDelivered(ctx, rs)
}

func (f *failingReceipts) SaveAcked(ctx context.Context, as []herald.AckAt) error {
	if f.failNext(&f.failAcked) {
		return errors.New("database is locked")
	}
	return f.ReceiptStore.SaveAcked(ctx, as)
}

// A flush that the store refuses loses nothing: the receipts and acks wait
// for the next flush (an election or a busy lock lasts moments).
func TestReceiptsSurviveAFailedFlush(t *testing.T) {
	st, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	ctx := context.Background()
	m := &herald.Message{ID: "0123456789abcdef0123456789abcdef", Time: time.Now(), Payload: []byte(`1`), Users: []string{"alice"}}
	if err := st.Append(ctx, []*herald.Message{m}); err != nil {
		t.Fatal(err)
	}
	store := &failingReceipts{ReceiptStore: st, failDelivered: 2, failAcked: 1}
	reg := prometheus.NewRegistry()
	r := newRecorder(store, st, nil, time.Minute, reg)
	now := time.Now()
	r.delivered("alice", "phone", []noted{{m.ID, m.Seqs[0]}}, now)
	r.ack("alice", "phone", m.Seqs[0], now)
	r.flush(ctx) // both writes fail
	r.flush(ctx) // the receipt fails again; the ack lands
	if got, _ := st.Receipts(ctx, m.ID); len(got) != 0 {
		t.Fatalf("receipts before the store took them: %+v", got)
	}
	r.flush(ctx)
	got, err := st.Receipts(ctx, m.ID)
	if err != nil || len(got) != 1 || got[0].Device != "phone" || got[0].Delivered.IsZero() || got[0].Acked.IsZero() {
		t.Fatalf("receipts %+v (%v); want phone's, delivered and acked", got, err)
	}
	if d := testutil.ToFloat64(r.dropped); d != 0 {
		t.Fatalf("%v receipts dropped", d)
	}
}

// sizes records the size of each SaveDelivered.
type sizes struct {
	herald.ReceiptStore
	got []int
}

func (s *sizes) SaveDelivered(_ context.Context, rs []herald.Receipt) error {
	s.got = append(s.got, len(rs))
	return nil
}

func (s *sizes) SaveAcked(context.Context, []herald.AckAt) error { return nil }

// A node that fell behind (its store was down) writes its backlog in bounded
// parts, one a flush, so that the store coming back gets no single huge write.
func TestReceiptsFlushInBoundedParts(t *testing.T) {
	st := &sizes{}
	r := newRecorder(st, nil, nil, time.Minute, prometheus.NewRegistry())
	notes := make([]noted, 1000)
	for i := range notes {
		notes[i] = noted{"m", herald.Seq(i + 1)}
	}
	for range 60 {
		r.delivered("alice", "phone", notes, time.Now())
	}
	r.flush(context.Background())
	r.flush(context.Background())
	r.flush(context.Background())
	if fmt.Sprint(st.got) != fmt.Sprint([]int{maxFlushReceipts, 60000 - maxFlushReceipts}) {
		t.Fatalf("writes of %v receipts; want %d then the rest", st.got, maxFlushReceipts)
	}
}
