// Package storetest is the conformance suite every herald.Store passes: the same
// tests run against the embedded bolt store and against MongoDB (FerretDB).
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// Run runs the suite; open returns a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) herald.Store) {
	t.Run("AppendAssignsPerUserSeqs", func(t *testing.T) { testSeqs(t, open(t)) })
	t.Run("MessagesPagesInOrder", func(t *testing.T) { testPaging(t, open(t)) })
	t.Run("AcksNeverMoveBack", func(t *testing.T) { testAcks(t, open(t)) })
	t.Run("ConcurrentAppendsStayStrictlyIncreasing", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("AppendIsIdempotentByID", func(t *testing.T) { testIdempotent(t, open(t)) })
	t.Run("NewIDMessagesAreStored", func(t *testing.T) { testNewID(t, open(t)) })
	if _, ok := open(t).(herald.GapCloser); ok {
		t.Run("GapClosesASeqForGood", func(t *testing.T) { testGap(t, open(t)) })
	}
	t.Run("SweepRemovesOldMessages", func(t *testing.T) { testSweep(t, open(t)) })
	t.Run("StreamsHaveAnEpoch", func(t *testing.T) { testEpoch(t, open(t), open(t)) })
	t.Run("Receipts", func(t *testing.T) { testReceipts(t, open(t)) })
	t.Run("PushRegistrations", func(t *testing.T) { testRegistrations(t, open(t)) })
	t.Run("PushQueue", func(t *testing.T) { testPushQueue(t, open(t)) })
	t.Run("TopicRegistrations", func(t *testing.T) { testTopicRegistrations(t, open(t)) })
	t.Run("SpreadPush", func(t *testing.T) { testSpreadPush(t, open(t)) })
	t.Run("PushReceipts", func(t *testing.T) { testPushReceipts(t, open(t)) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, open(t)) })
	t.Run("Schedule", func(t *testing.T) { testSchedule(t, open(t)) })
}

