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
func (c *conn) serve(routed, bRouted <-chan error, st start) {
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

// resumeWait bounds a handshake's wait for a slot to read the store.
const resumeWait = 10 * time.Second

// handshake sends hello and replays stored messages. It returns the seq the
// live stream continues after.
func (c *conn) handshake(ctx context.Context, st start) (herald.Seq, error) {
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
	hello, _ := json.Marshal(h)
	if err := c.write(hello); err != nil {
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
func (c *conn) startSub(st *subStart) error {
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
	first, gap, err := c.firstPage(ctx, ts.key, from, last)
	if err != nil {
		return err
	}
	if err := c.write(subscribedFrame(st.reqID, ts.topic(), last, false, gap.is, gap.oldest)); err != nil {
		return err
	}
	from = gap.after(from, last)
	ts.last.Store(from)
	ts.ready.Store(true)
	_, err = c.writeFirst(ctx, first, from, last+1, ts)
	return err
}

// resumeFrom is where a stream resumed after since starts, given its newest
// seq. A since past the newest is a position no stored message ever had
// here: the store was wiped (or restored from a backup) and its seqs began
// again, so the client gets the whole stream as it now is, not nothing until
// the new seqs pass its old position.
func resumeFrom(since, last herald.Seq) herald.Seq {
	if since > last {
		return 0
	}
	return since
}

// retentionGap says that a resume asked for messages retention already
// removed; oldest is the oldest seq still kept (0: none).
type retentionGap struct {
	is     bool
	oldest herald.Seq
}

// after returns where a stream resumed from `from` starts: past what
// retention removed, so that the seqs it removed are not taken for holes.
func (g retentionGap) after(from, last herald.Seq) herald.Seq {
	switch {
	case !g.is:
		return from
	case g.oldest == 0:
		return last // nothing kept
	default:
		return max(from, g.oldest-1)
	}
}

// firstPage reads the first page of key's stored messages after from (when
// from is below last), and whether retention removed the next one.
func (c *conn) firstPage(ctx context.Context, key string, from, last herald.Seq) ([]herald.Delivery, retentionGap, error) {
	if from >= last {
		return nil, retentionGap{}, nil
	}
	first, err := c.s.store.Messages(ctx, key, from, c.s.cfg.ReplayBatch)
	if err != nil {
		return nil, retentionGap{}, err
	}
	if len(first) > 0 && first[0].Seq == from+1 {
		return first, retentionGap{}, nil
	}
	// The next seq is missing: a hole left by a failed write, or retention
	// removed it. Only the oldest kept seq tells which.
	oldest, err := c.s.store.OldestSeq(ctx, key)
	if err != nil {
		return nil, retentionGap{}, err
	}
	if oldest == 0 || oldest > from+1 {
		return first, retentionGap{true, oldest}, nil
	}
	return first, retentionGap{}, nil
}

// writeFirst writes the first page of stream ts and, when it was full, the
// rest from the store (up to until, 0 for all); it returns the last seq
// written.
func (c *conn) writeFirst(ctx context.Context, first []herald.Delivery, from, until herald.Seq, ts *topicSub) (herald.Seq, error) {
	sent, hole, err := c.writeAll(first, from, until, ts)
	if err == nil && (hole || len(first) == c.s.cfg.ReplayBatch) {
		sent, err = c.replay(ctx, sent, until, ts) // settles the hole first
	}
	return sent, err
}

// The writer keeps one stream per connection for the user's own messages
// (ts == nil: seqs in lastSent, msg frames) and one per topic (ts: seqs in
// ts.last, pub frames). These read and set where a stream stands.

func (c *conn) streamKey(ts *topicSub) string {
	if ts == nil {
		return c.user
	}
	return ts.key
}

func (c *conn) lastOf(ts *topicSub) herald.Seq {
	if ts == nil {
		return c.lastSent.Load()
	}
	return ts.last.Load()
}

func (c *conn) setLast(ts *topicSub, seq herald.Seq) {
	if ts == nil {
		c.lastSent.Store(seq)
	} else {
		ts.last.Store(seq)
	}
}

func encodeFor(ts *topicSub, d herald.Delivery) []byte {
	if ts == nil {
		return encodeMsg(d)
	}
	return encodePub(ts.topic(), d)
}

// writeAll writes the deliveries of stream ts that follow `after` without a
// hole, below until (0: all). It returns the last seq written and whether it
// stopped at a hole: a seq missing before the next delivery, which the
// caller settles (settle) before going on. Moving past a hole blind lost the
// message when it was a write still in flight (another collect instance
// stored seq N+1 first): it landed behind a reader that had gone on.
func (c *conn) writeAll(ds []herald.Delivery, after, until herald.Seq, ts *topicSub) (herald.Seq, bool, error) {
	for _, d := range ds {
		if d.Seq <= after {
			continue
		}
		if until != 0 && d.Seq >= until {
			break
		}
		if d.Seq != after+1 {
			return after, true, nil
		}
		// Published before the write: the client may ack the frame before
		// this goroutine runs again, and the ack must not be clamped below it.
		c.setLast(ts, d.Seq)
		if ts == nil {
			c.note(d.ID, d.Seq)
		}
		d.Payload = textPayload(d.Payload)
		if err := c.write(encodeFor(ts, d)); err != nil {
			return after, false, err
		}
		c.s.m.replayed.Inc()
		after = d.Seq
	}
	return after, false, nil
}

// replay writes stream ts's stored messages after `after` (up to `until`, 0
// for all), settling each hole on the way, and returns the last seq written
// or settled.
func (c *conn) replay(ctx context.Context, after, until herald.Seq, ts *topicSub) (herald.Seq, error) {
	for {
		page, err := c.s.store.Messages(ctx, c.streamKey(ts), after, c.s.cfg.ReplayBatch)
		if err != nil {
			return after, err
		}
		sent, hole, err := c.writeAll(page, after, until, ts)
		if err != nil {
			return sent, err
		}
		if hole {
			if sent, err = c.settle(ctx, sent+1, ts); err != nil {
				return sent, err
			}
			after = sent
			continue
		}
		if len(page) < c.s.cfg.ReplayBatch || (until != 0 && sent+1 >= until) || sent == after {
			return sent, nil
		}
		after = sent
	}
}

// writeItem writes a live frame in seq order: older or repeated seqs are
// dropped (the replay already sent them), and a jump ahead is first filled
// from the store, so the client sees no gap and no reordering.
func (c *conn) writeItem(it outItem) error {
	c.holeSince = 0 // each item settles its own holes (settle)
	if it.control != 0 {
		c.appendFrame(it.control, it.frame)
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
	return c.write(it.frame)
}

// fillGap sends the stored messages between last and next, settling the
// seqs still missing (settle).
func (c *conn) fillGap(last, next herald.Seq, ts *topicSub) (herald.Seq, error) {
	ctx, done := c.op(c.s.cfg.GapWait + 10*time.Second)
	defer done()
	for {
		var err error
		if last, err = c.replay(ctx, last, next, ts); err != nil || last+1 >= next {
			return last, err
		}
		if last, err = c.settle(ctx, last+1, ts); err != nil {
			return last, err
		}
	}
}

// settle waits for stream ts's missing seq: a message given the seq but not
// yet stored (several collect instances write in parallel, and a write can
// stall for seconds in a MongoDB election) gets up to GapWait to appear,
// looked for with a growing pause (50 ms doubling to 1 s: thousands of
// subscribers of a topic may be waiting on the same seq). Then a store that
// is a herald.GapCloser closes the seq for good, so that a write still
// holding it takes another seq and is not lost behind this reader; with any
// other store the stream moves past it. It returns seq once the seq is
// written or known dead.
//
// A run of holes shares one wait: the clock (c.holeSince) starts at the
// first unsettled hole and restarts only when a hole settles in time, so a
// dead writer's run of seqs costs GapWait once, not once each.
func (c *conn) settle(ctx context.Context, seq herald.Seq, ts *topicSub) (herald.Seq, error) {
	key := c.streamKey(ts)
	closer := c.s.gaps
	if c.holeSince == 0 {
		c.holeSince = time.Now().UnixNano()
	}
	deadline := time.Unix(0, c.holeSince).Add(c.s.cfg.GapWait)
	pause := 50 * time.Millisecond
	for {
		late := !time.Now().Before(deadline)
		d, st, err := c.seqState(ctx, closer, key, seq, late)
		if err != nil {
			return seq - 1, err
		}
		if st != herald.SeqPending && !late {
			c.holeSince = 0
		}
		switch {
		case st == herald.SeqStored:
			_, _, err := c.writeAll([]herald.Delivery{d}, seq-1, 0, ts)
			return seq, err
		case st == herald.SeqDead:
			if late { // closed now, by this reader or another
				c.s.m.gapsSkipped.Inc()
				slog.Info("closed a seq that did not appear in time (a failed write's; a slower one takes a later seq)",
					"stream", key, "conn", c.id, "seq", seq, "waited", c.s.cfg.GapWait)
			}
			c.setLast(ts, seq)
			return seq, nil
		case late: // a store without GapCloser: move past it
			c.s.m.gapsSkipped.Inc()
			slog.Warn("moving past a seq that did not appear in time (a failed write's, or one slower than --gap-wait)",
				"stream", key, "conn", c.id, "seq", seq, "waited", c.s.cfg.GapWait)
			c.setLast(ts, seq)
			return seq, nil
		}
		// What is gathered so far goes out before the wait.
		if err := c.flush(); err != nil {
			return seq - 1, err
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return seq - 1, ctx.Err()
		}
		pause = min(2*pause, time.Second)
	}
}

// seqState asks the store what key's seq holds: through its GapCloser
// (closing the seq when late), or else by reading it.
func (c *conn) seqState(ctx context.Context, closer herald.GapCloser, key string, seq herald.Seq, late bool) (herald.Delivery, herald.SeqState, error) {
	if closer != nil {
		return closer.Gap(ctx, key, seq, late)
	}
	page, err := c.s.store.Messages(ctx, key, seq-1, 1)
	if err != nil || len(page) == 0 || page[0].Seq != seq {
		return herald.Delivery{}, herald.SeqPending, err
	}
	return page[0], herald.SeqStored, nil
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
	if len(c.notes) > 0 && c.s.hook != nil {
		c.s.receipts.Sending(c.user, c.deviceKey(), c.notes, time.Now())
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	_, err := c.nc.Write(*c.wbuf)
	*c.wbuf = (*c.wbuf)[:0]
	c.confirmNotes(err == nil)
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
