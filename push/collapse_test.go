package push

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// A device offline for 1,000 messages over 10 collapse keys resumes with
// 10 (the newest of each, in seq order), with no expired message, and a
// live message after them comes at once: the seqs passed over are no
// holes to wait for. A topic collapses the same way.
func TestReplayCollapsesAndSkipsExpired(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.GapWait = 30 * time.Second })
	ctx := context.Background()
	var msgs []*herald.Message
	for i := range 1000 {
		m := &herald.Message{ID: fmt.Sprintf("c%04d", i), Time: time.Now(), Payload: json.RawMessage(fmt.Sprint(i)), Users: []string{"ann"},
			CollapseKey: fmt.Sprintf("k%d", i%10)}
		if i == 995 { // the newest of k5, but expired: k5 has none to show
			m.Expires = time.Now().Add(-time.Second)
		}
		msgs = append(msgs, m)
	}
	expired := &herald.Message{ID: "gone", Time: time.Now(), Payload: json.RawMessage(`"gone"`), Users: []string{"ann"}, Expires: time.Now().Add(-time.Second)}
	msgs = append(msgs, expired)
	for i := 0; i < len(msgs); i += 100 {
		if err := f.store.Append(ctx, msgs[i:min(i+100, len(msgs))]); err != nil {
			t.Fatal(err)
		}
	}
	since := uint64(0)
	c := probe.MustDialWS(t, f.ws, f.token(t, "ann"), "phone", &since)
	got := c.Msgs(9, 5*time.Second)
	var seqs []uint64
	for _, m := range got {
		seqs = append(seqs, m.Seq)
	}
	if fmt.Sprint(seqs) != "[991 992 993 994 995 997 998 999 1000]" {
		t.Fatalf("replayed seqs %v", seqs)
	}
	live := &herald.Message{ID: "live", Time: time.Now(), Payload: json.RawMessage(`"live"`), Users: []string{"ann"}}
	if err := f.store.Append(ctx, []*herald.Message{live}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	f.svc.Deliver(ctx, []*herald.Message{live})
	if m := c.Msgs(1, 5*time.Second)[0]; m.Seq != 1002 || m.ID != "live" {
		t.Fatalf("live: %+v", m)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("the live message waited %v", waited)
	}

	// A topic: the newest of its key only.
	for i := range 5 {
		m := &herald.Message{ID: fmt.Sprintf("t%d", i), Time: time.Now(), Topic: "scores", Payload: json.RawMessage(fmt.Sprint(i)),
			Users: []string{herald.TopicKey("scores")}, CollapseKey: "match"}
		if err := f.store.Append(ctx, []*herald.Message{m}); err != nil {
			t.Fatal(err)
		}
	}
	sub := probe.MustDialWS(t, f.ws, f.topicToken(t, "bob", "scores"), "", nil)
	sub.Subscribe([]string{"scores"}, map[string]uint64{"scores": 0})
	if p := sub.Pubs(1, 5*time.Second)[0]; p.Seq != 5 || string(p.Payload) != "4" {
		t.Fatalf("topic replay: %+v", p)
	}
	sub.NoPub(300 * time.Millisecond)
}
