package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/heraldpush/herald"
)

var _ herald.GapCloser = (*Store)(nil)

// deadPrefix starts the message field of a dead inbox entry: a seq closed
// by Gap. A message ID never has it (IDs are hex), and with the seq after it
// the unique (user, message) index holds.
const deadPrefix = "~dead/"

// Gap implements herald.GapCloser: one point read of the inbox entry (and
// one of its message), and with close one insert. The insert is the whole
// trick: an inbox entry's _id is its user and seq, so the dead entry and a
// late write of the seq cannot both land. When the dead entry wins, the
// writer's insert fails as a seq conflict, and Append gives that message
// the next free seq (insertInbox, repairCounters); when the writer wins,
// the insert fails and the message is read.
func (s *Store) Gap(ctx context.Context, user string, seq herald.Seq, close bool) (herald.Delivery, herald.SeqState, error) {
	d, st, err := s.seqState(ctx, user, seq)
	if err != nil || st != herald.SeqPending || !close {
		return d, st, err
	}
	_, err = s.inbox.InsertOne(ctx, bson.D{
		{Key: "_id", Value: inboxID(user, seq)}, {Key: "u", Value: user}, {Key: "s", Value: int64(seq)},
		{Key: "m", Value: fmt.Sprintf("%s%016x", deadPrefix, seq)}, {Key: "t", Value: time.Now()},
	}) // write concern majority, journaled: the database's
	switch {
	case err == nil:
		return herald.Delivery{}, herald.SeqDead, nil
	case driver.IsDuplicateKeyError(err):
		return s.seqState(ctx, user, seq) // the write landed first
	default:
		return herald.Delivery{}, herald.SeqPending, fmt.Errorf("close seq %d of %s: %w", seq, user, err)
	}
}

// seqState reads what user's seq holds.
func (s *Store) seqState(ctx context.Context, user string, seq herald.Seq) (herald.Delivery, herald.SeqState, error) {
	var e inboxDoc
	err := s.inbox.FindOne(ctx, bson.D{{Key: "_id", Value: inboxID(user, seq)}}).Decode(&e)
	if errors.Is(err, driver.ErrNoDocuments) {
		return herald.Delivery{}, herald.SeqPending, nil
	}
	if err != nil {
		return herald.Delivery{}, herald.SeqPending, fmt.Errorf("read seq %d of %s: %w", seq, user, err)
	}
	if strings.HasPrefix(e.M, deadPrefix) {
		return herald.Delivery{}, herald.SeqDead, nil
	}
	var m messageDoc
	err = s.messages.FindOne(ctx, bson.D{{Key: "_id", Value: e.M}}).Decode(&m)
	if errors.Is(err, driver.ErrNoDocuments) {
		return herald.Delivery{}, herald.SeqDead, nil // removed by retention
	}
	if err != nil {
		return herald.Delivery{}, herald.SeqPending, fmt.Errorf("read message %s: %w", e.M, err)
	}
	return herald.Delivery{ID: m.ID, User: user, Seq: seq, Time: m.T, Topic: m.Topic, Payload: []byte(m.P)}, herald.SeqStored, nil
}
