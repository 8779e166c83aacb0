package bench

import (
	"context"
	"testing"
	"time"
)

// The senders' first slots are spread over one interval, so that together
// they send evenly rather than in bursts of one message per sender.
func TestPacersSpreadTheirSlots(t *testing.T) {
	start := time.Unix(1000, 0)
	const n = 4
	var firsts []time.Duration
	for i := range n {
		p := newPacer(start, 8*time.Millisecond, i, n)
		firsts = append(firsts, p.next.Sub(start))
	}
	want := []time.Duration{0, 2 * time.Millisecond, 4 * time.Millisecond, 6 * time.Millisecond}
	for i := range want {
		if firsts[i] != want[i] {
			t.Fatalf("first slots %v, want %v", firsts, want)
		}
	}
}

// A sender behind its slot (held up by a slow answer) stamps the slot, so
// the delay counts in the latency; one on time stamps when it wakes.
func TestPacerStampsMissedSlots(t *testing.T) {
	ctx := context.Background()
	past := time.Now().Add(-time.Second)
	p := newPacer(past, 100*time.Millisecond, 0, 1)
	at, ok := p.wait(ctx)
	if !ok || !at.Equal(past) {
		t.Fatalf("behind: stamped %v, want the slot %v", at, past)
	}
	p = newPacer(time.Now().Add(20*time.Millisecond), time.Hour, 0, 1)
	before := time.Now()
	at, ok = p.wait(ctx)
	if !ok || at.Sub(before) < 20*time.Millisecond {
		t.Fatalf("on time: stamped %v after %v, want after its slot", at, before)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok := p.wait(cancelled); ok {
		t.Fatal("wait went on after its context ended")
	}
	var free pacer // no rate: every call returns at once
	if _, ok := free.wait(ctx); !ok {
		t.Fatal("an unpaced sender was stopped")
	}
}
