package pebble

import (
	"context"
	"fmt"
	"time"

	pdb "github.com/cockroachdb/pebble/v2"

	"github.com/heraldpush/herald"
)

var _ herald.Recalls = (*Store)(nil)

// message is the record as the message it was made from.
func (r *record) message(id string) *herald.Message {
	m := &herald.Message{ID: id, Time: time.UnixMilli(r.TS), Topic: r.Topic, Payload: r.Payload, Users: r.Users, Seqs: r.Seqs, CollapseKey: r.CK}
	if r.Exp != 0 {
		m.Expires = time.UnixMilli(r.Exp)
	}
	if r.RC != 0 {
		m.Recalled = time.UnixMilli(r.RC)
	}
	return m
}

// Recall implements herald.Recalls: the record written again with its
// recall time (by appendRecord, so the payload stays byte for byte).
func (s *Store) Recall(_ context.Context, id string, at time.Time) (*herald.Message, error) {
	s.mu.Lock() // the writers' lock: retention rewrites no record meanwhile
	defer s.mu.Unlock()
	rec, err := s.record(id)
	if err != nil || rec == nil {
		return nil, err
	}
	m := rec.message(id)
	if !m.Recalled.IsZero() {
		return m, nil
	}
	m.Recalled = at.Truncate(time.Millisecond)
	if err := s.db.Set(key('m', id), appendRecord(nil, m), pdb.Sync); err != nil {
		return nil, fmt.Errorf("recall %s: %w", id, err)
	}
	return m, nil
}
