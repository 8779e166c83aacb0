package push

import (
	"sync"
	"sync/atomic"
	"time"
)

// wheel holds every connection in one of a few slots, spread round-robin,
// for the loops that visit them all (keep-alive, catch-up). A flat slice per
// slot is much cheaper to walk than the hub's map of maps (a profile of
// 18,000 idle connections showed the map walk as 40 % of the node's idle
// CPU), and the keep-alive loop visits one slot a tick, so each connection
// once per PingInterval rather than once a tick.
type wheel struct {
	slots []wheelSlot
	next  atomic.Uint64
}

type wheelSlot struct {
	mu    sync.Mutex
	conns []*session
}

// newWheel sizes the wheel so that one slot is visited about once a second
// when each connection is visited once per interval.
func newWheel(interval time.Duration) *wheel {
	n := int(min(max(interval/time.Second, 1), 256))
	return &wheel{slots: make([]wheelSlot, n)}
}

func (w *wheel) add(c *session) {
	i := int(w.next.Add(1) % uint64(len(w.slots)))
	s := &w.slots[i]
	s.mu.Lock()
	c.slot, c.slotPos = i, len(s.conns)
	s.conns = append(s.conns, c)
	s.mu.Unlock()
}

func (w *wheel) remove(c *session) {
	s := &w.slots[c.slot]
	s.mu.Lock()
	last := len(s.conns) - 1
	if c.slotPos <= last && s.conns[c.slotPos] == c {
		s.conns[c.slotPos] = s.conns[last]
		s.conns[c.slotPos].slotPos = c.slotPos
		s.conns[last] = nil
		s.conns = s.conns[:last]
	}
	s.mu.Unlock()
}

// visit calls fn with each connection of slot i, under the slot's lock: fn
// must be quick and must not add or remove connections.
func (w *wheel) visit(i int, fn func(*session)) {
	s := &w.slots[i%len(w.slots)]
	s.mu.Lock()
	for _, c := range s.conns {
		fn(c)
	}
	s.mu.Unlock()
}

// snapshot appends slot i's connections to buf.
func (w *wheel) snapshot(i int, buf []*session) []*session {
	s := &w.slots[i]
	s.mu.Lock()
	buf = append(buf, s.conns...)
	s.mu.Unlock()
	return buf
}
