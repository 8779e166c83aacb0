package mongo

import (
	"context"
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

// seqState reads what user's seq holds: its inbox entry by _id, then the
// message it names.
func (s *Store) seqState(ctx context.Context, user string, seq herald.Seq) (herald.Delivery, herald.SeqState, error) {
	got, err := s.entries(ctx, user, seq, seq)
	if err != nil || len(got) == 0 {
		return herald.Delivery{}, herald.SeqPending, err
	}
	if strings.HasPrefix(got[0].M, deadPrefix) {
		return herald.Delivery{}, herald.SeqDead, nil
	}
	docs, err := byIDs[messageDoc](ctx, s.messages, []string{got[0].M})
	switch {
	case err != nil:
		return herald.Delivery{}, herald.SeqPending, fmt.Errorf("read message %s: %w", got[0].M, err)
	case len(docs) == 0:
		return herald.Delivery{}, herald.SeqDead, nil // removed by retention
	}
	return docs[0].delivery(user, seq), herald.SeqStored, nil
}
