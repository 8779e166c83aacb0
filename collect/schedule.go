package collect

import (
	"context"
	"log/slog"
	"time"

	"github.com/heraldpush/herald"
)

// Scheduled delivery: a message sent with deliver_at is stored at once in
// the store's Schedule (the 202 still means on disk), and every collect
// instance takes the due ones under a lease, as it takes pushes, and
// submits them then: they get their seqs (and their time) as of their
// delivery, are stored, dispatched and pushed like any message. Append is
// idempotent by ID, so an instance that dies after submitting and before
// finishing leaves a message that the next one stores as a repeat, not
// twice.

// scheduleClaim is how many due messages are taken at a time.
const scheduleClaim = 1000

// splitScheduled parts msgs into those to store now and those to keep
// for later.
func splitScheduled(msgs []*herald.Message) (now, later []*herald.Message) {
	for _, m := range msgs {
		if !m.DeliverAt.IsZero() {
			later = append(later, m)
		} else {
			now = append(now, m)
		}
	}
	if len(later) == 0 {
		return msgs, nil
	}
	return now, later
}

// scheduleMessages stores msgs in the schedule, durably.
func (s *Service) scheduleMessages(ctx context.Context, msgs []*herald.Message) error {
	if err := s.schedule.ScheduleMessages(ctx, msgs); err != nil {
		slog.Warn("schedule messages failed", "messages", len(msgs), "err", err)
		return herald.Errorf(herald.EUnavailable, "store unavailable, retry")
	}
	return nil
}

// runSchedule submits due messages every interval until ctx ends.
func (s *Service) runSchedule(ctx context.Context, every time.Duration) {
	rounds(ctx, every, func(ctx context.Context) bool {
		ms, err := s.schedule.ClaimScheduled(ctx, time.Now(), s.cfg.Lease, scheduleClaim)
		if err != nil {
			slog.Warn("claim scheduled messages failed", "err", err)
		}
		if len(ms) > 0 {
			s.deliverScheduled(ctx, ms)
		}
		return err == nil && len(ms) == scheduleClaim
	})
}

// deliverScheduled submits claimed messages, as of now, and takes them off
// the schedule; a failed submit leaves them to be taken again when the
// lease ends.
func (s *Service) deliverScheduled(ctx context.Context, ms []*herald.Message) {
	now := time.Now().Truncate(time.Millisecond)
	for _, m := range ms {
		s.m.scheduleLate.Observe(now.Sub(m.DeliverAt).Seconds())
		m.DeliverAt, m.Time, m.Seqs, m.Dup, m.NewID = time.Time{}, now, nil, false, false
	}
	if err := s.Submit(ctx, ms); err != nil {
		slog.Warn("deliver scheduled messages failed; they are taken again when their lease ends", "messages", len(ms), "err", err)
		return
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	if err := s.schedule.FinishScheduled(ctx, ids...); err != nil {
		slog.Warn("finish scheduled messages failed; they may be delivered again (as repeats)", "messages", len(ids), "err", err)
	}
	s.m.scheduled.Add(float64(len(ms)))
}
