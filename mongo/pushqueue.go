package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/heraldpush/herald"
)

// The push queue, one document a pending push:
//
//	push_queue  {_id: "msg|user", m, u, s, pm, n: notification, due, done, a, t: topic, after, lease}, indexed by due
//	push_claims {_id: "msg|user|lease ms", t}, indexed by t, kept an hour
//
// An instance claims a push by inserting its claim, then moving its lease
// past now: another instance takes it only once the lease is over, so a
// push is in one instance's hands at a time, and one whose instance died
// is taken again after the lease.

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
	T     string              `bson:"t,omitempty"`
	After string              `bson:"after,omitempty"`
	Exp   time.Time           `bson:"exp,omitempty"`
	Lease time.Time           `bson:"lease"`
}

func (d queueDoc) pending() herald.PendingPush {
	return herald.PendingPush{MsgID: d.M, User: d.U, Seq: herald.Seq(d.S), Mode: d.PM, Notification: d.N, Due: d.Due, Done: d.Done, Attempts: d.A, Topic: d.T, After: d.After, Expires: d.Exp}
}

// QueuePushes implements herald.PushQueue: upserts that only insert.
func (s *Store) QueuePushes(ctx context.Context, ps []herald.PendingPush) error {
	if len(ps) == 0 {
		return nil
	}
	models := make([]driver.WriteModel, len(ps))
	for i, p := range ps {
		doc := queueDoc{M: p.MsgID, U: p.User, S: int64(p.Seq), PM: p.Mode, N: p.Notification, Due: p.Due, A: p.Attempts, T: p.Topic, Exp: p.Expires}
		models[i] = upsertByID(ackID(p.MsgID, p.User), bson.D{{Key: "$setOnInsert", Value: doc}})
	}
	if _, err := s.queue.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("queue %d pushes: %w", len(ps), err)
	}
	return nil
}

// ClaimPushes implements herald.PushQueue. A claim is an insert into
// push_claims with the _id "<msg>|<user>|<the lease it found>": the unique
// _id lets one instance through for a push and lease, on any store (on
// MongoDB findOneAndUpdate would do, but FerretDB's is not atomic, and
// two instances pushed the same message). The winner then moves the lease.
func (s *Store) ClaimPushes(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]herald.PendingPush, error) {
	docs, err := dueDocs[queueDoc](ctx, s, s.queue, now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim pushes: %w", err)
	}
	var out []herald.PendingPush
	for _, d := range docs {
		id := ackID(d.M, d.U)
		claim := id + idSep + fmt.Sprint(d.Lease.UnixMilli())
		if ok, err := s.take(ctx, s.queue, id, claim, now, lease); err != nil {
			return out, fmt.Errorf("claim push %s: %w", id, err)
		} else if !ok {
			continue // another instance has it
		}
		out = append(out, d.pending())
	}
	return out, nil
}

// dueDocs reads up to limit documents of coll (pushes, scheduled messages)
// due by now whose lease is over, the earliest due first, and sweeps old
// claims now and then.
func dueDocs[T any](ctx context.Context, s *Store, coll *driver.Collection, now time.Time, limit int) ([]T, error) {
	filter := bson.D{{Key: "due", Value: bson.D{{Key: "$lte", Value: now}}}, {Key: "lease", Value: bson.D{{Key: "$lte", Value: now}}}}
	docs, err := findAll[T](ctx, coll, filter, options.Find().SetSort(bson.D{{Key: "due", Value: 1}}).SetLimit(int64(limit)))
	if err == nil {
		s.sweepClaims(ctx, now)
	}
	return docs, err
}

// take claims document id of coll (a push, a scheduled message) under the
// claim's _id, and moves its lease to now+lease; false when another
// instance holds it.
func (s *Store) take(ctx context.Context, coll *driver.Collection, id, claim string, now time.Time, lease time.Duration) (bool, error) {
	if ok, err := s.claim(ctx, claim, now, lease); err != nil || !ok {
		return false, err
	}
	_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "lease", Value: now.Add(lease)}}}})
	return err == nil, err
}

