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
func (s *Store) FinishScheduled(_ context.Context, ids ...string) error {
	_, err := s.dropScheduled(ids)
	return err
}

// CancelScheduled implements herald.Schedule.
func (s *Store) CancelScheduled(_ context.Context, id string) (bool, error) {
	n, err := s.dropScheduled([]string{id})
	return n > 0, err
}

// dropScheduled removes the scheduled messages of ids in one write, and
// says how many there were.
func (s *Store) dropScheduled(ids []string) (int, error) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	for _, id := range ids {
		v, err := s.get(key('W', id))
		if err != nil {
			return 0, err
		}
		if v == nil {
			continue
		}
		b.Delete(scheduleKey(time.UnixMilli(int64(binary.BigEndian.Uint64(v))), id), nil)
		b.Delete(key('W', id), nil)
		delete(s.leases, "w\x00"+id)
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if err := b.Commit(pdb.Sync); err != nil {
		return 0, fmt.Errorf("finish %d scheduled messages: %w", n, err)
	}
	return n, nil
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
