package routertest

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// RunPresence is the conformance suite of a herald.TopicPresence; open
// returns a fresh one and the router whose node liveness it follows.
func RunPresence(t *testing.T, open func(t *testing.T) (herald.TopicPresence, herald.Router)) {
	t.Run("JoinLeavePage", func(t *testing.T) { p, r := open(t); testPresencePages(t, p, r) })
	t.Run("DeadNodeLeaves", func(t *testing.T) { p, r := open(t); testPresenceDeadNode(t, p, r) })
	t.Run("JoinAndLeaveEvents", func(t *testing.T) { p, r := open(t); testPresenceEvents(t, p, r) })
}

func join(topic, user, device, conn string) herald.PresenceChange {
	return herald.PresenceChange{Topic: topic, Join: true, Member: herald.Member{User: user, Device: device, Conn: conn, Since: time.UnixMilli(1000)}}
}

func leave(topic, conn string) herald.PresenceChange {
	return herald.PresenceChange{Topic: topic, Member: herald.Member{Conn: conn}}
}

func testPresencePages(t *testing.T, p herald.TopicPresence, r herald.Router) {
	ctx := context.Background()
	mustBeat(t, r, a, time.Minute)
	var b herald.PresenceBatch
	for i := range 25 {
		b.Changes = append(b.Changes, join("chat:1", fmt.Sprintf("u%02d", i%10), "d", fmt.Sprintf("c%02d", i)))
	}
	b.Changes = append(b.Changes, join("chat:2", "other", "", "x1"), leave("chat:1", "c03"))
	b.Counts = map[string]herald.PresenceStats{"chat:1": {Users: 10, Connections: 24}, "chat:2": {Users: 1, Connections: 1}}
	if _, err := p.Change(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	var all []herald.Member
	cursor, pages := "", 0
	for {
		page, next, err := p.Members(ctx, "chat:1", cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 10 {
			t.Fatalf("a page of %d, limit 10", len(page))
		}
		all, pages = append(all, page...), pages+1
		if next == "" {
			break
		}
		cursor = next
	}
	if len(all) != 24 || pages != 3 {
		t.Fatalf("%d members in %d pages, want 24 in 3", len(all), pages)
	}
	seen := map[string]bool{}
	for i, m := range all {
		if seen[m.Conn] || m.Conn == "c03" || m.Node != a.ID || m.Device != "d" || !m.Since.Equal(time.UnixMilli(1000)) {
			t.Fatalf("member %d: %+v", i, m)
		}
		if i > 0 && all[i-1].Conn >= m.Conn {
			t.Fatalf("not in connection order at %d", i)
		}
		seen[m.Conn] = true
	}
	if st, err := p.Stats(ctx, "chat:1"); err != nil || st.Connections != 24 || st.Users != 10 {
		t.Fatalf("stats: %+v %v", st, err)
	}
	if page, next, err := p.Members(ctx, "nobody", "", 10); err != nil || len(page) != 0 || next != "" {
		t.Fatalf("an empty topic: %v %q %v", page, next, err)
	}
	// Everyone leaves: nothing left, counts gone.
	b = herald.PresenceBatch{Counts: map[string]herald.PresenceStats{"chat:1": {}}}
	for _, m := range all {
		b.Changes = append(b.Changes, leave("chat:1", m.Conn))
	}
	p.Change(ctx, a, b)
	if page, _, _ := p.Members(ctx, "chat:1", "", 100); len(page) != 0 {
		t.Fatalf("after every leave: %v", page)
	}
	if st, _ := p.Stats(ctx, "chat:1"); st != (herald.PresenceStats{}) {
		t.Fatalf("stats after every leave: %+v", st)
	}
}

// A node that dies (its heartbeat lapses) or restarts (another epoch)
// leaves no members behind.
func testPresenceDeadNode(t *testing.T, p herald.TopicPresence, r herald.Router) {
	ctx := context.Background()
	mustBeat(t, r, a, time.Minute)
	mustBeat(t, r, b, time.Minute)
	p.Change(ctx, a, herald.PresenceBatch{Changes: []herald.PresenceChange{join("t:x", "u1", "", "a1")},
		Counts: map[string]herald.PresenceStats{"t:x": {Users: 1, Connections: 1}}})
	p.Change(ctx, b, herald.PresenceBatch{Changes: []herald.PresenceChange{join("t:x", "u2", "", "b1"), join("t:x", "u1", "", "b2")},
		Counts: map[string]herald.PresenceStats{"t:x": {Users: 2, Connections: 2}}})
	if st, _ := p.Stats(ctx, "t:x"); st.Connections != 3 || st.Users != 3 {
		t.Fatalf("stats of two nodes: %+v", st)
	}
	r.Leave(ctx, b) // as good as dead, at once
	page, _, err := p.Members(ctx, "t:x", "", 10)
	if err != nil || len(page) != 1 || page[0].Conn != "a1" {
		t.Fatalf("members after b died: %v %v", page, err)
	}
	if st, _ := p.Stats(ctx, "t:x"); st.Connections != 1 {
		t.Fatalf("stats after b died: %+v", st)
	}
	restarted := a
	restarted.Epoch++
	mustBeat(t, r, restarted, time.Minute)
	if page, _, _ := p.Members(ctx, "t:x", "", 10); len(page) != 0 {
		t.Fatalf("members of a's former life: %v", page)
	}
}

// holders checks that list names want's nodes and epochs (a may be named
// with no member left: a store need not forget a live node).
func holders(t *testing.T, when string, list func(context.Context) ([]herald.Node, error), want ...herald.Node) {
	t.Helper()
	got, err := list(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names, wants []string
	for _, n := range got {
		if n.ID != a.ID || n.Epoch != a.Epoch {
			names = append(names, fmt.Sprint(n.ID, "@", n.Epoch))
		}
	}
	for _, n := range want {
		if n.ID != a.ID || n.Epoch != a.Epoch {
			wants = append(wants, fmt.Sprint(n.ID, "@", n.Epoch))
		}
	}
	sort.Strings(names)
	if fmt.Sprint(names) != fmt.Sprint(wants) {
		t.Fatalf("holders %s: %v, want %v", when, got, want)
	}
}

func events(t *testing.T, evs []herald.PresenceEvent, err error, want ...string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		kind := "leave"
		if e.Join {
			kind = "join"
		}
		got = append(got, kind+" "+e.Topic+" "+e.User)
	}
	sort.Strings(got) // a reap's come in no particular order
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// A user's first member of a topic is a join, their last one leaving a
// leave, whichever node holds them; a join written again is no event; a
// dead node's members leave once, whoever reaps.
func testPresenceEvents(t *testing.T, p herald.TopicPresence, r herald.Router) {
	ctx := context.Background()
	mustBeat(t, r, a, time.Minute)
	mustBeat(t, r, b, time.Minute)
	batch := func(cs ...herald.PresenceChange) herald.PresenceBatch { return herald.PresenceBatch{Changes: cs} }
	evs, err := p.Change(ctx, a, batch(join("t:e", "ann", "phone", "a1"), join("t:e", "ann", "laptop", "a2"), join("t:e", "bob", "", "a3")))
	events(t, evs, err, "join t:e ann", "join t:e bob")
	evs, err = p.Change(ctx, b, batch(join("t:e", "ann", "tab", "b1"), join("t:e", "cy", "", "b2")))
	events(t, evs, err, "join t:e cy")
	evs, err = p.Change(ctx, a, batch(join("t:e", "ann", "phone", "a1")))
	events(t, evs, err) // written again (a refresh): nothing
	evs, err = p.Change(ctx, a, batch(leave("t:e", "a1"), leave("t:e", "a2"), leave("t:e", "a3"), leave("t:e", "nobody")))
	events(t, evs, err, "leave t:e bob") // ann is still on b
	holders(t, "before the reap", p.Holders, a, b)
	r.Leave(ctx, b)
	evs, err = p.Reap(ctx, b)
	events(t, evs, err, "leave t:e ann", "leave t:e cy")
	evs, err = p.Reap(ctx, b)
	events(t, evs, err) // reaped already
	holders(t, "after the reap", p.Holders, a)
	if st, _ := p.Stats(ctx, "t:e"); st.Connections != 0 {
		t.Fatalf("stats after the reap: %+v", st)
	}
}
