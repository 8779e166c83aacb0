package push

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/ws"
)

// The writer. One goroutine at a time writes to a connection: the first runs
// the handshake, later ones start when a frame is queued and end when the
// queue is empty, so an idle connection has none. Frames are gathered in a
// pooled buffer and written with one syscall per wake-up (or per
// flushAt bytes), instead of one per frame.

const flushAt = 32 << 10

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// serve runs the connection's first writer: wait for the route, hello and
// replay, then whatever was queued meanwhile.
func (c *conn) serve(routed <-chan error, st start) {
	ctx, done := c.op(35 * time.Second)
	select {
	case err := <-routed:
		if err != nil {
			slog.Warn("route not registered; live delivery may wait for the next refresh", "user", c.user, "conn", c.id, "err", err)
		}
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
	}
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

// kick starts a writer unless one is running.
func (c *conn) kick() {
	if c.writing.CompareAndSwap(false, true) {
		go c.writeLoop()
	}
}

// writeLoop writes what is queued until the queue is empty, or closes the
// connection once close was called.
func (c *conn) writeLoop() {
	for {
		if c.closing() {
			c.writeClose()
			c.finish()
			return // writing stays set: no writer starts again
		}
		items := c.send.take()
		if len(items) == 0 {
			c.releaseBuf()
			c.writing.Store(false)
			// A push (or close) between take and Store found a writer
			// running and did not start one: look again.
			if (c.send.empty() && !c.closing()) || !c.writing.CompareAndSwap(false, true) {
				return
			}
			continue
		}
		for _, it := range items {
			if c.closing() {
				break // the close frame goes next, not more data
			}
			if err := c.writeItem(it); err != nil {
				c.close(CloseGoingAway, "write failed")
				break
			}
		}
		if err := c.flush(); err != nil {
			c.close(CloseGoingAway, "write failed")
		}
	}
}

// handshake sends hello and replays stored messages. It returns the seq the
// live stream continues after.
func (c *conn) handshake(ctx context.Context, st start) (herald.Seq, error) {
	// When a node dies, its clients all reconnect at once; bounding the
	// handshakes that read the store turns that storm into a queue instead of
	// a wall of timeouts (and failed resumes that would come back for more).
	select {
	case c.s.resumes <- struct{}{}:
		defer func() { <-c.s.resumes }()
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for a handshake slot: %w", ctx.Err())
	}
	last, err := c.s.store.LastSeq(ctx, c.user)
	if err != nil {
		return 0, err
	}
	from := last // no since and no device: only messages from now on
	switch {
	case st.hasSince:
		from = st.since
	case c.device != "":
		if from, err = c.s.store.AckedSeq(ctx, c.user, c.device); err != nil {
			return 0, err
		}
	}
	from = min(from, last)
	h := helloFrame{Type: "hello", User: c.user, Conn: c.id, Node: c.s.node.ID, Seq: last, Expires: c.expires.Load() / int64(time.Millisecond)}
	var first []herald.Delivery
	if from < last {
		if first, err = c.s.store.Messages(ctx, c.user, from, c.s.cfg.ReplayBatch); err != nil {
			return 0, err
		}
		if len(first) == 0 || first[0].Seq > from+1 {
			// The next seq is missing: a hole left by a failed write, or
			// retention removed it. Only the oldest kept seq tells which.
			oldest, err := c.s.store.OldestSeq(ctx, c.user)
			if err != nil {
				return 0, err
			}
			if oldest == 0 || oldest > from+1 {
				// Say so, rather than let the client believe it has everything.
				h.Gap, h.Oldest = true, oldest
			}
		}
	}
	hello, _ := json.Marshal(h)
	if err := c.write(hello); err != nil {
		return 0, err
	}
	sent, err := c.writeAll(first, from, 0)
	if err != nil || len(first) < c.s.cfg.ReplayBatch {
		return sent, err
	}
	return c.replay(ctx, sent, 0)
}

// writeAll writes the deliveries with seqs below until (0: all) and returns
// the last seq written, starting from after.
func (c *conn) writeAll(ds []herald.Delivery, after, until herald.Seq) (herald.Seq, error) {
	for _, d := range ds {
		if until != 0 && d.Seq >= until {
			break
		}
		// Published before the write: the client may ack the frame before
		// this goroutine runs again, and the ack must not be clamped below it.
		c.lastSent.Store(d.Seq)
		if err := c.write(encodeMsg(d)); err != nil {
			return after, err
		}
		c.s.m.replayed.Inc()
		after = d.Seq
	}
	return after, nil
}

// replay writes the stored messages after `after` (up to `until`, 0 for all)
// and returns the last seq written.
func (c *conn) replay(ctx context.Context, after, until herald.Seq) (herald.Seq, error) {
	for {
		page, err := c.s.store.Messages(ctx, c.user, after, c.s.cfg.ReplayBatch)
		if err != nil {
			return after, err
		}
		sent, err := c.writeAll(page, after, until)
		if err != nil || len(page) < c.s.cfg.ReplayBatch || (until != 0 && sent+1 >= until) || sent == after {
			return sent, err
		}
		after = sent
	}
}

// writeItem writes a live frame in seq order: older or repeated seqs are
// dropped (the replay already sent them), and a jump ahead is first filled
// from the store, so the client sees no gap and no reordering.
func (c *conn) writeItem(it outItem) error {
	if it.control != 0 {
		c.appendFrame(it.control, it.frame)
		return nil
	}
	if it.seq == 0 {
		return c.write(it.frame)
	}
	last := c.lastSent.Load()
	if it.seq <= last {
		return nil
	}
	if it.catchUp {
		ctx, done := c.op(30 * time.Second)
		defer done()
		sent, err := c.replay(ctx, last, it.seq+1)
		c.lastSent.Store(sent)
		return err
	}
	if it.seq > last+1 {
		if _, err := c.fillGap(last, it.seq); err != nil {
			return err
		}
	}
	c.lastSent.Store(it.seq) // before the write, as in writeAll
	return c.write(it.frame)
}

// fillGap sends the stored messages between last and next. A message that is
// allocated a seq but not yet stored (several collect instances write in
// parallel) gets up to GapWait to appear; after that the stream moves on.
func (c *conn) fillGap(last, next herald.Seq) (herald.Seq, error) {
	ctx, done := c.op(c.s.cfg.GapWait + 10*time.Second)
	defer done()
	deadline := time.Now().Add(c.s.cfg.GapWait)
	for {
		var err error
		if last, err = c.replay(ctx, last, next); err != nil {
			return last, err
		}
		if last+1 >= next || time.Now().After(deadline) {
			return last, nil
		}
		// What is gathered so far goes out before the wait.
		if err := c.flush(); err != nil {
			return last, err
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return last, ctx.Err()
		}
	}
}

// write adds a text frame to the buffer, writing the buffer out once it is big.
func (c *conn) write(frame []byte) error {
	c.appendFrame(ws.OpText, frame)
	c.wframes++
	if len(*c.wbuf) >= flushAt {
		return c.flush()
	}
	return nil
}

func (c *conn) appendFrame(op ws.Opcode, payload []byte) {
	if c.wbuf == nil {
		c.wbuf = writeBufs.Get().(*[]byte)
	}
	*c.wbuf = ws.AppendFrame(*c.wbuf, op, payload)
}

// flush writes the buffered frames in one write.
func (c *conn) flush() error {
	if c.wbuf == nil || len(*c.wbuf) == 0 {
		return nil
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	_, err := c.nc.Write(*c.wbuf)
	*c.wbuf = (*c.wbuf)[:0]
	if err != nil {
		return err
	}
	c.lastWrite.Store(time.Now().UnixNano())
	c.s.m.written.Add(float64(c.wframes))
	c.s.out.Add(uint64(c.wframes))
	c.wframes = 0
	return nil
}

// releaseBuf returns the write buffer to the pool (unless a burst grew it
// large), so an idle connection holds none.
func (c *conn) releaseBuf() {
	if c.wbuf == nil {
		return
	}
	if cap(*c.wbuf) <= 4*flushAt {
		*c.wbuf = (*c.wbuf)[:0]
		writeBufs.Put(c.wbuf)
	}
	c.wbuf, c.wframes = nil, 0
}

// writeClose sends what is buffered and the close frame, then gives the
// client a moment to answer: closing at once, with the client's frames still
// unread, makes the kernel reset the connection, and the client may never
// see the code and reason.
func (c *conn) writeClose() {
	c.appendFrame(ws.OpClose, ws.ClosePayload(c.code, c.reason))
	c.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	_, err := c.nc.Write(*c.wbuf)
	c.releaseBuf()
	if err != nil {
		return
	}
	// Polled: only closing connections wait here, and a channel per
	// connection would cost every open one.
	for end := time.Now().Add(closeGrace); !c.peerGone.Load() && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
}

// closeGrace bounds the wait for the client's side of the closing handshake.
const closeGrace = time.Second
