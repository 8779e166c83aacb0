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

// Scheduled messages, two keys each:
//
//	w<due ms, 8 bytes><id>  the message as JSON: due ones are a range scan
//	W<id>                   its due ms: finds it by ID
//
// Leases are in memory (this process is the store's only user), kept with
// the push queue's under qmu.

var _ herald.Schedule = (*Store)(nil)

func scheduleKey(due time.Time, id string) []byte {
	return append(binary.BigEndian.AppendUint64([]byte{'w'}, uint64(due.UnixMilli())), id...)
}

// ScheduleMessages implements herald.Schedule.
func (s *Store) ScheduleMessages(_ context.Context, msgs []*herald.Message) error {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	seen := map[string]bool{}
	for _, m := range msgs {
		m.Dup = seen[m.ID]
		if !m.Dup && !m.NewID {
			v, err := s.get(key('W', m.ID))
			if err != nil {
				return err
			}
			rec, err := s.record(m.ID)
			if err != nil {
				return err
			}
			m.Dup = v != nil || rec != nil
		}
		if m.Dup {
			continue
		}
		seen[m.ID] = true
		raw, err := json.Marshal(m)
		if err != nil {
			return err
		}
		b.Set(scheduleKey(m.DeliverAt, m.ID), raw, nil)
		b.Set(key('W', m.ID), binary.BigEndian.AppendUint64(nil, uint64(m.DeliverAt.UnixMilli())), nil)
	}
	if err := b.Commit(pdb.Sync); err != nil {
		return fmt.Errorf("schedule %d messages: %w", len(msgs), err)
	}
	return nil
}

// ClaimScheduled implements herald.Schedule.
func (s *Store) ClaimScheduled(_ context.Context, now time.Time, lease time.Duration, limit int) ([]*herald.Message, error) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.leases == nil {
		s.leases = map[string]time.Time{}
	}
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: []byte{'w'}, UpperBound: scheduleKey(now.Add(time.Millisecond), "")})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*herald.Message
	for it.First(); it.Valid() && len(out) < limit; it.Next() {
		var m herald.Message
		if err := json.Unmarshal(it.Value(), &m); err != nil {
			return nil, fmt.Errorf("scheduled message %q: %w", it.Key(), err)
		}
		lk := "w\x00" + m.ID
		if until, held := s.leases[lk]; held && until.After(now) {
			continue
		}
		s.leases[lk] = now.Add(lease)
		out = append(out, &m)
	}
	return out, it.Error()
}

// FinishScheduled implements herald.Schedule.
func (s *Store) FinishScheduled(_ context.Context, id string) error {
	_, err := s.dropScheduled(id)
	return err
}

// CancelScheduled implements herald.Schedule.
func (s *Store) CancelScheduled(_ context.Context, id string) (bool, error) {
	return s.dropScheduled(id)
}

func (s *Store) dropScheduled(id string) (bool, error) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	v, err := s.get(key('W', id))
	if err != nil || v == nil {
		return false, err
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Delete(scheduleKey(time.UnixMilli(int64(binary.BigEndian.Uint64(v))), id), nil)
	b.Delete(key('W', id), nil)
	if err := b.Commit(pdb.Sync); err != nil {
		return false, fmt.Errorf("scheduled message %s: %w", id, err)
	}
	delete(s.leases, "w\x00"+id)
	return true, nil
}

// ScheduledMessage implements herald.Schedule.
func (s *Store) ScheduledMessage(_ context.Context, id string) (*herald.Message, error) {
	v, err := s.get(key('W', id))
	if err != nil || v == nil {
		return nil, err
	}
	raw, err := s.get(scheduleKey(time.UnixMilli(int64(binary.BigEndian.Uint64(v))), id))
	if err != nil || raw == nil {
		return nil, err
	}
	var m herald.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("scheduled message %s: %w", id, err)
	}
	return &m, nil
}
