package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// testReceipts checks a herald.ReceiptStore: a message's recipients, first
// delivery kept, cumulative acks per device, and retention.
func testReceipts(t *testing.T, s herald.Store) {
	rs, ok := s.(herald.ReceiptStore)
	if !ok {
		t.Fatal("the store does not keep receipts")
	}
	ctx := context.Background()
	m1, m2 := msg("r1", `1`, "alice", "bob"), msg("r2", `2`, "alice")
	if err := s.Append(ctx, []*herald.Message{m1, m2}); err != nil {
		t.Fatal(err)
	}
	got, err := rs.Message(ctx, "r1")
	if err != nil || got == nil || len(got.Users) != 2 || got.Users[1] != "bob" || got.Seqs[1] != 1 || string(got.Payload) != "1" {
		t.Fatalf("Message(r1) = %+v, %v", got, err)
	}
	if got, err := rs.Message(ctx, "nope"); got != nil || err != nil {
		t.Fatalf("Message(nope) = %+v, %v", got, err)
	}
	t0 := time.UnixMilli(time.Now().UnixMilli())
	save := func(r ...herald.Receipt) {
		t.Helper()
		if err := rs.SaveDelivered(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	save(herald.Receipt{MsgID: "r1", User: "alice", Device: "phone", Seq: 1, Delivered: t0},
		herald.Receipt{MsgID: "r1", User: "alice", Device: "laptop", Seq: 1, Delivered: t0},
		herald.Receipt{MsgID: "r2", User: "alice", Device: "phone", Seq: 2, Delivered: t0})
	// Delivered again (a resume): the first time stays.
	save(herald.Receipt{MsgID: "r1", User: "alice", Device: "phone", Seq: 1, Delivered: t0.Add(time.Minute)})
	// phone acks 1 (r1 only), then 2; laptop never acks.
	t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
	if err := rs.SaveAcked(ctx, []herald.AckAt{{Ack: herald.Ack{User: "alice", Device: "phone", Seq: 1}, At: t1}}); err != nil {
		t.Fatal(err)
	}
	if err := rs.SaveAcked(ctx, []herald.AckAt{{Ack: herald.Ack{User: "alice", Device: "phone", Seq: 2}, At: t2}}); err != nil {
		t.Fatal(err)
	}
	byDevice := func(id string) map[string]herald.Receipt {
		t.Helper()
		list, err := rs.Receipts(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]herald.Receipt{}
		for _, r := range list {
			out[r.User+"/"+r.Device] = r
		}
		return out
	}
	r1 := byDevice("r1")
	if len(r1) != 2 || !r1["alice/phone"].Delivered.Equal(t0) || !r1["alice/phone"].Acked.Equal(t1) ||
		!r1["alice/laptop"].Acked.IsZero() || r1["alice/laptop"].Seq != 1 {
		t.Fatalf("receipts of r1: %+v", r1)
	}
	if r2 := byDevice("r2"); !r2["alice/phone"].Acked.Equal(t2) {
		t.Fatalf("receipts of r2: %+v", r2)
	}
	// Retention removes a message's receipts with it.
	old := msg("r-old", `3`, "carol")
	old.Time = time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	s.Append(ctx, []*herald.Message{old})
	save(herald.Receipt{MsgID: "r-old", User: "carol", Device: "d", Seq: 1, Delivered: t0})
	if _, err := s.Sweep(ctx, time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := byDevice("r-old"); len(got) != 0 {
		t.Fatalf("receipts after sweep: %+v", got)
	}
}
