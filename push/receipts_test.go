package push

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
	"github.com/heraldpush/herald/receipts"
)

func TestReceiptsAndWebhook(t *testing.T) {
	const secret = "0123456789abcdef-webhook"
	var mu sync.Mutex
	var events []receipts.Event
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get(receipts.TimestampHeader), 10, 64)
		if r.Header.Get(receipts.SignatureHeader) != receipts.Sign(secret, ts, body) {
			t.Errorf("bad signature %q", r.Header.Get(receipts.SignatureHeader))
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
		var b receipts.WebhookBody
		json.Unmarshal(body, &b)
		events = append(events, b.Events...)
	}))
	defer hook.Close()
	f := newFixture(t, func(c *Config) {
		c.WebhookURL, c.WebhookSecret, c.AckTimeout = hook.URL, secret, 500*time.Millisecond
		c.PrivateNetworks = []string{"127.0.0.0/8"} // the test's receiver is on loopback
	})
	f.svc.hook.BaseDelay = 10 * time.Millisecond
	ctx := context.Background()
	rs := f.store.(herald.ReceiptStore)
	phone := probe.MustDialWS(t, f.ws, f.token(t, "alice"), "phone", nil)
	m1 := f.storeMsg(t, "1", "alice", "bob")
	m2 := f.storeMsg(t, "2", "alice")
	f.svc.Deliver(ctx, []*herald.Message{m1, m2})
	phone.Msgs(2, 5*time.Second)
	if err := phone.Ack(1); err != nil { // m1 acked, m2 not
		t.Fatal(err)
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if !cond() {
				return fmt.Errorf("waiting for %s", what)
			}
			return nil
		})
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
	byType := map[string]receipts.Event{}
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
	c := probe.MustDialWS(t, f.ws, f.token(t, "u"), "", nil)
	m := f.storeMsg(t, "1", "u")
	f.svc.Deliver(context.Background(), []*herald.Message{m})
	c.Msgs(1, 5*time.Second)
}
