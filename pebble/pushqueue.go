package pebble

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/heraldpush/herald"
)

// The push queue, two keys a pending push:
//
//	q<due ms, 8 bytes><msg>\0<user>  the push as JSON: due ones are a range scan
//	Q<msg>\0<user>                   its due ms: finds it by message and user
//
// Leases are in memory: this process is the store's only user.

var _ herald.PushQueue = (*Store)(nil)

func queueKey(due time.Time, msg, user string) []byte {
	k := binary.BigEndian.AppendUint64([]byte{'q'}, uint64(due.UnixMilli()))
	return append(append(append(k, msg...), 0), user...)
}

// setPush adds p's two keys to b.
func setPush(b *pdb.Batch, p herald.PendingPush) error {
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	b.Set(queueKey(p.Due, p.MsgID, p.User), raw, nil)
	b.Set(key('Q', p.MsgID, p.User), binary.BigEndian.AppendUint64(nil, uint64(p.Due.UnixMilli())), nil)
	return nil
}

// QueuePushes implements herald.PushQueue.
func (s *Store) QueuePushes(_ context.Context, ps []herald.PendingPush) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	if err := s.addPushes(b, ps); err != nil {
		return err
	}
	if err := b.Commit(pdb.Sync); err != nil {
		return fmt.Errorf("queue %d pushes: %w", len(ps), err)
	}
	return nil
}

// addPushes adds to b the pushes of ps not queued already (qmu held).
func (s *Store) addPushes(b *pdb.Batch, ps []herald.PendingPush) error {
	for _, p := range ps {
		if v, err := s.get(key('Q', p.MsgID, p.User)); err != nil {
			return err
		} else if v != nil {
			continue // queued already
		}
		if err := setPush(b, p); err != nil {
			return err
		}
	}
	return nil
}

// ClaimPushes implements herald.PushQueue.
func (s *Store) ClaimPushes(_ context.Context, now time.Time, lease time.Duration, limit int) ([]herald.PendingPush, error) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.leases == nil {
		s.leases = map[string]time.Time{}
	}
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: []byte{'q'}, UpperBound: queueKey(now.Add(time.Millisecond), "", "")})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []herald.PendingPush
	for it.First(); it.Valid() && len(out) < limit; it.Next() {
		var p herald.PendingPush
		if err := json.Unmarshal(it.Value(), &p); err != nil {
			return nil, fmt.Errorf("pending push %q: %w", it.Key(), err)
		}
		id := p.MsgID + "\x00" + p.User
		if until, held := s.leases[id]; held && until.After(now) {
			continue
		}
		s.leases[id] = now.Add(lease)
		out = append(out, p)
	}
	return out, it.Error()
}

// FinishPush implements herald.PushQueue.
func (s *Store) FinishPush(_ context.Context, p herald.PendingPush) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.dropPush(p, nil)
}

// dropPush removes p's keys (qmu held), putting next in its place if given.
func (s *Store) dropPush(p herald.PendingPush, next *herald.PendingPush) error {
	idx := key('Q', p.MsgID, p.User)
	v, err := s.get(idx)
	if err != nil || v == nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(queueKey(time.UnixMilli(int64(binary.BigEndian.Uint64(v))), p.MsgID, p.User), nil)
	b.Delete(idx, nil)
	if next != nil {
		if err := setPush(b, *next); err != nil {
			return err
		}
	}
	if err := b.Commit(pdb.Sync); err != nil {
		return fmt.Errorf("pending push %s/%s: %w", p.MsgID, p.User, err)
	}
	delete(s.leases, p.MsgID+"\x00"+p.User)
	return nil
}

// RetryPush implements herald.PushQueue.
func (s *Store) RetryPush(_ context.Context, p herald.PendingPush) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.dropPush(p, &p)
}

// SpreadPush implements herald.PushQueue in one write.
func (s *Store) SpreadPush(_ context.Context, p herald.PendingPush, ps []herald.PendingPush) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	if err := s.addPushes(b, ps); err != nil {
		return err
	}
	idx := key('Q', p.MsgID, p.User)
	v, err := s.get(idx)
	if err != nil {
		return err
	}
	if v != nil {
		// The same due: only the cursor moves, the lease stays.
		p.Due = time.UnixMilli(int64(binary.BigEndian.Uint64(v)))
		if err := setPush(b, p); err != nil {
			return err
		}
	}
	if err := b.Commit(pdb.Sync); err != nil {
		return fmt.Errorf("spread push %s/%s: %w", p.MsgID, p.User, err)
	}
	return nil
}

// CancelPushes implements herald.PushQueue.
func (s *Store) CancelPushes(_ context.Context, msgID string) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	prefix := append(key('Q', msgID), 0)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: prefix, UpperBound: append(key('Q', msgID), 1)})
	if err != nil {
		return err
	}
	defer it.Close()
	b := s.db.NewBatch()
	defer b.Close()
	for it.First(); it.Valid(); it.Next() {
		user := string(it.Key()[len(prefix):])
		b.Delete(queueKey(time.UnixMilli(int64(binary.BigEndian.Uint64(it.Value()))), msgID, user), nil)
		b.Delete(append([]byte(nil), it.Key()...), nil)
		delete(s.leases, msgID+"\x00"+user)
	}
	if err := it.Error(); err != nil {
		return err
	}
	if err := b.Commit(pdb.Sync); err != nil {
		return fmt.Errorf("cancel the pushes of %s: %w", msgID, err)
	}
	return nil
}
