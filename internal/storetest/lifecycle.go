package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// A message's expiry and collapse key are stored with it and read back in
// its deliveries (and by ID, where receipts are kept); each stream's newest
// seq per collapse key follows the appends, per user and per topic.
func testLifecycle(t *testing.T, s herald.Store) {
	ci, ok := s.(herald.CollapseIndex)
	if !ok {
		t.Skip("this store keeps no collapse keys")
	}
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	var msgs []*herald.Message
	for i, k := range []string{"score", "", "score", "clock", "score"} {
		m := msg(fmt.Sprintf("lc%d", i), fmt.Sprint(i), "ann", "bob")
		m.CollapseKey = k
		if i == 1 {
			m.Expires = exp
		}
		msgs = append(msgs, m)
	}
	if err := s.Append(ctx, msgs[:3]); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, msgs[3:]); err != nil {
		t.Fatal(err)
	}
	topic := msg("lct", `"t"`, herald.TopicKey("news"))
	topic.CollapseKey = "score"
	if err := s.Append(ctx, []*herald.Message{topic}); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Messages(ctx, "ann", 0, 10)
	if err != nil || len(ds) != 5 {
		t.Fatalf("ann's messages: %v %v", ds, err)
	}
	if ds[0].CollapseKey != "score" || !ds[0].Expires.IsZero() || ds[1].CollapseKey != "" || !ds[1].Expires.Equal(exp) || ds[3].CollapseKey != "clock" {
		t.Fatalf("read back: %+v", ds)
	}
	newest, err := ci.NewestByKey(ctx, "ann", []string{"score", "clock", "none"})
	if err != nil || fmt.Sprint(newest) != "map[clock:4 score:5]" {
		t.Fatalf("ann's newest by key: %v %v", newest, err)
	}
	if !ds[0].Superseded(newest) || ds[4].Superseded(newest) || ds[3].Superseded(newest) || ds[1].Superseded(newest) {
		t.Fatalf("superseded: %v", newest)
	}
	if newest, err := ci.NewestByKey(ctx, herald.TopicKey("news"), []string{"score"}); err != nil || newest["score"] != 1 {
		t.Fatalf("the topic's newest by key: %v %v", newest, err)
	}
	if rs, ok := s.(herald.ReceiptStore); ok {
		m, err := rs.Message(ctx, "lc1")
		if err != nil || m == nil || !m.Expires.Equal(exp) {
			t.Fatalf("lc1 by ID: %+v %v", m, err)
		}
		if m, _ := rs.Message(ctx, "lc4"); m == nil || m.CollapseKey != "score" {
			t.Fatalf("lc4 by ID: %+v", m)
		}
	}

	// Recall: marked once, read back, passed over as an expired message is.
	rc, ok := s.(herald.Recalls)
	if !ok {
		return
	}
	at := time.Now().Truncate(time.Millisecond)
	m, err := rc.Recall(ctx, "lc2", at)
	if err != nil || m == nil || !m.Recalled.Equal(at) || fmt.Sprint(m.Users) != "[ann bob]" || string(m.Payload) != "2" {
		t.Fatalf("recall: %+v %v", m, err)
	}
	if m, err := rc.Recall(ctx, "lc2", at.Add(time.Minute)); err != nil || !m.Recalled.Equal(at) {
		t.Fatalf("recalled again: %+v %v (the first time stays)", m, err)
	}
	if m, err := rc.Recall(ctx, "nope", at); err != nil || m != nil {
		t.Fatalf("an unknown ID: %+v %v", m, err)
	}
	ds, _ = s.Messages(ctx, "bob", 2, 1)
	if len(ds) != 1 || ds[0].ID != "lc2" || !ds[0].Recalled || !ds[0].Expired(time.Now()) || string(ds[0].Payload) != "2" {
		t.Fatalf("a recalled delivery: %+v", ds)
	}
	if q, ok := s.(herald.PushQueue); ok {
		n := herald.Notification{Title: "x"}
		ps := []herald.PendingPush{{MsgID: "lc2", User: "ann", Notification: n, Due: at}, {MsgID: "lc2", User: "bob", Notification: n, Due: at},
			{MsgID: "lc3", User: "ann", Notification: n, Due: at}}
		if err := q.QueuePushes(ctx, ps); err != nil {
			t.Fatal(err)
		}
		if err := q.CancelPushes(ctx, "lc2"); err != nil {
			t.Fatal(err)
		}
		got, err := q.ClaimPushes(ctx, at.Add(time.Second), time.Minute, 10)
		if err != nil || len(got) != 1 || got[0].MsgID != "lc3" {
			t.Fatalf("after cancelling lc2's pushes: %+v %v", got, err)
		}
	}
}
