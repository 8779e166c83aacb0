package push

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald"
)

// ackFlushInterval is how often acks are written to the store. Acks are
// cumulative and only steer where a resume starts, so losing the last second of
// them in a crash costs a few duplicate deliveries, never a lost message.
const ackFlushInterval = time.Second

type ackKey struct{ user, device string }

// acker coalesces acks per device and writes them in one batch, every
// interval and soon after a device with an unsaved ack closes its
// connection. Until an ack is in the store, the node's handshakes read it
// from here (unsaved): a device that acked, closed and came back within the
// interval is not replayed what it acked.
type acker struct {
	store    herald.Store
	every    time.Duration
	soon     chan struct{} // a flush is wanted now (a device with unsaved acks closed)
	mu       sync.Mutex
	pending  map[ackKey]herald.Seq // not yet handed to the store
	inflight map[ackKey]herald.Seq // handed to the store, not yet answered
	saved    atomic.Uint64         // acks the store took (herald_acks_saved_total)
}

func newAcker(store herald.Store, every time.Duration) *acker {
	if every <= 0 {
		every = ackFlushInterval
	}
	return &acker{store: store, every: every, soon: make(chan struct{}, 1),
		pending: map[ackKey]herald.Seq{}, inflight: map[ackKey]herald.Seq{}}
}

func (a *acker) add(user, device string, seq herald.Seq) {
	k := ackKey{user, device}
	a.mu.Lock()
	if seq > a.pending[k] {
		a.pending[k] = seq
	}
	a.mu.Unlock()
}

// unsaved is the device's newest ack not yet known to be in the store, 0 if
// none.
func (a *acker) unsaved(user, device string) herald.Seq {
	k := ackKey{user, device}
	a.mu.Lock()
	defer a.mu.Unlock()
	return max(a.pending[k], a.inflight[k])
}

// closed asks for a flush soon when the device that closed has an unsaved
// ack: its next connection may be on another node, which reads acks from
// the store only.
func (a *acker) closed(user, device string) {
	if device == "" || a.unsaved(user, device) == 0 {
		return
	}
	select {
	case a.soon <- struct{}{}:
	default: // one is asked for already; it takes this ack too
	}
}

// run flushes every interval, and when asked to, until ctx ends; then once
// more within what final allows (the rest of the node's drain). A flush
// under way ends with flushes, which the node cancels when its drain's
// budget is spent.
func (a *acker) run(ctx, flushes context.Context, final func() (context.Context, context.CancelFunc)) {
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-a.soon:
		case <-ctx.Done():
			fctx, cancel := final()
			a.flush(fctx)
			cancel()
			return
		}
		fctx, cancel := context.WithTimeout(flushes, 5*time.Second)
		a.flush(fctx)
		cancel()
	}
}

func (a *acker) flush(ctx context.Context) {
	a.mu.Lock()
	if len(a.pending) == 0 {
		a.mu.Unlock()
		return
	}
	batch := make([]herald.Ack, 0, len(a.pending))
	for k, s := range a.pending {
		batch = append(batch, herald.Ack{User: k.user, Device: k.device, Seq: s})
		a.inflight[k] = max(a.inflight[k], s)
	}
	a.pending = map[ackKey]herald.Seq{}
	a.mu.Unlock()
	err := a.store.SaveAcks(ctx, batch)
	a.mu.Lock()
	for _, ack := range batch {
		k := ackKey{ack.User, ack.Device}
		if a.inflight[k] == ack.Seq {
			delete(a.inflight, k)
		}
		if err != nil && ack.Seq > a.pending[k] {
			a.pending[k] = ack.Seq // retried with the next flush
		}
	}
	a.mu.Unlock()
	if err != nil {
		slog.Warn("save acks; they will be retried", "acks", len(batch), "err", err)
		return
	}
	a.saved.Add(uint64(len(batch)))
}
