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

// Push receipts, one document a message and device:
//
//	push_receipts {_id: "msg|user|device", m, u, d, p, t, f}, indexed by m, removed with the message

var _ herald.PushReceipts = (*Store)(nil)

type pushReceiptDoc struct {
	M string    `bson:"m"`
	U string    `bson:"u"`
	D string    `bson:"d"`
	P string    `bson:"p"`
	T time.Time `bson:"t"`
	F string    `bson:"f,omitempty"`
}

// SavePushed implements herald.PushReceipts.
func (s *Store) SavePushed(ctx context.Context, rs []herald.PushReceipt) error {
	if len(rs) == 0 {
		return nil
	}
	models := make([]driver.WriteModel, len(rs))
	for i, r := range rs {
		doc := pushReceiptDoc{M: r.MsgID, U: r.User, D: r.Device, P: r.Provider, T: r.At, F: r.Failed}
		models[i] = driver.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: r.MsgID + idSep + r.User + idSep + r.Device}}).
			SetReplacement(doc).SetUpsert(true)
	}
	if _, err := s.pushReceipts.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("save %d push receipts: %w", len(rs), err)
	}
	return nil
}

// PushReceipts implements herald.PushReceipts.
func (s *Store) PushReceipts(ctx context.Context, msgID string) ([]herald.PushReceipt, error) {
	docs, err := findAll[pushReceiptDoc](ctx, s.pushReceipts, bson.D{{Key: "m", Value: msgID}})
	if err != nil {
		return nil, fmt.Errorf("push receipts of %s: %w", msgID, err)
	}
	out := make([]herald.PushReceipt, len(docs))
	for i, d := range docs {
		out[i] = herald.PushReceipt{MsgID: d.M, User: d.U, Device: d.D, Provider: d.P, At: d.T, Failed: d.F}
	}
	return out, nil
}
