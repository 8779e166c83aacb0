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

// Collapse keys, one document a stream and key:
//
//	collapse {_id: "stream|key", s: the seq of the stream's newest message with the key}
//
// Written after the message's inbox entries, with $max: a write that
// fails leaves the index behind the messages (an older message is
// replayed once more), never ahead of them (one never stored would hide
// one that is).

var (
	_ herald.CollapseIndex = (*Store)(nil)
	_ herald.Recalls       = (*Store)(nil)
)

// Recall implements herald.Recalls: rc set on the message, once.
func (s *Store) Recall(ctx context.Context, id string, at time.Time) (*herald.Message, error) {
	_, err := s.messages.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "rc", Value: bson.D{{Key: "$exists", Value: false}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "rc", Value: at.Truncate(time.Millisecond)}}}})
	if err != nil {
		return nil, fmt.Errorf("recall %s: %w", id, err)
	}
	return s.Message(ctx, id)
}

// indexCollapse records the seqs of msgs that have a collapse key.
func (s *Store) indexCollapse(ctx context.Context, msgs []*herald.Message) error {
	var models []driver.WriteModel
	for _, m := range msgs {
		if m.CollapseKey == "" {
			continue
		}
		for i, u := range m.Users {
			models = append(models, upsertByID(ackID(u, m.CollapseKey),
				bson.D{{Key: "$max", Value: bson.D{{Key: "s", Value: int64(m.Seqs[i])}}}}))
		}
	}
	if len(models) == 0 {
		return nil
	}
	if _, err := s.collapse.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("collapse keys: %w", err)
	}
	return nil
}

// NewestByKey implements herald.CollapseIndex.
func (s *Store) NewestByKey(ctx context.Context, stream string, keys []string) (map[string]herald.Seq, error) {
	out := make(map[string]herald.Seq, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = ackID(stream, k)
	}
	docs, err := findAll[struct {
		ID string `bson:"_id"`
		S  int64  `bson:"s"`
	}](ctx, s.collapse, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("collapse keys of %s: %w", stream, err)
	}
	for _, d := range docs {
		out[d.ID[len(stream)+len(idSep):]] = herald.Seq(d.S)
	}
	return out, nil
}
