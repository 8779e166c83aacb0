package push

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/heraldpush/herald"
)

// Replay and gaps: how the writer sends stored messages in seq order, on a
// resume, when a live frame jumps ahead of the last one sent, and on
// catch-up, and how it settles a seq that is missing from the store.

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
func (c *session) firstPage(ctx context.Context, key string, from, last herald.Seq) ([]herald.Delivery, retentionGap, error) {
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
func (c *session) writeFirst(ctx context.Context, first []herald.Delivery, from, until herald.Seq, ts *topicSub) (herald.Seq, error) {
	sent, hole, err := c.writeAll(ctx, first, from, until, ts)
	if err == nil && (hole || len(first) == c.s.cfg.ReplayBatch) {
		sent, err = c.replay(ctx, sent, until, ts) // settles the hole first
	}
	return sent, err
}

// The writer keeps one stream per connection for the user's own messages
// (ts == nil: seqs in lastSent, msg frames) and one per topic (ts: seqs in
// ts.last, pub frames). These read and set where a stream stands.

// appendEventID appends where the session's streams stand, as an event id
// a client hands back to resume (an event stream's Last-Event-ID): the
// user's seq, the broadcast seq and the epoch, "12:3:9f2c4e1ab07d3365".
// The writer sets a stream's position before it writes the frame, so the
// id counts the frame it is written with.
func (c *session) appendEventID(b []byte) []byte {
	b = strconv.AppendUint(b, c.lastSent.Load(), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, c.bcast.last.Load(), 10)
	b = append(b, ':')
	return append(b, c.epoch...)
}

func (c *session) streamKey(ts *topicSub) string {
	if ts == nil {
		return c.user
	}
	return ts.key
}

func (c *session) lastOf(ts *topicSub) herald.Seq {
	if ts == nil {
		return c.lastSent.Load()
	}
	return ts.last.Load()
}

func (c *session) setLast(ts *topicSub, seq herald.Seq) {
	if ts == nil {
		c.lastSent.Store(seq)
	} else {
		ts.last.Store(seq)
	}
}

// encodeFor encodes a delivery of stream ts (nil: the user's) for this session.
func (c *session) encodeFor(ts *topicSub, d herald.Delivery) []byte {
	if ts == nil {
		return c.enc.msg(d)
	}
	return c.enc.pub(ts.topic(), d)
}

// writeAll writes the deliveries of stream ts that follow `after` without a
// hole, below until (0: all). It returns the last seq written and whether it
// stopped at a hole: a seq missing before the next delivery, which the
// caller settles (settle) before going on. Moving past a hole blind lost the
// message when it was a write still in flight (another collect instance
// stored seq N+1 first): it landed behind a reader that had gone on. An
// expired message, and one a newer message of the stream with its collapse
// key supersedes, is passed over as written: the seq is the stream's, the
// message is no longer anyone's.
func (c *session) writeAll(ctx context.Context, ds []herald.Delivery, after, until herald.Seq, ts *topicSub) (herald.Seq, bool, error) {
	var newest map[string]herald.Seq
	if keys := herald.CollapseKeys(ds); keys != nil && c.s.collapse != nil {
		var err error
		if newest, err = c.s.collapse.NewestByKey(ctx, c.streamKey(ts), keys); err != nil {
			return after, false, err
		}
	}
	now := time.Now()
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
		if d.Expired(now) || d.Superseded(newest) {
			c.setLast(ts, d.Seq)
			c.s.m.passedOver.Inc()
			after = d.Seq
			continue
		}
		// Published before the write: the client may ack the frame before
		// this goroutine runs again, and the ack must not be clamped below it.
		c.setLast(ts, d.Seq)
		if ts == nil {
			c.note(d.ID, d.Seq)
		}
		d.Payload = textPayload(d.Payload)
		if err := c.write(c.encodeFor(ts, d)); err != nil {
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
func (c *session) replay(ctx context.Context, after, until herald.Seq, ts *topicSub) (herald.Seq, error) {
	for {
		page, err := c.s.store.Messages(ctx, c.streamKey(ts), after, c.s.cfg.ReplayBatch)
		if err != nil {
			return after, err
		}
		sent, hole, err := c.writeAll(ctx, page, after, until, ts)
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

// fillGap sends the stored messages between last and next, settling the
// seqs still missing (settle).
func (c *session) fillGap(last, next herald.Seq, ts *topicSub) (herald.Seq, error) {
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
func (c *session) settle(ctx context.Context, seq herald.Seq, ts *topicSub) (herald.Seq, error) {
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
			_, _, err := c.writeAll(ctx, []herald.Delivery{d}, seq-1, 0, ts)
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
func (c *session) seqState(ctx context.Context, closer herald.GapCloser, key string, seq herald.Seq, late bool) (herald.Delivery, herald.SeqState, error) {
	if closer != nil {
		return closer.Gap(ctx, key, seq, late)
	}
	page, err := c.s.store.Messages(ctx, key, seq-1, 1)
	if err != nil || len(page) == 0 || page[0].Seq != seq {
		return herald.Delivery{}, herald.SeqPending, err
	}
	return page[0], herald.SeqStored, nil
}
