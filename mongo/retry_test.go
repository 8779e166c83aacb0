package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv"
)

func TestTransient(t *testing.T) {
	busy := driver.CommandError{Code: 1, Name: "InternalError", Message: "database is locked (5) (SQLITE_BUSY)"}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"FerretDB's SQLITE_BUSY", busy, true},
		{"wrapped as Append wraps it", fmt.Errorf("allocate seqs: %w: %w", fmt.Errorf("allocate seq for a: %w", busy), herald.ErrUnavailable), true},
		{"labelled retryable", driver.CommandError{Code: 2, Labels: []string{"RetryableWriteError"}}, true},
		{"a stepped-down primary", driver.CommandError{Code: 189, Name: "PrimarySteppedDown"}, true},
		{"a write conflict in a bulk write", driver.BulkWriteException{WriteErrors: []driver.BulkWriteError{{WriteError: driver.WriteError{Code: 112}}}}, true},
		{"seq contention", fmt.Errorf("insert inbox entries: %w", errSeqContention), true},
		{"a duplicate key", driver.BulkWriteException{WriteErrors: []driver.BulkWriteError{{WriteError: driver.WriteError{Code: 11000}}}}, false},
		{"a refused login", driver.CommandError{Code: 18, Name: "AuthenticationFailed"}, false},
		{"a document too large", driver.CommandError{Code: 10334, Name: "BSONObjectTooLarge"}, false},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"no server to select", fmt.Errorf("allocate seqs: %w", topology.ServerSelectionError{Wrapped: context.DeadlineExceeded}), false},
		{"anything else", errors.New("boom"), false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("%s: transient = %v, want %v", c.name, got, c.want)
		}
	}
}

// failingOnce makes the store's step fail once with err, and counts the tries.
func failingOnce(s *Store, step string, err error) *int {
	tries := 0
	s.fault = func(at string) error {
		if at != step {
			return nil
		}
		tries++
		if tries == 1 {
			return err
		}
		return nil
	}
	return &tries
}

// FerretDB's SQLite back end can answer a write "database is locked" when
// many writers queue for its lock (a CI run's 25 concurrent batches lost a
// whole group commit to it): Append tries again and finishes what the failed
// try left half-written, and the sender gets its 202.
func TestAppendRetriesATransientFailure(t *testing.T) {
	srv := testenv.StartMongo(t)
	ctx := context.Background()
	s, err := Open(ctx, Options{URI: srv.URI, Database: "retry", Indexes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	busy := driver.CommandError{Code: 1, Name: "InternalError", Message: "database is locked (5) (SQLITE_BUSY)"}
	now := time.Now().Truncate(time.Millisecond)

	// The first try stores the payload and raises both counters, then fails
	// before the inbox entries: the second takes the next seqs (1 is a hole
	// for push nodes to close) and does not call its own payload a replay.
	tries := failingOnce(s, "insert inbox", busy)
	m := &herald.Message{ID: "m1", Time: now, Payload: []byte("1"), Users: []string{"a", "b"}}
	if err := s.Append(ctx, []*herald.Message{m}); err != nil {
		t.Fatalf("append: %v", err)
	}
	if *tries != 2 || m.Dup || !slices.Equal(m.Seqs, []herald.Seq{2, 2}) {
		t.Fatalf("tries %d dup %v seqs %v; want 2 tries, not dup, seqs [2 2]", *tries, m.Dup, m.Seqs)
	}
	for _, u := range m.Users {
		if got, err := s.Messages(ctx, u, 0, 10); err != nil || len(got) != 1 || got[0].ID != "m1" || got[0].Seq != 2 {
			t.Fatalf("%s has %v (%v), want m1 once, as seq 2", u, got, err)
		}
	}

	// A client's retry of a stored message stays a replay when its own
	// write needs a second try.
	tries = failingOnce(s, "insert inbox", busy)
	again := &herald.Message{ID: "m1", Time: now, Payload: []byte("1"), Users: []string{"a", "b"}}
	fresh := &herald.Message{ID: "m2", Time: now, Payload: []byte("2"), Users: []string{"a"}}
	if err := s.Append(ctx, []*herald.Message{again, fresh}); err != nil {
		t.Fatalf("append: %v", err)
	}
	if *tries != 2 || !again.Dup || fresh.Dup || !slices.Equal(again.Seqs, []herald.Seq{2, 2}) || !slices.Equal(fresh.Seqs, []herald.Seq{4}) {
		t.Fatalf("tries %d; replay dup %v seqs %v, fresh dup %v seqs %v; want 2 tries, the replay dup with [2 2], the fresh one not dup with [4]",
			*tries, again.Dup, again.Seqs, fresh.Dup, fresh.Seqs)
	}

	// What fails the same way every time is not tried again.
	tries = failingOnce(s, "insert inbox", driver.CommandError{Code: 10334, Name: "BSONObjectTooLarge"})
	bad := &herald.Message{ID: "m3", Time: now, Payload: []byte("3"), Users: []string{"a"}}
	err = s.Append(ctx, []*herald.Message{bad})
	if *tries != 1 || herald.ErrorCode(err) != herald.EUnavailable || bad.Seqs != nil {
		t.Fatalf("tries %d, err %v, seqs %v; want 1 try, unavailable, no seqs", *tries, err, bad.Seqs)
	}
}