// claim inserts the claim of a push and lease; false when another
// instance holds it. A claim older than a lease whose push still has the
// lease it names was made by an instance that died before it moved the
// lease (or whose move failed): it is taken over, by deleting it (if no one
// else did first) and claiming again, else the push would wait for the
// claim to be swept, an hour.
func (s *Store) claim(ctx context.Context, claim string, now time.Time, lease time.Duration) (bool, error) {
	for range 2 {
		_, err := s.claims.InsertOne(ctx, bson.D{{Key: "_id", Value: claim}, {Key: "t", Value: now}})
		if err == nil {
			return true, nil
		}
		if !driver.IsDuplicateKeyError(err) {
			return false, err
		}
		var held struct {
			T time.Time `bson:"t"`
		}
		if err := s.claims.FindOne(ctx, bson.D{{Key: "_id", Value: claim}}).Decode(&held); err != nil {
			return false, nil // gone meanwhile, or unreadable: the next round sees
		}
		if now.Sub(held.T) <= lease {
			return false, nil
		}
		res, err := s.claims.DeleteOne(ctx, bson.D{{Key: "_id", Value: claim}, {Key: "t", Value: held.T}})
		if err != nil || res.DeletedCount == 0 {
			return false, err
		}
	}
	return false, nil
}

// FinishPush implements herald.PushQueue.
func (s *Store) FinishPush(ctx context.Context, p herald.PendingPush) error {
	id := ackID(p.MsgID, p.User)
	if _, err := s.queue.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("finish push %s/%s: %w", p.MsgID, p.User, err)
	}
	return nil
}

// RetryPush implements herald.PushQueue.
func (s *Store) RetryPush(ctx context.Context, p herald.PendingPush) error {
	_, err := s.queue.UpdateOne(ctx, bson.D{{Key: "_id", Value: ackID(p.MsgID, p.User)}}, bson.D{{Key: "$set", Value: bson.D{
		// A lease of now lets it be claimed when due, under a claim _id
		// of its own (the lease is part of it).
		{Key: "due", Value: p.Due}, {Key: "done", Value: p.Done}, {Key: "a", Value: p.Attempts}, {Key: "after", Value: p.After}, {Key: "lease", Value: time.Now()},
	}}})
	if err != nil {
		return fmt.Errorf("retry push %s/%s: %w", p.MsgID, p.User, err)
	}
	return nil
}

// CancelPushes implements herald.PushQueue.
func (s *Store) CancelPushes(ctx context.Context, msgID string) error {
	if _, err := s.queue.DeleteMany(ctx, bson.D{{Key: "m", Value: msgID}}); err != nil {
		return fmt.Errorf("cancel the pushes of %s: %w", msgID, err)
	}
	return nil
}

// SpreadPush implements herald.PushQueue: queues, then moves the cursor.
func (s *Store) SpreadPush(ctx context.Context, p herald.PendingPush, ps []herald.PendingPush) error {
	if err := s.QueuePushes(ctx, ps); err != nil {
		return err
	}
	_, err := s.queue.UpdateOne(ctx, bson.D{{Key: "_id", Value: ackID(p.MsgID, p.User)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "after", Value: p.After}, {Key: "done", Value: p.Done}}}})
	if err != nil {
		return fmt.Errorf("spread push %s/%s: %w", p.MsgID, p.User, err)
	}
	return nil
}

// claimsKept is how long a claim is kept: an instance that read a push
// before another claimed and finished it may still try to claim it, and
// must find the claim there. Far longer than a claim's read and insert.
const claimsKept = time.Hour

// sweepClaims removes old claims, at most once a minute per process.
func (s *Store) sweepClaims(ctx context.Context, now time.Time) {
	last := s.claimsSwept.Load()
	if now.UnixMilli()-last < time.Minute.Milliseconds() || !s.claimsSwept.CompareAndSwap(last, now.UnixMilli()) {
		return
	}
	s.claims.DeleteMany(ctx, bson.D{{Key: "t", Value: bson.D{{Key: "$lt", Value: now.Add(-claimsKept)}}}})
}
