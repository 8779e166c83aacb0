package push

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// A device that acked and closed cleanly is not replayed what it acked when
// it comes back at once: on this node the handshake reads the unsaved ack,
// and the ack reaches the store soon after the close (for a node it comes
// back to elsewhere) without waiting for the flush interval, here an hour.
func TestAckedThenClosedIsNotReplayed(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AckFlushInterval = time.Hour })
	ctx := context.Background()
	phone := probe.MustDialWS(t, f.ws, f.token(t, "alice"), "phone", nil)
	f.svc.Deliver(ctx, []*herald.Message{f.storeMsg(t, "1", "alice"), f.storeMsg(t, "2", "alice")})
	phone.Msgs(2, 5*time.Second)
	if err := phone.Ack(2); err != nil {
		t.Fatal(err)
	}
	testenv.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := f.svc.acks.unsaved("alice", "phone"); n != 2 {
			return fmt.Errorf("unsaved ack %d", n)
		}
		return nil
	})
	phone.Conn.Close()
	again := probe.MustDialWS(t, f.ws, f.token(t, "alice"), "phone", nil)
	again.NoPub(300 * time.Millisecond)
	if fr, err := again.Next(300 * time.Millisecond); err == nil {
		t.Fatalf("replayed after an ack: %+v", fr)
	}
	testenv.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n, err := f.store.AckedSeq(ctx, "alice", "phone"); err != nil || n != 2 {
			return fmt.Errorf("stored ack %d %v", n, err)
		}
		return nil
	})
}
