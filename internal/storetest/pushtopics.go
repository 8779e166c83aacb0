package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// A topic's registrations, read a page at a time: each listing the topic
// once, none that stopped listing it or was deleted; the broadcast's are
// all of them.
func testTopicRegistrations(t *testing.T, s herald.Store) {
	rs, ok := s.(herald.PushRegistrations)
	if !ok {
		t.Skip("this store keeps no push registrations")
	}
	ctx := context.Background()
	put := func(user, device string, topics ...string) {
		t.Helper()
		r := herald.PushRegistration{User: user, Device: device, Provider: herald.ProviderFCM, Token: "t-" + user + device, Topics: topics, Updated: time.Now()}
		if err := rs.PutRegistration(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var wantNews []string
	for i := range 23 {
		user := fmt.Sprintf("u%02d", i)
		put(user, "phone", "news", "sport")
		put(user, "web")
		wantNews = append(wantNews, user+"/phone")
	}
	put("ab", "x", "news") // "ab" sorts before "a" + anything in some orders: any order will do, once each
	put("a", "bx", "news")
	wantNews = append(wantNews, "ab/x", "a/bx")
	put("u00", "phone", "sport") // no longer news
	put("u01", "tablet", "news")
	wantNews = append(wantNews, "u01/tablet")
	if _, err := rs.DeleteRegistration(ctx, "u02", "phone"); err != nil {
		t.Fatal(err)
	}
	wantNews = slices.DeleteFunc(wantNews, func(s string) bool { return s == "u00/phone" || s == "u02/phone" })

	pages := func(topic string, size int) []string {
		t.Helper()
		var got []string
		after := ""
		for range 100 {
			regs, next, err := rs.TopicRegistrations(ctx, topic, after, size)
			if err != nil {
				t.Fatal(err)
			}
			if len(regs) > size {
				t.Fatalf("a page of %d: %d", size, len(regs))
			}
			for _, r := range regs {
				if topic != herald.Broadcast && !slices.Contains(r.Topics, topic) {
					t.Fatalf("%s/%s does not list %s: %v", r.User, r.Device, topic, r.Topics)
				}
				got = append(got, r.User+"/"+r.Device)
			}
			if next == "" {
				slices.Sort(got)
				return got
			}
			after = next
		}
		t.Fatal("pages never end")
		return nil
	}
	slices.Sort(wantNews)
	for _, size := range []int{1, 7, 100} {
		if got := pages("news", size); !slices.Equal(got, wantNews) {
			t.Fatalf("news in pages of %d:\n got %v\nwant %v", size, got, wantNews)
		}
	}
	if got := pages("nothing", 10); len(got) != 0 {
		t.Fatalf("a topic no one lists: %v", got)
	}
	if got := pages(herald.Broadcast, 9); len(got) != 23*2-1+3 {
		t.Fatalf("broadcast: %d registrations, want %d: %v", len(got), 23*2-1+3, got)
	}
}

// SpreadPush queues a topic push's share per user and moves its cursor,
// while the topic push stays held.
func testSpreadPush(t *testing.T, s herald.Store) {
	q, ok := s.(herald.PushQueue)
	if !ok {
		t.Skip("this store keeps no push queue")
	}
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	n := herald.Notification{Title: "Goal"}
	topic := herald.PendingPush{MsgID: "m9", User: herald.TopicKey("news"), Seq: 4, Mode: herald.PushIfOffline, Notification: n, Due: t0}
	if err := q.QueuePushes(ctx, []herald.PendingPush{topic}); err != nil {
		t.Fatal(err)
	}
	got, err := q.ClaimPushes(ctx, t0, time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].User != "#news" || got[0].After != "" {
		t.Fatalf("claim: %+v %v", got, err)
	}
	share := func(user string) herald.PendingPush {
		return herald.PendingPush{MsgID: "m9", User: user, Seq: 4, Mode: herald.PushIfOffline, Notification: n, Due: t0, Topic: "news"}
	}
	p := got[0]
	p.After = "cursor-1"
	if err := q.SpreadPush(ctx, p, []herald.PendingPush{share("ann"), share("bob")}); err != nil {
		t.Fatal(err)
	}
	p.After = "cursor-2"
	if err := q.SpreadPush(ctx, p, []herald.PendingPush{share("bob"), share("cy")}); err != nil { // bob again: a page queued twice
		t.Fatal(err)
	}
	got, err = q.ClaimPushes(ctx, t0.Add(time.Second), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, g := range got {
		users = append(users, g.User)
		if g.Topic != "news" || g.Seq != 4 || g.Notification.Title != "Goal" {
			t.Fatalf("a user's share: %+v", g)
		}
	}
	slices.Sort(users)
	if fmt.Sprint(users) != "[ann bob cy]" { // the topic push itself is still held
		t.Fatalf("claimed: %v", users)
	}
	if err := q.RetryPush(ctx, p); err != nil { // let go, due now
		t.Fatal(err)
	}
	got, err = q.ClaimPushes(ctx, t0.Add(2*time.Second), time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].User != "#news" || got[0].After != "cursor-2" {
		t.Fatalf("the topic push again: %+v %v", got, err)
	}
}
