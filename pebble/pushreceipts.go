package pebble

import (
	"context"
	"encoding/json"
	"fmt"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/heraldpush/herald"
)

// Push receipts: P<msg>\0<user>\0<device> -> the receipt as JSON, removed
// with the message (sweepMessage).

var _ herald.PushReceipts = (*Store)(nil)

// SavePushed implements herald.PushReceipts.
func (s *Store) SavePushed(_ context.Context, rs []herald.PushReceipt) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, r := range rs {
		raw, err := json.Marshal(r)
		if err != nil {
			return err
		}
		b.Set(key('P', r.MsgID, r.User, r.Device), raw, nil)
	}
	if err := b.Commit(pdb.Sync); err != nil {
		return fmt.Errorf("save %d push receipts: %w", len(rs), err)
	}
	return nil
}

// PushReceipts implements herald.PushReceipts.
func (s *Store) PushReceipts(_ context.Context, msgID string) ([]herald.PushReceipt, error) {
	prefix := append(key('P', msgID), 0)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: prefix, UpperBound: append(key('P', msgID), 1)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []herald.PushReceipt
	for it.First(); it.Valid(); it.Next() {
		var r herald.PushReceipt
		if err := json.Unmarshal(it.Value(), &r); err != nil {
			return nil, fmt.Errorf("push receipt %q: %w", it.Key(), err)
		}
		out = append(out, r)
	}
	return out, it.Error()
}
