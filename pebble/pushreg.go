package pebble

import (
	"context"
	"encoding/json"
	"fmt"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/heraldpush/herald"
)

// Push registrations: p<user>\0<device> -> the registration as JSON.

var _ herald.PushRegistrations = (*Store)(nil)

// PutRegistration implements herald.PushRegistrations.
func (s *Store) PutRegistration(_ context.Context, r herald.PushRegistration) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := s.db.Set(key('p', r.User, r.Device), b, pdb.Sync); err != nil {
		return fmt.Errorf("push registration of %s/%s: %w", r.User, r.Device, err)
	}
	return nil
}

// Registrations implements herald.PushRegistrations.
func (s *Store) Registrations(_ context.Context, user string) ([]herald.PushRegistration, error) {
	prefix := append(key('p', user), 0)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: prefix, UpperBound: append(key('p', user), 1)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []herald.PushRegistration
	for it.First(); it.Valid(); it.Next() {
		var r herald.PushRegistration
		if err := json.Unmarshal(it.Value(), &r); err != nil {
			return nil, fmt.Errorf("push registration %q: %w", it.Key(), err)
		}
		out = append(out, r)
	}
	return out, it.Error()
}

// DeleteRegistration implements herald.PushRegistrations.
func (s *Store) DeleteRegistration(_ context.Context, user, device string) (bool, error) {
	k := key('p', user, device)
	v, err := s.get(k)
	if err != nil || v == nil {
		return false, err
	}
	if err := s.db.Delete(k, pdb.Sync); err != nil {
		return false, fmt.Errorf("push registration of %s/%s: %w", user, device, err)
	}
	return true, nil
}
