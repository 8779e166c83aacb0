package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// The push queue: queued once per message and user, claimed when due and
// held for the lease, retried later with what was done, finished.
func testPushQueue(t *testing.T, s herald.Store) {
	q, ok := s.(herald.PushQueue)
	if !ok {
		t.Skip("this store keeps no push queue")
	}
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	n := herald.Notification{Title: "Hi", Body: "there", Data: []byte(`{"k":"v"}`), CollapseKey: "c", TTLSeconds: 60, Priority: "high"}
	p1 := herald.PendingPush{MsgID: "m1", User: "ann", Seq: 3, Mode: herald.PushIfNotAcked, Notification: n, Due: t0}
	p2 := herald.PendingPush{MsgID: "m1", User: "bob", Seq: 9, Mode: herald.PushAlways, Notification: n, Due: t0.Add(time.Second)}
	if err := q.QueuePushes(ctx, []herald.PendingPush{p1, p2}); err != nil {
		t.Fatal(err)
	}
	again := p1
	again.Due = t0.Add(time.Hour)
	if err := q.QueuePushes(ctx, []herald.PendingPush{again}); err != nil {
		t.Fatal(err)
	}
	claim := func(at time.Duration, want ...string) []herald.PendingPush {
		t.Helper()
		got, err := q.ClaimPushes(ctx, t0.Add(at), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		var users []string
		for _, p := range got {
			users = append(users, p.User)
		}
		if fmt.Sprint(users) != fmt.Sprint(want) {
			t.Fatalf("claimed at +%v: %v, want %v", at, users, want)
		}
		return got
	}
	got := claim(0, "ann") // bob's is not due yet; ann's was queued once
	if g := got[0]; g.Seq != 3 || g.Mode != herald.PushIfNotAcked || g.Notification.Title != "Hi" || string(g.Notification.Data) != `{"k":"v"}` ||
		g.Notification.TTLSeconds != 60 || g.Notification.Priority != "high" || !g.Due.Equal(t0) {
		t.Fatalf("claimed: %+v", g)
	}
	claim(0)                    // held
	claim(2*time.Second, "bob") // ann's still held
	retry := got[0]
	retry.Due, retry.Done, retry.Attempts = t0.Add(5*time.Second), []string{"phone"}, 1
	if err := q.RetryPush(ctx, retry); err != nil {
		t.Fatal(err)
	}
	claim(3 * time.Second) // ann's not due again yet; bob's held
	got = claim(6*time.Second, "ann")
	if g := got[0]; fmt.Sprint(g.Done) != "[phone]" || g.Attempts != 1 || !g.Due.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("retried: %+v", g)
	}
	if err := q.FinishPush(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	got = claim(10*time.Minute, "bob") // its lease is over: another instance takes it
	if err := q.FinishPush(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	claim(time.Hour)
}

// Push receipts: one per message and device, a later one replacing the
// earlier (a failure, then a retry that went through).
func testPushReceipts(t *testing.T, s herald.Store) {
	pr, ok := s.(herald.PushReceipts)
	if !ok {
		t.Skip("this store keeps no push receipts")
	}
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	if err := pr.SavePushed(ctx, []herald.PushReceipt{
		{MsgID: "m1", User: "ann", Device: "phone", Provider: herald.ProviderFCM, At: t0},
		{MsgID: "m1", User: "ann", Device: "web", Provider: herald.ProviderWebPush, At: t0, Failed: "will retry: 503"},
		{MsgID: "m2", User: "ann", Device: "phone", Provider: herald.ProviderFCM, At: t0},
	}); err != nil {
		t.Fatal(err)
	}
	if err := pr.SavePushed(ctx, []herald.PushReceipt{{MsgID: "m1", User: "ann", Device: "web", Provider: herald.ProviderWebPush, At: t0.Add(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	got, err := pr.PushReceipts(ctx, "m1")
	if err != nil {
		t.Fatal(err)
	}
	byDevice := map[string]herald.PushReceipt{}
	for _, r := range got {
		byDevice[r.Device] = r
	}
	if len(got) != 2 || byDevice["phone"].Provider != herald.ProviderFCM || !byDevice["phone"].At.Equal(t0) ||
		byDevice["web"].Failed != "" || !byDevice["web"].At.Equal(t0.Add(time.Second)) {
		t.Fatalf("push receipts of m1: %+v", got)
	}
}
