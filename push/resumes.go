package push

import (
	"context"
	"sync"
	"time"
)

// resumeGate bounds the handshakes (hello and replay) that read the store
// at once, and sizes the bound to the store's latency: additive increase
// while the store answers fast, halving when it answers slowly (at most
// once per slowAnswer).
//
// Why adapt: when a node dies its clients all resume at once. A fixed
// bound of 32 per node kept a slow store (FerretDB on two shared cores, in
// the full-size chaos run) so busy that single point reads took over 30 s,
// and whole waves of resumes timed out together and came back; with 8 it
// mostly kept up (docs/guarantees.md). A store that is fast gets the full
// bound.
type resumeGate struct {
	mu       sync.Mutex
	limit    int // current bound, min..max
	min, max int
	active   int
	waiters  []chan struct{} // FIFO; closed when given a slot
	lastCut  time.Time
}

// Latency bounds of the store's answer to a handshake's first read.
const (
	fastAnswer = 50 * time.Millisecond
	slowAnswer = 500 * time.Millisecond
)

func newResumeGate(n int) *resumeGate {
	n = max(n, 1)
	return &resumeGate{limit: n, min: min(4, n), max: n}
}

// acquire waits for a slot until ctx ends.
func (g *resumeGate) acquire(ctx context.Context) error {
	g.mu.Lock()
	if g.active < g.limit && len(g.waiters) == 0 {
		g.active++
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	g.waiters = append(g.waiters, ch)
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	for i, w := range g.waiters {
		if w == ch {
			g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
			g.mu.Unlock()
			return ctx.Err()
		}
	}
	g.mu.Unlock()
	g.release(0) // given a slot as ctx ended: hand it on
	return ctx.Err()
}

// release gives the slot back with the store's latency seen in it (0: none
// measured), adapts the bound, and wakes whoever the bound now lets in.
func (g *resumeGate) release(answer time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active--
	now := time.Now()
	switch {
	case answer >= slowAnswer && now.Sub(g.lastCut) >= slowAnswer:
		g.limit = max(g.min, g.limit/2)
		g.lastCut = now
	case answer > 0 && answer <= fastAnswer && g.limit < g.max:
		g.limit++
	}
	for g.active < g.limit && len(g.waiters) > 0 {
		close(g.waiters[0])
		g.waiters = g.waiters[1:]
		g.active++
	}
}

// bound returns the current bound (for metrics and tests).
func (g *resumeGate) bound() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit
}
