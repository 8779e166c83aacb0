package push

import (
	"context"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/receipts"
)

// receiptLog is what the push node tells about deliveries and acks: the
// node's receipts.Recorder, off the delivery path.
type receiptLog interface {
	Delivered(user, device string, ns []receipts.Noted, at time.Time)
	Sending(user, device string, ns []receipts.Noted, at time.Time)
	Ack(user, device string, seq herald.Seq, at time.Time)
	Run(ctx, flushes context.Context, final func() (context.Context, context.CancelFunc))
}

// deviceKey is the device a receipt is for: the device ID, or the
// connection's ID for a connection without one.
func (c *session) deviceKey() string {
	if c.device != "" {
		return c.device
	}
	return c.id
}

// note records that the writer wrote user message id (seq); flush confirms it.
func (c *session) note(id string, seq herald.Seq) {
	if c.s.receipts != nil && id != "" {
		c.notes = append(c.notes, receipts.Noted{ID: id, Seq: seq})
	}
}

// confirmNotes hands the written messages to the recorder.
func (c *session) confirmNotes(ok bool) {
	if len(c.notes) == 0 {
		return
	}
	if ok {
		c.s.receipts.Delivered(c.user, c.deviceKey(), c.notes, time.Now())
	}
	clear(c.notes)
	c.notes = c.notes[:0]
	if cap(c.notes) > 64 {
		c.notes = nil // an idle connection keeps no burst-sized buffer
	}
}
