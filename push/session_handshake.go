package push

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldpush/herald"
)

// The handshake: the session's first writer waits for its routes, sends
// hello and replays what the client missed; a subscription's start does the
// same for one topic. Only then do live frames go out.

// serve runs the session's first writer: wait for the route, hello and
// replay, then whatever was queued meanwhile.
func (c *session) serve(routed, bRouted <-chan error, st start) {
	ctx, done := c.op(35 * time.Second)
	waitRoute(ctx, routed, c.id)
	waitRoute(ctx, bRouted, c.id)
	if !c.closing() {
		last, err := c.handshake(ctx, st)
		if err == nil {
			err = c.flush()
		}
		switch {
		case err != nil && c.closing(): // closed meanwhile (drain, or the client left)
		case err != nil:
			slog.Warn("resume failed", "user", c.user, "conn", c.id, "err", err)
			c.close(CloseInternal, "store unavailable, retry")
		default:
			c.lastSent.Store(last)
			c.s.m.handshake.Observe(time.Since(c.since).Seconds())
		}
	}
	done()
	c.writeLoop()
}

// waitRoute waits (up to 5 s) for a route write, after which dispatch finds
// this node for the user or topic: only then may the store be read for the
// replay, or a message could fall between the replay and live delivery.
func waitRoute(ctx context.Context, routed <-chan error, conn string) {
	select {
	case err := <-routed:
		if err != nil {
			slog.Warn("route not registered; live delivery may wait for the next refresh", "conn", conn, "err", err)
		}
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
	}
}

// resumeWait bounds a handshake's wait for a slot to read the store.
const resumeWait = 10 * time.Second

// handshake sends hello and replays stored messages. It returns the seq the
// live stream continues after.
func (c *session) handshake(ctx context.Context, st start) (herald.Seq, error) {
	c.holeSince = 0
	// When a node dies, its clients all reconnect at once; bounding the
	// handshakes that read the store turns that storm into a queue instead of
	// a wall of timeouts (and failed resumes that would come back for more).
	// A client that waited resumeWait for a slot is sent away (1011, retry
	// later: it backs off) rather than kept for the whole handshake budget.
	wctx, cancel := context.WithTimeout(ctx, resumeWait)
	err := c.s.resumes.acquire(wctx)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("waiting for a handshake slot: %w", err)
	}
	var answer time.Duration // the store's latency, which sizes the gate
	defer func() { c.s.resumes.release(answer) }()
	start := time.Now()
	pos, err := c.s.store.LastSeq(ctx, c.user)
	answer = time.Since(start)
	if err != nil {
		return 0, err
	}
	last := pos.Seq
	c.epoch = pos.Epoch
	from := last // no since and no device: only messages from now on
	switch {
	case st.hasSince:
		from = st.since
		if st.epoch != "" && st.epoch != pos.Epoch {
			from = 0 // a position in a stream the store no longer has: all of this one
		}
	case c.device != "":
		if from, err = c.s.store.AckedSeq(ctx, c.user, c.device); err != nil {
			return 0, err
		}
		// An ack this node holds but has not saved yet (the device acked
		// and closed within the last flush interval) counts too.
		from = max(from, c.s.acks.unsaved(c.user, c.device))
	}
	from = resumeFrom(from, last)
	// The broadcast stream starts at its newest seq, or at broadcast_since.
	// Every connection shares that stream, so its last seq comes from the
	// node's cache (streamlast.go) rather than one store read each.
	var bAtLeast herald.Seq
	if st.hasBSince {
		bAtLeast = st.bsince
	}
	bLast, err := c.s.lasts.get(ctx, herald.BroadcastKey, bAtLeast)
	if err != nil {
		return 0, err
	}
	bFrom := bLast
	if st.hasBSince {
		bFrom = resumeFrom(st.bsince, bLast)
	}
	h := helloFrame{Type: "hello", User: c.user, Conn: c.id, Node: c.s.node.ID, Seq: last, Epoch: pos.Epoch, BroadcastSeq: bLast, Expires: c.expires.Load() / int64(time.Millisecond)}
	first, gap, err := c.firstPage(ctx, c.user, from, last)
	if err != nil {
		return 0, err
	}
	// Say so, rather than let the client believe it has everything.
	h.Gap, h.Oldest = gap.is, gap.oldest
	from = gap.after(from, last)
	if err := c.write(c.enc.hello(h)); err != nil {
		return 0, err
	}
	sent, err := c.writeFirst(ctx, first, from, 0, nil)
	if err != nil {
		return sent, err
	}
	c.bcast.last.Store(bFrom)
	c.bcast.ready.Store(true)
	if bFrom < bLast {
		if _, err := c.replay(ctx, bFrom, bLast+1, &c.bcast); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// startSub starts a new subscription on the writer: wait for the node's
// route for the topic, answer "subscribed" with the topic's newest seq, and
// replay what the client missed since its since (the handshake's steps, for
// one topic).
func (c *session) startSub(st *subStart) error {
	ts := st.sub
	if ts.gone.Load() {
		return nil
	}
	ctx, done := c.op(35 * time.Second)
	defer done()
	waitRoute(ctx, st.routed, c.id)
	var atLeast herald.Seq
	if st.hasSince {
		atLeast = st.since
	}
	last, err := c.s.lasts.get(ctx, ts.key, atLeast) // a topic's subscribers share it
	if err != nil {
		return err
	}
	from := last
	if st.hasSince {
		from = resumeFrom(st.since, last)
	}
	announce := last // subscribed's seq: where the stream stands for the client
	if st.last {
		// The last value first: the stream starts just before it, and
		// says so, so that the client takes it as new.
		d, err := herald.LastValue(ctx, c.s.store, ts.key, last, time.Now())
		if err != nil {
			return err
		}
		if d != nil {
			from, announce = d.Seq-1, d.Seq-1
		}
	}
	first, gap, err := c.firstPage(ctx, ts.key, from, last)
	if err != nil {
		return err
	}
	if err := c.write(c.enc.subscribed(st.reqID, ts.topic(), announce, false, gap.is, gap.oldest)); err != nil {
		return err
	}
	from = gap.after(from, last)
	ts.last.Store(from)
	ts.ready.Store(true)
	_, err = c.writeFirst(ctx, first, from, last+1, ts)
	return err
}
