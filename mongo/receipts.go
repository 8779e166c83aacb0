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

// Receipts (herald.ReceiptStore) are two insert-only collections:
//
//	receipts      {_id: "<msg>|<user>|<device>", m, u, d, s: seq, dl: delivered, t: for retention}, indexed by m
//	receipt_acks  {_id: "<user>|<device>|<seq>", u, d, s, t: acked}, indexed by (u, d, s)
//
// A delivery inserts a receipt (kept if one exists: the first delivery
// counts), an ack inserts an ack event; nothing is updated, so an ack costs
// one write however many receipts it covers. A receipt's ack time is that of
// the device's first ack event at or above its seq. Ack events are removed
// by time: one older than retention covers only messages older still.

var _ herald.ReceiptStore = (*Store)(nil)

type receiptDoc struct {
	M  string    `bson:"m"`
	U  string    `bson:"u"`
	D  string    `bson:"d"`
	S  int64     `bson:"s"`
	DL time.Time `bson:"dl"`
}

// Message implements herald.ReceiptStore: the payload, then the recipients
// from the inbox (its index on m).
func (s *Store) Message(ctx context.Context, id string) (*herald.Message, error) {
	var doc messageDoc
	err := s.messages.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc)
	if errors.Is(err, driver.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read message %s: %w", id, err)
	}
	m := &herald.Message{ID: id, Time: doc.T, Topic: doc.Topic, Payload: []byte(doc.P), Expires: doc.Exp, CollapseKey: doc.CK, Recalled: doc.RC}
	cur, err := s.inbox.Find(ctx, bson.D{{Key: "m", Value: id}})
	if err != nil {
		return nil, fmt.Errorf("read recipients of %s: %w", id, err)
	}
	var entries []struct {
		U string `bson:"u"`
		S int64  `bson:"s"`
	}
	if err := cur.All(ctx, &entries); err != nil {
		return nil, fmt.Errorf("read recipients of %s: %w", id, err)
	}
	for _, e := range entries {
		m.Users = append(m.Users, e.U)
		m.Seqs = append(m.Seqs, herald.Seq(e.S))
	}
	return m, nil
}

func receiptID(msg, user, device string) string { return msg + idSep + user + idSep + device }

// SaveDelivered implements herald.ReceiptStore: one unordered bulk of
// upserts that only insert ($setOnInsert), so the first delivery stays.
func (s *Store) SaveDelivered(ctx context.Context, rs []herald.Receipt) error {
	if len(rs) == 0 {
		return nil
	}
	models := make([]driver.WriteModel, len(rs))
	for i, r := range rs {
		models[i] = upsertByID(receiptID(r.MsgID, r.User, r.Device), bson.D{{Key: "$setOnInsert", Value: bson.D{
			{Key: "m", Value: r.MsgID}, {Key: "u", Value: r.User}, {Key: "d", Value: r.Device},
			{Key: "s", Value: int64(r.Seq)}, {Key: "dl", Value: r.Delivered}, {Key: "t", Value: r.Delivered},
		}}})
	}
	if _, err := s.receipts.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("save %d receipts: %w", len(rs), err)
	}
	return nil
}

// SaveAcked implements herald.ReceiptStore: one ack event per ack, in one
// unordered bulk write.
func (s *Store) SaveAcked(ctx context.Context, acks []herald.AckAt) error {
	if len(acks) == 0 {
		return nil
	}
	models := make([]driver.WriteModel, len(acks))
	for i, a := range acks {
		models[i] = upsertByID(a.User+idSep+a.Device+idSep+fmt.Sprint(a.Seq), bson.D{{Key: "$setOnInsert", Value: bson.D{
			{Key: "u", Value: a.User}, {Key: "d", Value: a.Device}, {Key: "s", Value: int64(a.Seq)}, {Key: "t", Value: a.At},
		}}})
	}
	if _, err := s.receiptAcks.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("save %d receipt acks: %w", len(acks), err)
	}
	return nil
}

// Receipts implements herald.ReceiptStore.
func (s *Store) Receipts(ctx context.Context, msgID string) ([]herald.Receipt, error) {
	cur, err := s.receipts.Find(ctx, bson.D{{Key: "m", Value: msgID}})
	if err != nil {
		return nil, fmt.Errorf("receipts of %s: %w", msgID, err)
	}
	var docs []receiptDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("receipts of %s: %w", msgID, err)
	}
	docs = firstDeliveries(docs)
	out := make([]herald.Receipt, len(docs))
	for i, d := range docs {
		out[i] = herald.Receipt{MsgID: d.M, User: d.U, Device: d.D, Seq: herald.Seq(d.S), Delivered: d.DL}
		var ack struct {
			T time.Time `bson:"t"`
		}
		err := s.receiptAcks.FindOne(ctx,
			bson.D{{Key: "u", Value: d.U}, {Key: "d", Value: d.D}, {Key: "s", Value: bson.D{{Key: "$gte", Value: d.S}}}},
			options.FindOne().SetSort(bson.D{{Key: "s", Value: 1}})).Decode(&ack)
		switch {
		case err == nil:
			out[i].Acked = ack.T
		case !errors.Is(err, driver.ErrNoDocuments):
			return nil, fmt.Errorf("acks of %s/%s: %w", d.U, d.D, err)
		}
	}
	return out, nil
}

// firstDeliveries keeps one receipt per device, its first delivery: a
// device delivered the message both before and after an upgrade from the
// NUL-separated _ids has one receipt under each form.
func firstDeliveries(docs []receiptDoc) []receiptDoc {
	first := make(map[[2]string]int, len(docs))
	out := docs[:0]
	for _, d := range docs {
		k := [2]string{d.U, d.D}
		if i, ok := first[k]; ok {
			if d.DL.Before(out[i].DL) {
				out[i] = d
			}
			continue
		}
		first[k] = len(out)
		out = append(out, d)
	}
	return out
}

// sweepReceipts removes the receipts of the messages filter selects (those
// past retention), 1,000 messages per delete. (The TTL index on the
// receipts' delivery time is only a safety net: a receipt goes with its
// message.)
func (s *Store) sweepReceipts(ctx context.Context, filter bson.D) error {
	cur, err := s.messages.Find(ctx, filter, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return fmt.Errorf("sweep receipts: %w", err)
	}
	defer cur.Close(ctx)
	var ids []string
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		_, err := s.receipts.DeleteMany(ctx, bson.D{{Key: "m", Value: bson.D{{Key: "$in", Value: ids}}}})
		if err == nil {
			_, err = s.pushReceipts.DeleteMany(ctx, bson.D{{Key: "m", Value: bson.D{{Key: "$in", Value: ids}}}})
		}
		ids = ids[:0]
		return err
	}
	for cur.Next(ctx) {
		var d struct {
			ID string `bson:"_id"`
		}
		if cur.Decode(&d) == nil {
			ids = append(ids, d.ID)
		}
		if len(ids) == 1000 {
			if err := flush(); err != nil {
				return fmt.Errorf("sweep receipts: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("sweep receipts: %w", err)
	}
	if err := cur.Err(); err != nil {
		return err
	}
	if _, err := s.receiptAcks.DeleteMany(ctx, filter); err != nil {
		return fmt.Errorf("sweep receipt acks: %w", err)
	}
	return nil
}
