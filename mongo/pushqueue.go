package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/heraldpush/herald"
)

// The push queue, one document a pending push:
//
//	push_queue {_id: "msg|user", m, u, s, pm, n: notification, due, done, a, lease}, indexed by due
//
// An instance claims a push by moving its lease past now (one
// findOneAndUpdate each, which is atomic): another instance takes it only
// once the lease is over, so a push is in one instance's hands at a time,
// and one whose instance died is taken again after the lease.

var _ herald.PushQueue = (*Store)(nil)

type queueDoc struct {
	M     string              `bson:"m"`
	U     string              `bson:"u"`
	S     int64               `bson:"s"`
	PM    string              `bson:"pm"`
	N     herald.Notification `bson:"n"`
	Due   time.Time           `bson:"due"`
	Done  []string            `bson:"done,omitempty"`
	A     int                 `bson:"a"`
	Lease time.Time           `bson:"lease"`
}

func (d queueDoc) pending() herald.PendingPush {
	return herald.PendingPush{MsgID: d.M, User: d.U, Seq: herald.Seq(d.S), Mode: d.PM, Notification: d.N, Due: d.Due, Done: d.Done, Attempts: d.A}
}

// QueuePushes implements herald.PushQueue: upserts that only insert.
func (s *Store) QueuePushes(ctx context.Context, ps []herald.PendingPush) error {
	if len(ps) == 0 {
		return nil
	}
	models := make([]driver.WriteModel, len(ps))
	for i, p := range ps {
		doc := queueDoc{M: p.MsgID, U: p.User, S: int64(p.Seq), PM: p.Mode, N: p.Notification, Due: p.Due, A: p.Attempts}
		models[i] = upsertByID(ackID(p.MsgID, p.User), bson.D{{Key: "$setOnInsert", Value: doc}})
	}
	if _, err := s.queue.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("queue %d pushes: %w", len(ps), err)
	}
	return nil
}

// ClaimPushes implements herald.PushQueue.
func (s *Store) ClaimPushes(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]herald.PendingPush, error) {
	var out []herald.PendingPush
	filter := bson.D{{Key: "due", Value: bson.D{{Key: "$lte", Value: now}}}, {Key: "lease", Value: bson.D{{Key: "$lte", Value: now}}}}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "lease", Value: now.Add(lease)}}}}
	opts := options.FindOneAndUpdate().SetSort(bson.D{{Key: "due", Value: 1}}).SetReturnDocument(options.After)
	for len(out) < limit {
		var d queueDoc
		err := s.queue.FindOneAndUpdate(ctx, filter, update, opts).Decode(&d)
		if errors.Is(err, driver.ErrNoDocuments) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("claim pushes: %w", err)
		}
		out = append(out, d.pending())
	}
	return out, nil
}

// FinishPush implements herald.PushQueue.
func (s *Store) FinishPush(ctx context.Context, p herald.PendingPush) error {
	if _, err := s.queue.DeleteOne(ctx, bson.D{{Key: "_id", Value: ackID(p.MsgID, p.User)}}); err != nil {
		return fmt.Errorf("finish push %s/%s: %w", p.MsgID, p.User, err)
	}
	return nil
}

// RetryPush implements herald.PushQueue.
func (s *Store) RetryPush(ctx context.Context, p herald.PendingPush) error {
	_, err := s.queue.UpdateOne(ctx, bson.D{{Key: "_id", Value: ackID(p.MsgID, p.User)}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "due", Value: p.Due}, {Key: "done", Value: p.Done}, {Key: "a", Value: p.Attempts}, {Key: "lease", Value: time.Time{}},
	}}})
	if err != nil {
		return fmt.Errorf("retry push %s/%s: %w", p.MsgID, p.User, err)
	}
	return nil
}
