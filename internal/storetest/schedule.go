package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// Scheduled messages: kept whole until due, each once (a retry of the same
// ID, or of one that went out, is a Dup), claimed when due and held for
// the lease, finished or cancelled.
func testSchedule(t *testing.T, s herald.Store) {
	sc, ok := s.(herald.Schedule)
	if !ok {
		t.Skip("this store keeps no schedule")
	}
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Millisecond)
	mk := func(id string, due time.Duration) *herald.Message {
		m := msg(id, `{"at":"`+id+`"}`, "ann", "bob")
		m.DeliverAt, m.CollapseKey, m.Expires = t0.Add(due), "k", t0.Add(due+time.Hour)
		m.Notification, m.Push = &herald.Notification{Title: "wake"}, herald.PushAlways
		return m
	}
	a, b := mk("s1", time.Second), mk("s2", time.Minute)
	if err := sc.ScheduleMessages(ctx, []*herald.Message{a, b}); err != nil || a.Dup || b.Dup {
		t.Fatalf("schedule: %v %v %v", err, a.Dup, b.Dup)
	}
	again := mk("s1", time.Hour)
	if err := sc.ScheduleMessages(ctx, []*herald.Message{again}); err != nil || !again.Dup {
		t.Fatalf("scheduled again: %v dup=%v", err, again.Dup)
	}
	stored := msg("went", `1`, "ann")
	if err := s.Append(ctx, []*herald.Message{stored}); err != nil {
		t.Fatal(err)
	}
	late := mk("went", time.Second) // a retry of a message that went out
	if err := sc.ScheduleMessages(ctx, []*herald.Message{late}); err != nil || !late.Dup {
		t.Fatalf("a stored ID scheduled: %v dup=%v", err, late.Dup)
	}
	claim := func(at time.Duration, want ...string) []*herald.Message {
		t.Helper()
		got, err := sc.ClaimScheduled(ctx, t0.Add(at), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range got {
			ids = append(ids, m.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Fatalf("claimed at +%v: %v, want %v", at, ids, want)
		}
		return got
	}
	claim(0)
	got := claim(2*time.Second, "s1")
	if m := got[0]; string(m.Payload) != `{"at":"s1"}` || fmt.Sprint(m.Users) != "[ann bob]" || !m.DeliverAt.Equal(a.DeliverAt) ||
		m.CollapseKey != "k" || !m.Expires.Equal(a.Expires) || m.Notification == nil || m.Notification.Title != "wake" || m.Push != herald.PushAlways {
		t.Fatalf("claimed: %+v", m)
	}
	claim(3 * time.Second) // held
	if m, err := sc.ScheduledMessage(ctx, "s2"); err != nil || m == nil || m.ID != "s2" {
		t.Fatalf("by ID: %+v %v", m, err)
	}
	if err := sc.FinishScheduled(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := sc.CancelScheduled(ctx, "s2"); err != nil || !ok {
		t.Fatalf("cancel: %v %v", ok, err)
	}
	if ok, _ := sc.CancelScheduled(ctx, "s2"); ok {
		t.Fatal("cancelled twice")
	}
	claim(time.Hour)
	if m, _ := sc.ScheduledMessage(ctx, "s1"); m != nil {
		t.Fatalf("finished, still there: %+v", m)
	}
}
