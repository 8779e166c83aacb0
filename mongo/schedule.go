package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/heraldpush/herald"
)

// Scheduled messages, one document each:
//
//	scheduled {_id: id, due, lease, m: the message as JSON}, indexed by due
//
// claimed as pushes are (pushqueue.go): a claim in push_claims with the
// _id "sched|<id>|<the lease it found>", then the lease moved.

var _ herald.Schedule = (*Store)(nil)

type scheduledDoc struct {
	ID    string    `bson:"_id"`
	Due   time.Time `bson:"due"`
	Lease time.Time `bson:"lease"`
	M     string    `bson:"m"`
}

// ScheduleMessages implements herald.Schedule: inserts, a duplicate _id
// being a message scheduled before; one whose ID is stored already (it
// went out) is not scheduled again.
func (s *Store) ScheduleMessages(ctx context.Context, msgs []*herald.Message) error {
	for _, m := range msgs {
		m.Dup = false
		if !m.NewID {
			err := s.messages.FindOne(ctx, bson.D{{Key: "_id", Value: m.ID}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
			if err == nil {
				m.Dup = true
				continue
			}
			if !errors.Is(err, driver.ErrNoDocuments) {
				return fmt.Errorf("schedule %s: %w", m.ID, err)
			}
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return err
		}
		_, err = s.scheduled.InsertOne(ctx, scheduledDoc{ID: m.ID, Due: m.DeliverAt, M: string(raw)})
		if driver.IsDuplicateKeyError(err) {
			m.Dup = true
			continue
		}
		if err != nil {
			return fmt.Errorf("schedule %s: %w", m.ID, err)
		}
	}
	return nil
}

// ClaimScheduled implements herald.Schedule.
func (s *Store) ClaimScheduled(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*herald.Message, error) {
	docs, err := dueDocs[scheduledDoc](ctx, s, s.scheduled, now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim scheduled messages: %w", err)
	}
	var out []*herald.Message
	for _, d := range docs {
		claim := "sched" + idSep + d.ID + idSep + fmt.Sprint(d.Lease.UnixMilli())
		if ok, err := s.take(ctx, s.scheduled, d.ID, claim, now, lease); err != nil {
			return out, fmt.Errorf("claim scheduled %s: %w", d.ID, err)
		} else if !ok {
			continue
		}
		var m herald.Message
		if err := json.Unmarshal([]byte(d.M), &m); err != nil {
			return out, fmt.Errorf("scheduled message %s: %w", d.ID, err)
		}
		out = append(out, &m)
	}
	return out, nil
}

// FinishScheduled implements herald.Schedule.
func (s *Store) FinishScheduled(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.scheduled.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil {
		return fmt.Errorf("finish %d scheduled messages: %w", len(ids), err)
	}
	return nil
}

// CancelScheduled implements herald.Schedule.
func (s *Store) CancelScheduled(ctx context.Context, id string) (bool, error) {
	res, err := s.scheduled.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return false, fmt.Errorf("scheduled message %s: %w", id, err)
	}
	return res.DeletedCount > 0, nil
}

// ScheduledMessage implements herald.Schedule.
func (s *Store) ScheduledMessage(ctx context.Context, id string) (*herald.Message, error) {
	var d scheduledDoc
	err := s.scheduled.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, driver.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scheduled message %s: %w", id, err)
	}
	var m herald.Message
	if err := json.Unmarshal([]byte(d.M), &m); err != nil {
		return nil, fmt.Errorf("scheduled message %s: %w", id, err)
	}
	return &m, nil
}
