package herald

import (
	"context"
	"time"
)

// Schedule keeps the messages sent to be delivered later (Message.DeliverAt),
// in the store: they outlive the process that took them, and any one
// collect instance, which claims due ones under a lease as it does pushes.
type Schedule interface {
	// ScheduleMessages stores msgs until their DeliverAt. A message whose
	// ID is scheduled or stored already is not scheduled again: it gets
	// Dup set.
	ScheduleMessages(ctx context.Context, msgs []*Message) error
	// ClaimScheduled takes up to limit messages due by now that no one
	// holds, and holds them for lease.
	ClaimScheduled(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*Message, error)
	// FinishScheduled removes messages that went out, in one write.
	FinishScheduled(ctx context.Context, ids ...string) error
	// CancelScheduled removes a message before it went out; false when
	// none with the ID is scheduled.
	CancelScheduled(ctx context.Context, id string) (bool, error)
	// ScheduledMessage returns a scheduled message (nil: none).
	ScheduledMessage(ctx context.Context, id string) (*Message, error)
}

// DefaultScheduleHorizon is how far ahead a message may be scheduled.
const DefaultScheduleHorizon = 30 * 24 * time.Hour
