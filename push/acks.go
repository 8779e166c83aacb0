package push

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

// ackFlushInterval is how often acks are written to the store. Acks are
// cumulative and only steer where a resume starts, so losing the last second of
// them in a crash costs a few duplicate deliveries, never a lost message.
const ackFlushInterval = time.Second

type ackKey struct{ user, device string }

// acker coalesces acks per device and writes them in one batch.
type acker struct {
	store   herald.Store
	mu      sync.Mutex
	pending map[ackKey]herald.Seq
}

func (a *acker) add(user, device string, seq herald.Seq) {
	k := ackKey{user, device}
	a.mu.Lock()
	if seq > a.pending[k] {
		a.pending[k] = seq
	}
	a.mu.Unlock()
}

// run flushes every ackFlushInterval until ctx ends, then once more within
// what final allows (the rest of the node's drain). A flush under way ends
// with flushes, which the node cancels when its drain's budget is spent.
func (a *acker) run(ctx, flushes context.Context, final func() (context.Context, context.CancelFunc)) {
	t := time.NewTicker(ackFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			fctx, cancel := context.WithTimeout(flushes, 5*time.Second)
			a.flush(fctx)
			cancel()
		case <-ctx.Done():
			fctx, cancel := final()
			a.flush(fctx)
			cancel()
			return
		}
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
	}
	a.pending = map[ackKey]herald.Seq{}
	a.mu.Unlock()
	if err := a.store.SaveAcks(ctx, batch); err != nil {
		slog.Warn("save acks; they will be retried", "acks", len(batch), "err", err)
		for _, ack := range batch {
			a.add(ack.User, ack.Device, ack.Seq)
		}
	}
}
