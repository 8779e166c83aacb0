package push

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/pebble"
)

// jammedAcks is a store whose ack writes hang until their deadline.
type jammedAcks struct {
	herald.Store
	started chan struct{}
}

func (s *jammedAcks) SaveAcks(ctx context.Context, _ []herald.Ack) error {
	select {
	case s.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// On a jammed store a node still stops about when its drain budget says: an
// ack flush under way ends with the budget, and the last one gets a second,
// rather than each running to its own timeout (5 s) after the drain.
func TestDrainBoundsFlushesOnAJammedStore(t *testing.T) {
	base, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close(context.Background())
	st := &jammedAcks{Store: base, started: make(chan struct{}, 1)}
	j, _ := auth.NewJWT("0123456789abcdef0123456789abcdef")
	cfg := DefaultConfig()
	cfg.DrainTimeout = 300 * time.Millisecond
	svc := New(cfg, testDeps(j, st))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	svc.acks.add("u", "d", 1)
	select {
	case <-st.started: // a periodic flush is now stuck in the store
	case <-time.After(10 * time.Second):
		t.Fatal("no ack flush began")
	}
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(4 * time.Second): // budget 0.3 s + the last flush's 1 s, with room for a slow machine
		t.Fatal("the node did not stop within its drain budget and the last flush's second")
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
}
