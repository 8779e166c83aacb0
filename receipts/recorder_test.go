package receipts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/pebble"
)

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
	r := New(store, st, nil, time.Minute, reg)
	now := time.Now()
	r.Delivered("alice", "phone", []Noted{{m.ID, m.Seqs[0]}}, now)
	r.Ack("alice", "phone", m.Seqs[0], now)
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
	r := New(st, nil, nil, time.Minute, prometheus.NewRegistry())
	notes := make([]Noted, 1000)
	for i := range notes {
		notes[i] = Noted{"m", herald.Seq(i + 1)}
	}
	for range 60 {
		r.Delivered("alice", "phone", notes, time.Now())
	}
	r.flush(context.Background())
	r.flush(context.Background())
	r.flush(context.Background())
	if fmt.Sprint(st.got) != fmt.Sprint([]int{maxFlushReceipts, 60000 - maxFlushReceipts}) {
		t.Fatalf("writes of %v receipts; want %d then the rest", st.got, maxFlushReceipts)
	}
}
