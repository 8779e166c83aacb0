package pebble

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// mintedID is an ID as collect mints it: 12 hex digits of milliseconds,
// then 20 more.
func mintedID(at time.Time, n int) string {
	return fmt.Sprintf("%012x%020x", at.UnixMilli(), n)
}

func (s *Store) countKeys(t *testing.T, prefix byte) int {
	t.Helper()
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if it.Key()[0] == prefix {
			n++
		}
	}
	return n
}

// openForRetention opens a store in a temporary directory, and gives the
// time now and two days before, to the millisecond.
func openForRetention(t *testing.T) (s *Store, now, old time.Time) {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	now = time.Now().Truncate(time.Millisecond)
	return s, now, now.Add(-48 * time.Hour)
}

// Retention finds a time-ordered ID by the ID itself (no index entry is
// written for it) and any other by the time index; it keeps a young message
// whose ID only looks old, and removes the index entries older stores wrote
// for every message.
func TestRetentionByIDAndIndex(t *testing.T) {
	ctx := context.Background()
	s, now, old := openForRetention(t)
	msgs := map[string]*herald.Message{
		"minted old":    {ID: mintedID(old, 1), NewID: true, Time: old},
		"minted young":  {ID: mintedID(now, 2), NewID: true, Time: now},
		"keyed old":     {ID: "k-old", Time: old},
		"looks old":     {ID: "000000000001" + "ffffffffffffffffffff", Time: now}, // a hash that sorts low
		"written older": {ID: mintedID(old, 3), NewID: true, Time: old},           // an index entry, as stores before this change wrote
	}
	for _, m := range msgs {
		m.Payload, m.Users = []byte(`1`), []string{"u"}
		if err := s.Append(ctx, []*herald.Message{m}); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.countKeys(t, 't'); got != 2 {
		t.Fatalf("%d index entries, want 2 (the two IDs that are not time-ordered)", got)
	}
	older := msgs["written older"]
	if err := s.db.Set(timeKey(older.Time.UnixMilli(), older.ID), nil, nil); err != nil {
		t.Fatal(err)
	}

	if n, err := s.Sweep(ctx, now.Add(-time.Hour)); err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v; want 3", n, err)
	}
	for name, m := range msgs {
		rec, err := s.record(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		kept := name == "minted young" || name == "looks old"
		if (rec != nil) != kept {
			t.Errorf("%s: stored %v after the sweep, want %v", name, rec != nil, kept)
		}
	}
	if got := s.countKeys(t, 't'); got != 1 {
		t.Errorf("%d index entries left, want 1 (the young one's)", got)
	}
	if got := s.countKeys(t, 'i'); got != 2 {
		t.Errorf("%d inbox entries left, want 2", got)
	}
	if n, err := s.LastSeq(ctx, "u"); err != nil || n.Seq != 5 {
		t.Errorf("LastSeq = %d, %v; want 5", n.Seq, err)
	}
}

// More old messages than one chunk, with young ones that look old among
// them, all go in one Sweep.
func TestRetentionByIDInChunks(t *testing.T) {
	ctx := context.Background()
	s, now, old := openForRetention(t)
	const nOld = 2*sweepChunk + 500
	var batch []*herald.Message
	for i := range nOld {
		batch = append(batch, &herald.Message{ID: mintedID(old.Add(time.Duration(i)*time.Millisecond), i), NewID: true, Time: old.Add(time.Duration(i) * time.Millisecond), Payload: []byte(`1`), Users: []string{fmt.Sprint("u", i%7)}})
		if i%700 == 0 { // a young message whose ID sorts among the old ones
			batch = append(batch, &herald.Message{ID: mintedID(old.Add(time.Duration(i)*time.Millisecond), 1<<40+i), Time: now, Payload: []byte(`2`), Users: []string{"y"}})
		}
	}
	if err := s.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(ctx, now.Add(-time.Hour)); err != nil || n != nOld {
		t.Fatalf("Sweep = %d, %v; want %d", n, err, nOld)
	}
	if got := s.countKeys(t, 'm'); got != 4 {
		t.Errorf("%d records left, want the 4 young ones", got)
	}
	if n, err := s.Sweep(ctx, now.Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0", n, err)
	}
}
