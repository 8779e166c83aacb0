package pebble

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/heraldpush/herald"
)

// Push registrations:
//
//	p<user>\0<device>          the registration as JSON
//	T<topic>\0<user>\0<device> (empty) the registration lists the topic
//
// A topic's registrations are a range scan of T<topic>\0; the broadcast's
// one of p. A page's cursor is the last key it read.

var _ herald.PushRegistrations = (*Store)(nil)

// PutRegistration implements herald.PushRegistrations.
func (s *Store) PutRegistration(_ context.Context, r herald.PushRegistration) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	old, err := s.registration(r.User, r.Device)
	if err != nil {
		return err
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	if old != nil {
		for _, t := range old.Topics {
			if !slices.Contains(r.Topics, t) {
				batch.Delete(key('T', t, r.User, r.Device), nil)
			}
		}
	}
	for _, t := range r.Topics {
		batch.Set(key('T', t, r.User, r.Device), nil, nil)
	}
	batch.Set(key('p', r.User, r.Device), b, nil)
	if err := batch.Commit(pdb.Sync); err != nil {
		return fmt.Errorf("push registration of %s/%s: %w", r.User, r.Device, err)
	}
	return nil
}

// registration reads one, nil when there is none.
func (s *Store) registration(user, device string) (*herald.PushRegistration, error) {
	v, err := s.get(key('p', user, device))
	if err != nil || v == nil {
		return nil, err
	}
	var r herald.PushRegistration
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("push registration of %s/%s: %w", user, device, err)
	}
	return &r, nil
}

// Registrations implements herald.PushRegistrations.
func (s *Store) Registrations(_ context.Context, user string) ([]herald.PushRegistration, error) {
	prefix := append(key('p', user), 0)
	out, _, err := s.scanRegistrations(prefix, append(key('p', user), 1), prefix, 0)
	return out, err
}

// scanRegistrations reads the registrations in [from, upper) (limit 0:
// all), and the key to resume after.
func (s *Store) scanRegistrations(from, upper, lower []byte, limit int) ([]herald.PushRegistration, []byte, error) {
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	var out []herald.PushRegistration
	var last []byte
	for it.SeekGE(from); it.Valid() && (limit == 0 || len(out) < limit); it.Next() {
		if bytes.Equal(it.Key(), from) && !bytes.Equal(from, lower) {
			continue // the cursor: the previous page's last
		}
		var r herald.PushRegistration
		if err := json.Unmarshal(it.Value(), &r); err != nil {
			return nil, nil, fmt.Errorf("push registration %q: %w", it.Key(), err)
		}
		out = append(out, r)
		last = append(last[:0], it.Key()...)
	}
	return out, last, it.Error()
}

// TopicRegistrations implements herald.PushRegistrations.
func (s *Store) TopicRegistrations(_ context.Context, topic, after string, limit int) ([]herald.PushRegistration, string, error) {
	if topic == herald.Broadcast {
		lower := []byte{'p'}
		from := lower
		if after != "" {
			from = []byte(after)
		}
		regs, last, err := s.scanRegistrations(from, []byte{'p' + 1}, lower, limit)
		if err != nil || len(regs) < limit {
			return regs, "", err
		}
		return regs, string(last), nil
	}
	lower := append(key('T', topic), 0)
	from := lower
	if after != "" {
		from = []byte(after)
	}
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: lower, UpperBound: append(key('T', topic), 1)})
	if err != nil {
		return nil, "", err
	}
	defer it.Close()
	var out []herald.PushRegistration
	var last []byte
	for it.SeekGE(from); it.Valid() && len(out) < limit; it.Next() {
		if after != "" && bytes.Equal(it.Key(), from) {
			continue
		}
		last = append(last[:0], it.Key()...)
		user, device, ok := bytes.Cut(it.Key()[len(lower):], []byte{0})
		if !ok {
			continue
		}
		r, err := s.registration(string(user), string(device))
		if err != nil {
			return nil, "", err
		}
		// An index entry outlives its registration only between a
		// racing delete's two writes: check that it still stands.
		if r != nil && slices.Contains(r.Topics, topic) {
			out = append(out, *r)
		}
	}
	if err := it.Error(); err != nil || !it.Valid() {
		return out, "", err
	}
	return out, string(last), nil
}

// DeleteRegistration implements herald.PushRegistrations.
func (s *Store) DeleteRegistration(_ context.Context, user, device string) (bool, error) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	old, err := s.registration(user, device)
	if err != nil || old == nil {
		return false, err
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	for _, t := range old.Topics {
		batch.Delete(key('T', t, user, device), nil)
	}
	batch.Delete(key('p', user, device), nil)
	if err := batch.Commit(pdb.Sync); err != nil {
		return false, fmt.Errorf("push registration of %s/%s: %w", user, device, err)
	}
	return true, nil
}
