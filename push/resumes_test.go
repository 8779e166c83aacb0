package push

import (
	"context"
	"testing"
	"time"
)

// The gate lets max handshakes in, queues the next, halves its bound when
// the store answers slowly (down to 4), grows it back one by one when it
// answers fast, and a waiter whose context ends leaves the queue.
func TestResumeGateAdaptsToTheStore(t *testing.T) {
	g := newResumeGate(16)
	ctx := context.Background()
	for range 16 {
		if err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan error, 1)
	go func() { got <- g.acquire(ctx) }()
	select {
	case <-got:
		t.Fatal("a 17th handshake got in past a bound of 16")
	case <-time.After(50 * time.Millisecond):
	}
	g.release(time.Second) // slow: 16 -> 8, and 15 are still in
	if b := g.bound(); b != 8 {
		t.Fatalf("bound %d after a slow answer, want 8", b)
	}
	select {
	case <-got:
		t.Fatal("let in while 15 hold slots under a bound of 8")
	case <-time.After(50 * time.Millisecond):
	}
	g.release(time.Second) // within slowAnswer of the last cut: no second cut
	if b := g.bound(); b != 8 {
		t.Fatalf("bound %d, want 8 (one cut per %s)", b, slowAnswer)
	}
	for range 7 { // 14 in -> 7 in: the waiter gets the 8th slot
		g.release(10 * time.Millisecond)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if b := g.bound(); b != 15 { // 8 + 7 fast answers
		t.Fatalf("bound %d after 7 fast answers, want 15", b)
	}
	time.Sleep(slowAnswer)
	for range 3 {
		g.release(time.Second)
		time.Sleep(slowAnswer)
	}
	if b := g.bound(); b != 4 {
		t.Fatalf("bound %d after slow answers, want the floor of 4", b)
	}
	// 5 are in, over the bound of 4: a waiter times out and leaves the queue.
	wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := g.acquire(wctx); err == nil {
		t.Fatal("got a slot over the bound")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiters) != 0 || g.active != 5 {
		t.Fatalf("%d waiting, %d in; want 0 and 5", len(g.waiters), g.active)
	}
}
