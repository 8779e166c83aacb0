package bench

import (
	"context"
	"time"
)

// pacer spaces one sender's requests at a fixed interval. Sender i of n
// starts i/n of an interval after the others' common start, so that the
// senders together send evenly: started together, 64 senders at 5,000 msg/s
// sent bursts of 64 messages every 12.8 ms, and the last of each burst
// waited for the 63 before it in the server (the "steady" p99 then measured
// the burst, 5-10 ms, not the rate).
type pacer struct {
	interval time.Duration // 0: as fast as the answers come
	next     time.Time
}

func newPacer(start time.Time, interval time.Duration, i, n int) pacer {
	if interval <= 0 || n <= 0 {
		return pacer{}
	}
	return pacer{interval: interval, next: start.Add(interval * time.Duration(i) / time.Duration(n))}
}

// wait sleeps until the sender's next slot and returns the time to stamp on
// its request (latency is measured from it). A sender that is on time
// stamps the moment it wakes, so the load generator's own timer lateness is
// not charged to the server. A sender already past its slot was held up by
// its previous answer, so it stamps the slot itself: the server's delay
// then counts in the latency of the messages it held back, not only the one
// it was slow to answer (coordinated omission). ok is false once ctx ends.
func (p *pacer) wait(ctx context.Context) (at time.Time, ok bool) {
	if p.interval <= 0 {
		return time.Now(), ctx.Err() == nil
	}
	slot := p.next
	p.next = p.next.Add(p.interval)
	d := time.Until(slot)
	if d <= 0 {
		return slot, ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return time.Now(), true
	case <-ctx.Done():
		return time.Time{}, false
	}
}
