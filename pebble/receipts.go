package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/heraldpush/herald"
)

// Receipts (herald.ReceiptStore). Keys:
//
//	r <user> 0x00 <device> 0x00 <seq:8> <delivered ms:8>  -> nothing
//	k <user> 0x00 <device> 0x00 <seq:8>                   -> acked, Unix ms (8): an ack event
//
// A delivery costs one small blind insert (no read: the delivery time is in
// the key, so a second delivery adds a key after the first, and the first
// is the one read back), an ack one insert per device per flush (never a
// rewrite of the receipts it covers): a receipt's ack time is that of the
// first ack event at or above its seq. A message's receipts are found
// from its record (each recipient's seq) and a skip over the recipient's
// devices; that read is rare next to the writes. Written without an fsync,
// like acks: a receipt lost to a crash is a gap in the record, not a lost
// message.

var _ herald.ReceiptStore = (*Store)(nil)

func receiptKey(prefix byte, user, device string, seq herald.Seq) []byte {
	return binary.BigEndian.AppendUint64(append(key(prefix, user, device), 0), seq)
}

func ms(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t.UnixMilli())) }

// Message implements herald.ReceiptStore.
func (s *Store) Message(_ context.Context, id string) (*herald.Message, error) {
	rec, err := s.record(id)
	if err != nil || rec == nil {
		return nil, err
	}
	return rec.message(id), nil
}

// SaveDelivered implements herald.ReceiptStore.
func (s *Store) SaveDelivered(_ context.Context, rs []herald.Receipt) error {
	return s.writeReceipts("receipts", len(rs), func(b *pdb.Batch) {
		for _, r := range rs {
			b.Set(append(receiptKey('r', r.User, r.Device, r.Seq), ms(r.Delivered)...), nil, nil)
		}
	})
}

// SaveAcked implements herald.ReceiptStore: one ack event per ack.
func (s *Store) SaveAcked(_ context.Context, acks []herald.AckAt) error {
	return s.writeReceipts("receipt acks", len(acks), func(b *pdb.Batch) {
		for _, a := range acks {
			b.Set(receiptKey('k', a.User, a.Device, a.Seq), ms(a.At), nil)
		}
	})
}

// writeReceipts commits what fill sets in one batch, without an fsync
// (receipts are a record of delivery, not a delivery). Not s.mu: receipts do
// not touch seqs, and must not wait on (or hold up) the appends; rmu orders
// receipt writers among themselves.
func (s *Store) writeReceipts(what string, n int, fill func(*pdb.Batch)) error {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	fill(b)
	if err := b.Commit(pdb.NoSync); err != nil {
		return fmt.Errorf("save %d %s: %w", n, what, err)
	}
	return nil
}

// Receipts implements herald.ReceiptStore.
func (s *Store) Receipts(_ context.Context, msgID string) ([]herald.Receipt, error) {
	rec, err := s.record(msgID)
	if err != nil || rec == nil {
		return nil, err
	}
	var out []herald.Receipt
	for i, user := range rec.Users {
		err := s.eachDevice(user, rec.Seqs[i], func(device string, delivered time.Time) error {
			r := herald.Receipt{MsgID: msgID, User: user, Device: device, Seq: rec.Seqs[i], Delivered: delivered}
			at, err := s.ackedAt(user, device, rec.Seqs[i])
			r.Acked = at
			out = append(out, r)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// eachDevice calls fn for each device of user with a delivery receipt for
// seq, with its first delivery time, skipping from device to device (not
// reading their other receipts).
func (s *Store) eachDevice(user string, seq herald.Seq, fn func(device string, delivered time.Time) error) error {
	prefix := append(key('r', user), 0)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: prefix, UpperBound: append(key('r', user), 1)})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; {
		device, _, found := bytes.Cut(it.Key()[len(prefix):], []byte{0})
		if !found {
			break
		}
		dev := string(device)
		want := receiptKey('r', user, dev, seq)
		if it.SeekGE(want) && len(it.Key()) == len(want)+8 && bytes.HasPrefix(it.Key(), want) {
			if err := fn(dev, time.UnixMilli(int64(u64(it.Key()[len(want):])))); err != nil {
				return err
			}
		}
		// The next device: past every key of this one.
		ok = it.SeekGE(append(append(append([]byte{}, prefix...), dev...), 1))
	}
	return it.Error()
}

// ackedAt is the time of the first ack event of the device at or above seq.
func (s *Store) ackedAt(user, device string, seq herald.Seq) (time.Time, error) {
	prefix := append(key('k', user, device), 0)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: receiptKey('k', user, device, seq), UpperBound: append(key('k', user, device), 1)})
	if err != nil {
		return time.Time{}, err
	}
	defer it.Close()
	if it.First() && len(it.Key()) == len(prefix)+8 {
		return time.UnixMilli(int64(u64(it.Value()))), nil
	}
	return time.Time{}, it.Error()
}

// sweepReceipts deletes the receipts of a message removed by retention, and
// its recipients' ack events up to its seq (later receipts need only later
// ones), in the sweeper's batch; s.mu held.
func (s *Store) sweepReceipts(b *pdb.Batch, rec *record) error {
	for i, user := range rec.Users {
		seq := rec.Seqs[i]
		err := s.eachDevice(user, seq, func(device string, _ time.Time) error {
			b.DeleteRange(receiptKey('r', user, device, seq), receiptKey('r', user, device, seq+1), nil)
			b.DeleteRange(receiptKey('k', user, device, 0), receiptKey('k', user, device, seq+1), nil)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
