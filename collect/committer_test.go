package collect

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// startStore records when each write began and how many messages it held;
// it stores nothing (the committer's timing is under test, not a store).
type startStore struct {
	herald.Store
	mu     sync.Mutex
	starts []time.Time
	sizes  []int
}

func (s *startStore) Append(_ context.Context, msgs []*herald.Message) error {
	s.mu.Lock()
	s.starts = append(s.starts, time.Now())
	s.sizes = append(s.sizes, len(msgs))
	s.mu.Unlock()
	return nil
}

func (s *startStore) writes() ([]time.Time, []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.starts...), append([]int(nil), s.sizes...)
}

func runCommitter(t *testing.T, c *committer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func submitN(t *testing.T, c *committer, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := c.submit(context.Background(), []*herald.Message{{}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// With a commit interval, requests that arrive less than the interval after
// a write began share the next write, which begins no sooner than the
// interval; a request after a quiet spell is written at once.
func TestCommitInterval(t *testing.T) {
	const interval = time.Second
	st := &startStore{}
	c := &committer{store: st, in: make(chan *submission, 64), maxBatch: 1000, minInterval: interval}
	runCommitter(t, c)

	submitN(t, c, 1) // the first write: nothing to space it from
	submitN(t, c, 5) // within the interval: they wait for it, together
	starts, sizes := st.writes()
	if len(sizes) != 2 || sizes[1] != 5 {
		t.Fatalf("writes of %v messages, want [1 5]", sizes)
	}
	if gap := starts[1].Sub(starts[0]); gap < interval {
		t.Fatalf("second write began %v after the first, want at least %v", gap, interval)
	}

	time.Sleep(interval) // a quiet spell: the next request does not wait
	asked := time.Now()
	submitN(t, c, 1)
	if took := time.Since(asked); took >= interval {
		t.Fatalf("a request after a quiet spell took %v, as if it waited for the interval", took)
	}
}

// A full batch does not wait for the rest of the interval.
func TestCommitIntervalFullBatch(t *testing.T) {
	st := &startStore{}
	c := &committer{store: st, in: make(chan *submission, 64), maxBatch: 4, minInterval: time.Hour}
	runCommitter(t, c)
	submitN(t, c, 1)
	submitN(t, c, 4) // an hour's interval, but four make a full batch
	if _, sizes := st.writes(); len(sizes) != 2 || sizes[1] != 4 {
		t.Fatalf("writes of %v messages, want [1 4]", sizes)
	}
}
