package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	pdb "github.com/cockroachdb/pebble/v2"
)

// Retention finds the messages older than the cutoff two ways.
//
//   - A message whose ID begins with its acceptance time (collect mints IDs
//     as 12 hex digits of milliseconds, then random bits) is found by its ID:
//     such IDs sort by time, so the records under m<12 hex digits of the
//     cutoff> hold all of them. No index is written for them, which saves a
//     key a message (a memtable insert and its share of the log and of
//     compaction).
//   - Any other (an Idempotency-Key's hash, an ID a test chose) has an index
//     entry t<ms><id>. Stores written before this change have one for every
//     message; the index sweep removes those, and any left without a record.
//
// The ID sweep reads each record's time, so an ID that only looks time-first
// (a hash whose first digits happen to sort below the cutoff) is kept until
// its time comes.

// timePrefix is the length of an ID's time: 48 bits of milliseconds in hex.
const timePrefix = 12

// timeOrdered reports whether id begins with ms as 12 lowercase hex digits
// (no allocation: it runs for every message stored).
func timeOrdered(id string, ms int64) bool {
	if len(id) < timePrefix || ms < 0 || ms >= 1<<48 {
		return false
	}
	const digits = "0123456789abcdef"
	for i := timePrefix - 1; i >= 0; i-- {
		if id[i] != digits[ms&0xf] {
			return false
		}
		ms >>= 4
	}
	return true
}

// sweepChunk bounds the messages removed per batch.
const sweepChunk = 1000

// Sweep implements herald.Store.
func (s *Store) Sweep(ctx context.Context, cutoff time.Time) (int, error) {
	ms := cutoff.UnixMilli()
	total := 0
	ranges := []struct {
		lower, upper []byte
		visit        func(b *pdb.Batch, k, v []byte) (bool, error)
	}{
		{[]byte{'t'}, timeKey(ms, ""), s.sweepIndexed},
		{[]byte{'m'}, append([]byte{'m'}, fmt.Sprintf("%012x", ms)...), func(b *pdb.Batch, k, v []byte) (bool, error) {
			return s.sweepTimeOrdered(b, k, v, ms)
		}},
	}
	for _, r := range ranges {
		for from := r.lower; from != nil && ctx.Err() == nil; {
			n, next, err := s.sweepChunkOf(from, r.upper, r.visit)
			total += n
			if err != nil {
				return total, err
			}
			from = next
		}
	}
	return total, ctx.Err()
}

// sweepChunkOf visits the keys in [from, upper) until sweepChunk messages
// are removed, commits their removal, and returns where the next chunk
// starts (nil when the range is done). visit adds a removal to b and says
// whether it removed one.
func (s *Store) sweepChunkOf(from, upper []byte, visit func(b *pdb.Batch, k, v []byte) (bool, error)) (int, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: from, UpperBound: upper})
	if err != nil {
		return 0, nil, err
	}
	defer it.Close()
	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	var next []byte
	for ok := it.First(); ok; ok = it.Next() {
		if n == sweepChunk {
			next = bytes.Clone(it.Key())
			break
		}
		removed, err := visit(b, it.Key(), it.Value())
		if err != nil {
			return 0, nil, err
		}
		if removed {
			n++
		}
	}
	if err := it.Error(); err != nil {
		return 0, nil, err
	}
	if n > 0 {
		if err := b.Commit(pdb.Sync); err != nil {
			return 0, nil, fmt.Errorf("sweep: %w", err)
		}
	}
	return n, next, nil
}

// sweepIndexed removes the message of time-index entry k, and the entry;
// s.mu held.
func (s *Store) sweepIndexed(b *pdb.Batch, k, _ []byte) (bool, error) {
	id := string(k[9:])
	raw, err := s.get(key('m', id))
	if err != nil {
		return false, err
	}
	if err := s.sweepMessage(b, id, raw); err != nil {
		return false, err
	}
	b.Delete(bytes.Clone(k), nil)
	return true, nil
}

// sweepTimeOrdered removes record k (value v) when it is older than the
// cutoff: a record in the range whose time is not (an ID that only looks
// time-first) is stepped over; s.mu held.
func (s *Store) sweepTimeOrdered(b *pdb.Batch, k, v []byte, cutoff int64) (bool, error) {
	var rec record
	if json.Unmarshal(v, &rec) == nil && rec.TS >= cutoff {
		return false, nil
	}
	id := string(k[1:])
	if err := s.sweepMessage(b, id, v); err != nil {
		return false, err
	}
	if !timeOrdered(id, rec.TS) {
		b.Delete(timeKey(rec.TS, id), nil) // an index entry, if it has one
	}
	return true, nil
}

// sweepMessage adds the removal of message id (its record raw, nil when
// gone) to b: its inbox entries, its receipts and push receipts and its
// record; s.mu held.
func (s *Store) sweepMessage(b *pdb.Batch, id string, raw []byte) error {
	var rec record
	if raw != nil && json.Unmarshal(raw, &rec) == nil {
		for i, u := range rec.Users {
			// Removing a user's newest entry would lose its last seq
			// (storedLastSeq): record it first.
			last, err := s.lastSeq(u)
			if err != nil {
				return err
			}
			if rec.Seqs[i] == last {
				b.Set(key('s', u), binary.BigEndian.AppendUint64(nil, last), nil)
			}
			b.Delete(inboxKey(u, rec.Seqs[i]), nil)
			if rec.CK != "" {
				// The key's index goes with its newest message.
				if n, err := s.getU64(key('c', u, rec.CK)); err != nil {
					return err
				} else if n == rec.Seqs[i] {
					b.Delete(key('c', u, rec.CK), nil)
				}
			}
		}
		if err := s.sweepReceipts(b, &rec); err != nil {
			return err
		}
	}
	b.DeleteRange(append(key('P', id), 0), append(key('P', id), 1), nil)
	b.Delete(key('m', id), nil)
	return nil
}
