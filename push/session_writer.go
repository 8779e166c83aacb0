package push

import (
	"time"
)

// The writer. One goroutine at a time writes a session's frames: the first
// runs the handshake (session_handshake.go), later ones start when a frame
// is queued and end when the queue is empty, so an idle session has none.
// Frames are gathered in the transport's buffer and written with one write
// per wake-up (or per flushAt bytes), instead of one per frame.

// flushAt is how many buffered bytes make the writer write before its
// queue is empty.
const flushAt = 32 << 10

// kick starts a writer unless one is running.
func (c *session) kick() {
	if c.writing.CompareAndSwap(false, true) {
		go c.writeLoop()
	}
}

// writeLoop writes what is queued until the queue is empty, or ends the
// transport and the session once close was called.
func (c *session) writeLoop() {
	for {
		if c.closing() {
			c.t.end(c.code, c.reason)
			c.finish()
			return // writing stays set: no writer starts again
		}
		items := c.send.take()
		if len(items) == 0 {
			c.release()
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

// writeItem writes a live frame in seq order: older or repeated seqs are
// dropped (the replay already sent them), and a jump ahead is first filled
// from the store, so the client sees no gap and no reordering.
func (c *session) writeItem(it outItem) error {
	c.holeSince = 0 // each item settles its own holes (settle)
	if it.ctl != 0 {
		c.t.control(it.ctl, it.frame)
		return nil
	}
	if it.start != nil {
		return c.startSub(it.start)
	}
	if it.seq == 0 {
		return c.write(it.frame)
	}
	ts := it.sub
	if ts != nil && (ts.gone.Load() || !ts.ready.Load()) {
		return nil // unsubscribed, or its start (still queued) reads this from the store
	}
	last := c.lastOf(ts)
	if it.seq <= last {
		return nil
	}
	if it.catchUp {
		ctx, done := c.op(30 * time.Second)
		defer done()
		sent, err := c.replay(ctx, last, it.seq+1, ts)
		c.setLast(ts, sent)
		return err
	}
	if it.seq > last+1 {
		if _, err := c.fillGap(last, it.seq, ts); err != nil {
			return err
		}
	}
	c.setLast(ts, it.seq) // before the write, as in writeAll
	if ts == nil {
		c.note(it.id, it.seq)
	}
	return c.writeShared(it.frame, it.z)
}

// write buffers a message frame, writing the buffer out once it is big.
func (c *session) write(frame []byte) error { return c.writeShared(frame, nil) }

// writeShared is write of a frame other sessions send too; z is its
// compressed form, made once for all of them.
func (c *session) writeShared(frame []byte, z *sharedFrame) error {
	c.wframes++
	if c.t.write(frame, z) >= flushAt {
		return c.flush()
	}
	return nil
}

// flush writes the buffered frames in one write, telling the receipts
// recorder about the user messages among them.
func (c *session) flush() error {
	if len(c.notes) > 0 && c.s.hook != nil {
		c.s.receipts.Sending(c.user, c.deviceKey(), c.notes, time.Now())
	}
	wrote, err := c.t.flush(c.s.cfg.WriteTimeout)
	c.confirmNotes(err == nil)
	if err != nil || !wrote {
		return err
	}
	c.lastWrite.Store(time.Now().UnixNano())
	c.s.m.written.Add(float64(c.wframes))
	c.s.out.Add(uint64(c.wframes))
	c.wframes = 0
	return nil
}

// release drops the transport's buffer between bursts.
func (c *session) release() {
	c.t.release()
	c.wframes = 0
}