func testIdempotent(t *testing.T, s herald.Store) {
	ctx := context.Background()
	first := msg("same", `1`, "a", "b")
	if err := s.Append(ctx, []*herald.Message{msg("other", `0`, "a"), first}); err != nil {
		t.Fatal(err)
	}
	if first.Dup || fmt.Sprint(first.Seqs) != "[2 1]" {
		t.Fatalf("first try: dup %v seqs %v", first.Dup, first.Seqs)
	}
	// The retry, and two more copies in one batch.
	again, twin := msg("same", `1`, "a", "b"), msg("same", `1`, "a", "b")
	if err := s.Append(ctx, []*herald.Message{again, msg("new", `2`, "a"), twin}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*herald.Message{again, twin} {
		if !m.Dup || fmt.Sprint(m.Seqs) != "[2 1]" {
			t.Fatalf("retry: dup %v seqs %v, want dup with the first seqs [2 1]", m.Dup, m.Seqs)
		}
	}
	got, _ := s.Messages(ctx, "a", 0, 10)
	if len(got) != 3 || got[1].ID != "same" || got[2].ID != "new" || got[2].Seq != 3 {
		t.Fatalf("a's inbox = %v", got)
	}
}

// testNewID: a message whose ID was minted at random (NewID, no
// Idempotency-Key) may skip the "stored before?" read, and is stored and
// given seqs like any other, in the same batch as keyed ones.
func testNewID(t *testing.T, s herald.Store) {
	ctx := context.Background()
	fresh, keyed := msg("fresh", `1`, "a", "b"), msg("keyed", `2`, "a")
	fresh.NewID = true
	if err := s.Append(ctx, []*herald.Message{fresh, keyed}); err != nil {
		t.Fatal(err)
	}
	if fresh.Dup || fmt.Sprint(fresh.Seqs) != "[1 1]" || fmt.Sprint(keyed.Seqs) != "[2]" {
		t.Fatalf("seqs %v %v dup %v", fresh.Seqs, keyed.Seqs, fresh.Dup)
	}
	got, err := s.Messages(ctx, "b", 0, 10)
	if err != nil || len(got) != 1 || got[0].ID != "fresh" || string(got[0].Payload) != "1" {
		t.Fatalf("b's inbox = %v, %v", got, err)
	}
}

// testGap (stores that are a herald.GapCloser): Gap reads a stored seq,
// finds nothing at a free one, and with close marks it dead for good. The
// next write, whose counter hands it that very seq (as a writer that took
// the seq before the close would hold it), takes the next free one instead:
// its message is stored, never behind a closed seq.
func testGap(t *testing.T, s herald.Store) {
	ctx := context.Background()
	g := s.(herald.GapCloser)
	m1 := msg("g1", `1`, "u")
	if err := s.Append(ctx, []*herald.Message{m1}); err != nil {
		t.Fatal(err)
	}
	if d, st, err := g.Gap(ctx, "u", 1, false); err != nil || st != herald.SeqStored || d.ID != "g1" || string(d.Payload) != "1" {
		t.Fatalf("seq 1: %+v %v %v", d, st, err)
	}
	if _, st, err := g.Gap(ctx, "u", 2, false); err != nil || st != herald.SeqPending {
		t.Fatalf("free seq 2 before close: %v %v", st, err)
	}
	for range 2 { // closing is idempotent
		if _, st, err := g.Gap(ctx, "u", 2, true); err != nil || st != herald.SeqDead {
			t.Fatalf("close seq 2: %v %v", st, err)
		}
	}
	m2 := msg("g2", `2`, "u")
	if err := s.Append(ctx, []*herald.Message{m2}); err != nil {
		t.Fatal(err)
	}
	if m2.Seqs[0] <= 2 {
		t.Fatalf("the next message got seq %d, at or below the closed seq 2", m2.Seqs[0])
	}
	got, err := s.Messages(ctx, "u", 0, 10)
	if err != nil || len(got) != 2 || got[0].ID != "g1" || got[1].ID != "g2" || got[1].Seq != m2.Seqs[0] {
		t.Fatalf("u's messages %+v, %v", got, err)
	}
	if d, st, _ := g.Gap(ctx, "u", m2.Seqs[0], true); st != herald.SeqStored || d.ID != "g2" {
		t.Fatalf("closing a stored seq: %+v %v", d, st)
	}
}

func testSweep(t *testing.T, s herald.Store) {
	ctx := context.Background()
	now := time.Now()
	old := msg("old", `1`, "a", "b")
	old.Time = now.Add(-48 * time.Hour).Truncate(time.Millisecond)
	if err := s.Append(ctx, []*herald.Message{old, msg("new1", `2`, "a"), msg("new2", `3`, "a")}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.OldestSeq(ctx, "a"); n != 1 {
		t.Fatalf("oldest before sweep = %d", n)
	}
	n, err := s.Sweep(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 message removed", n, err)
	}
	got, _ := s.Messages(ctx, "a", 0, 10)
	if len(got) != 2 || got[0].Seq != 2 {
		t.Fatalf("after sweep a has %v", got)
	}
	if got, _ := s.Messages(ctx, "b", 0, 10); len(got) != 0 {
		t.Fatalf("after sweep b has %v", got)
	}
	if n, _ := s.OldestSeq(ctx, "a"); n != 2 {
		t.Errorf("oldest after sweep = %d, want 2", n)
	}
	if n, _ := s.LastSeq(ctx, "a"); n.Seq != 3 {
		t.Errorf("last seq after sweep = %d, want 3", n.Seq)
	}
	last, err := s.LastSeqs(ctx, []string{"a", "b", "nobody"})
	if err != nil || last["a"] != 3 || last["b"] != 1 || len(last) != 2 {
		t.Errorf("LastSeqs = %v, %v", last, err)
	}
	// A new message continues the sequence: seqs are never reused.
	m := msg("later", `4`, "b")
	s.Append(ctx, []*herald.Message{m})
	if m.Seqs[0] != 2 {
		t.Errorf("b's next seq = %d, want 2", m.Seqs[0])
	}
}

func msg(id string, payload string, users ...string) *herald.Message {
	return &herald.Message{ID: id, Time: time.UnixMilli(time.Now().UnixMilli()), Payload: json.RawMessage(payload), Users: users}
}

func testSeqs(t *testing.T, s herald.Store) {
	ctx := context.Background()
	a := msg("m1", `{"n":1}`, "alice", "bob")
	b := msg("m2", `"two"`, "alice")
	c := msg("m3", `[3]`, "bob", "carol")
	c.Topic = "news"
	if err := s.Append(ctx, []*herald.Message{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, []*herald.Message{c}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]herald.Seq{"m1": {1, 1}, "m2": {1 + 1}, "m3": {2, 1}}
	for _, m := range []*herald.Message{a, b, c} {
		if fmt.Sprint(m.Seqs) != fmt.Sprint(want[m.ID]) {
			t.Errorf("%s seqs = %v, want %v", m.ID, m.Seqs, want[m.ID])
		}
	}
	got, err := s.Messages(ctx, "bob", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "m1" || got[1].ID != "m3" || got[1].Seq != 2 || got[1].Topic != "news" {
		t.Fatalf("bob's messages = %+v", got)
	}
	if string(got[1].Payload) != `[3]` || got[0].User != "bob" || !got[0].Time.Equal(a.Time) {
		t.Fatalf("bob's first message = %+v (payload %s)", got[0], got[1].Payload)
	}
	for user, want := range map[string]herald.Seq{"alice": 2, "bob": 2, "carol": 1, "nobody": 0} {
		if n, err := s.LastSeq(ctx, user); err != nil || n.Seq != want {
			t.Errorf("LastSeq(%s) = %d, %v; want %d", user, n.Seq, err, want)
		}
	}
	if got, _ := s.Messages(ctx, "nobody", 0, 10); len(got) != 0 {
		t.Errorf("nobody has messages: %v", got)
	}
}

func testPaging(t *testing.T, s herald.Store) {
	ctx := context.Background()
	var batch []*herald.Message
	for i := range 25 {
		batch = append(batch, msg(fmt.Sprintf("p%02d", i), fmt.Sprint(i), "u1", "u10"))
	}
	if err := s.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// "u1" is a prefix of "u10": the store must not mix their inboxes.
	var all []herald.Delivery
	for after := herald.Seq(0); ; {
		page, err := s.Messages(ctx, "u1", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
	if len(all) != 25 {
		t.Fatalf("got %d messages, want 25", len(all))
	}
	for i, d := range all {
		if d.Seq != herald.Seq(i+1) || string(d.Payload) != fmt.Sprint(i) || d.User != "u1" {
			t.Fatalf("message %d = %+v", i, d)
		}
	}
	if page, _ := s.Messages(ctx, "u1", 20, 100); len(page) != 5 || page[0].Seq != 21 {
		t.Fatalf("after 20: %+v", page)
	}
}

func testAcks(t *testing.T, s herald.Store) {
	ctx := context.Background()
	if n, err := s.AckedSeq(ctx, "alice", "phone"); err != nil || n != 0 {
		t.Fatalf("AckedSeq before any ack = %d, %v", n, err)
	}
	acks := []herald.Ack{{User: "alice", Device: "phone", Seq: 5}, {User: "alice", Device: "laptop", Seq: 2}}
	if err := s.SaveAcks(ctx, acks); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAcks(ctx, []herald.Ack{{User: "alice", Device: "phone", Seq: 3}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.AckedSeq(ctx, "alice", "phone"); n != 5 {
		t.Errorf("phone ack = %d, want 5 (an older ack must not move it back)", n)
	}
	if n, _ := s.AckedSeq(ctx, "alice", "laptop"); n != 2 {
		t.Errorf("laptop ack = %d, want 2", n)
	}
}

func testConcurrent(t *testing.T, s herald.Store) {
	ctx := context.Background()
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.Append(ctx, []*herald.Message{msg(fmt.Sprintf("c%d-%d", w, i), "1", "hot")}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.Messages(ctx, "hot", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*each {
		t.Fatalf("got %d messages, want %d", len(got), writers*each)
	}
	for i, d := range got {
		if d.Seq != herald.Seq(i+1) {
			t.Fatalf("message %d has seq %d: seqs must be 1..n with no gap or repeat", i, d.Seq)
		}
	}
}

// testEpoch: a stream's epoch is set with its first seq and stays; a store
// made afresh (wiped) gives its streams another.
func testEpoch(t *testing.T, s, wiped herald.Store) {
	ctx := context.Background()
	for _, st := range []herald.Store{s, wiped} {
		if err := st.Append(ctx, []*herald.Message{{ID: "e1", Time: time.Now(), Payload: []byte(`1`), Users: []string{"u"}}}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.LastSeq(ctx, "u")
	if err != nil || first.Seq != 1 || first.Epoch == "" {
		t.Fatalf("after the first message: %+v %v", first, err)
	}
	if err := s.Append(ctx, []*herald.Message{{ID: "e2", Time: time.Now(), Payload: []byte(`2`), Users: []string{"u"}}}); err != nil {
		t.Fatal(err)
	}
	if next, err := s.LastSeq(ctx, "u"); err != nil || next.Seq != 2 || next.Epoch != first.Epoch {
		t.Fatalf("the epoch moved: %+v then %+v (%v)", first, next, err)
	}
	if other, err := wiped.LastSeq(ctx, "u"); err != nil || other.Epoch == "" || other.Epoch == first.Epoch {
		t.Fatalf("a store made afresh has epoch %+v, the first %+v (%v)", other, first, err)
	}
}
