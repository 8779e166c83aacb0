package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/heraldpush/herald"
)

// Receipts (herald.ReceiptStore). Keys:
//
//	r <user> 0x00 <device> 0x00 <seq:8>  -> receipt {m, d, a}: a device's receipts in seq order (acks walk them)
//	R <id> 0x00 <user> 0x00 <device>     -> seq (8): a message's receipts
//	w <user> 0x00 <device>               -> seq (8): receipts up to it are acked
//
// They are written without an fsync (like acks): a receipt lost to a crash
// is a gap in the record, not a lost message.

var _ herald.ReceiptStore = (*Store)(nil)

type receiptRec struct {
	ID        string `json:"m"`
	Delivered int64  `json:"d"`           // Unix ms
	Acked     int64  `json:"a,omitempty"` // Unix ms; 0 until acked
}

func receiptKey(user, device string, seq herald.Seq) []byte {
	return binary.BigEndian.AppendUint64(append(key('r', user, device), 0), seq)
}

// Message implements herald.ReceiptStore.
func (s *Store) Message(_ context.Context, id string) (*herald.Message, error) {
	raw, err := s.get(key('m', id))
	if err != nil || raw == nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("decode message %s: %w", id, err)
	}
	return &herald.Message{ID: id, Time: time.UnixMilli(rec.TS), Topic: rec.Topic, Payload: rec.Payload, Users: rec.Users, Seqs: rec.Seqs}, nil
}

// SaveDelivered implements herald.ReceiptStore.
func (s *Store) SaveDelivered(_ context.Context, rs []herald.Receipt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	for _, r := range rs {
		k := receiptKey(r.User, r.Device, r.Seq)
		if cur, err := s.get(k); err != nil {
			return err
		} else if cur != nil {
			continue // the first delivery counts
		}
		v, _ := json.Marshal(receiptRec{ID: r.MsgID, Delivered: r.Delivered.UnixMilli()})
		b.Set(k, v, nil)
		b.Set(key('R', r.MsgID, r.User, r.Device), binary.BigEndian.AppendUint64(nil, r.Seq), nil)
	}
	if err := b.Commit(pdb.NoSync); err != nil {
		return fmt.Errorf("save %d receipts: %w", len(rs), err)
	}
	return nil
}

// SaveAcked implements herald.ReceiptStore: it walks each device's receipts
// from its watermark (the last ack applied) up to the ack.
func (s *Store) SaveAcked(_ context.Context, acks []herald.AckAt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	for _, a := range acks {
		wk := key('w', a.User, a.Device)
		from, err := s.getU64(wk)
		if err != nil {
			return err
		}
		if a.Seq <= from {
			continue
		}
		it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: receiptKey(a.User, a.Device, from+1), UpperBound: receiptKey(a.User, a.Device, a.Seq+1)})
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			var rec receiptRec
			if json.Unmarshal(it.Value(), &rec) != nil || rec.Acked != 0 {
				continue
			}
			rec.Acked = a.At.UnixMilli()
			v, _ := json.Marshal(rec)
			b.Set(bytes.Clone(it.Key()), v, nil)
		}
		err = it.Close()
		if err != nil {
			return err
		}
		b.Set(wk, binary.BigEndian.AppendUint64(nil, a.Seq), nil)
	}
	if err := b.Commit(pdb.NoSync); err != nil {
		return fmt.Errorf("save %d receipt acks: %w", len(acks), err)
	}
	return nil
}

// Receipts implements herald.ReceiptStore.
func (s *Store) Receipts(_ context.Context, msgID string) ([]herald.Receipt, error) {
	prefix := append(key('R', msgID), 0)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: prefix, UpperBound: append(key('R', msgID), 1)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []herald.Receipt
	for ok := it.First(); ok; ok = it.Next() {
		user, device, _ := bytes.Cut(it.Key()[len(prefix):], []byte{0})
		seq := u64(it.Value())
		raw, err := s.get(receiptKey(string(user), string(device), seq))
		if err != nil {
			return nil, err
		}
		var rec receiptRec
		if raw == nil || json.Unmarshal(raw, &rec) != nil {
			continue
		}
		r := herald.Receipt{MsgID: msgID, User: string(user), Device: string(device), Seq: seq, Delivered: time.UnixMilli(rec.Delivered)}
		if rec.Acked != 0 {
			r.Acked = time.UnixMilli(rec.Acked)
		}
		out = append(out, r)
	}
	return out, it.Error()
}

// sweepReceipts deletes the receipts of a message removed by retention (in
// the sweeper's batch); s.mu held.
func (s *Store) sweepReceipts(b *pdb.Batch, id string) error {
	prefix := append(key('R', id), 0)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: prefix, UpperBound: append(key('R', id), 1)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		user, device, _ := bytes.Cut(it.Key()[len(prefix):], []byte{0})
		b.Delete(receiptKey(string(user), string(device), u64(it.Value())), nil)
		b.Delete(bytes.Clone(it.Key()), nil)
	}
	return it.Error()
}
