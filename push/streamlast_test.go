package push

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/pebble"
)

// slowLast counts LastSeq reads and holds each until released.
type slowLast struct {
	herald.Store
	reads   atomic.Int32
	release chan struct{}
	fail    atomic.Bool
}

func (s *slowLast) LastSeq(ctx context.Context, key string) (herald.StreamPos, error) {
	s.reads.Add(1)
	<-s.release
	if s.fail.Load() {
		return herald.StreamPos{}, errors.New("store unavailable")
	}
	return s.Store.LastSeq(ctx, key)
}

func newSlowLast(t *testing.T) *slowLast {
	base, err := pebble.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Close(context.Background()) })
	m := &herald.Message{ID: "b1", Time: time.Now(), Payload: []byte(`1`), Users: []string{herald.BroadcastKey}}
	if err := base.Append(context.Background(), []*herald.Message{m, {ID: "b2", Time: time.Now(), Payload: []byte(`2`), Users: []string{herald.BroadcastKey}}}); err != nil {
		t.Fatal(err)
	}
	return &slowLast{Store: base, release: make(chan struct{})}
}

// A storm of handshakes reads the broadcast stream's last seq once; the
// answer serves the fresh period, a client that has seen more forces a new
// read, and a failed read fails its waiters without being cached.
func TestStreamLastOneReadForAStorm(t *testing.T) {
	ctx := context.Background()
	st := newSlowLast(t)
	l := newStreamLast(st)
	var wg sync.WaitGroup
	got := make([]herald.Seq, 50)
	for i := range got {
		wg.Go(func() {
			var err error
			if got[i], err = l.get(ctx, herald.BroadcastKey, 0); err != nil {
				t.Error(err)
			}
		})
	}
	// The first caller's read has begun; the others join it or, once it is
	// answered, find its answer fresh: one read either way.
	testenv.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if st.reads.Load() == 0 {
			return errors.New("no store read yet")
		}
		return nil
	})
	close(st.release)
	wg.Wait()
	if n := st.reads.Load(); n != 1 {
		t.Fatalf("%d store reads for 50 handshakes, want 1", n)
	}
	for i, s := range got {
		if s != 2 {
			t.Fatalf("handshake %d got last seq %d, want 2", i, s)
		}
	}
	if s, _ := l.get(ctx, herald.BroadcastKey, 2); s != 2 || st.reads.Load() != 1 {
		t.Fatalf("within the fresh period: seq %d after %d reads, want 2 after 1", s, st.reads.Load())
	}
	l.saw(herald.BroadcastKey, 3) // delivered live
	if s, _ := l.get(ctx, herald.BroadcastKey, 0); s != 3 || st.reads.Load() != 1 {
		t.Fatalf("after a live delivery: seq %d after %d reads, want 3 after 1", s, st.reads.Load())
	}
	// A client that has seen seq 5 (newer than anything cached) reads again.
	if s, _ := l.get(ctx, herald.BroadcastKey, 5); s != 3 || st.reads.Load() != 2 {
		t.Fatalf("asked for at least 5: seq %d after %d reads, want 3 after 2", s, st.reads.Load())
	}
	l.fresh = 0 // every call reads
	st.fail.Store(true)
	if _, err := l.get(ctx, herald.BroadcastKey, 0); err == nil {
		t.Fatal("a failed read must fail the handshake")
	}
	st.fail.Store(false)
	if s, err := l.get(ctx, herald.BroadcastKey, 0); err != nil || s != 3 {
		t.Fatalf("after a failed read: %d, %v", s, err)
	}
}

// A caller whose own deadline passes (or whose connection closes) gives up,
// the one whose call started the read included; the read goes on for the
// others.
func TestStreamLastWaiterGivesUp(t *testing.T) {
	st := newSlowLast(t)
	l := newStreamLast(st)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.get(ctx, "topic:news", 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the reader past its deadline: %v", err)
	}
	done := make(chan herald.Seq)
	// It joins the read under way, or finds its answer fresh: one read.
	go func() { s, _ := l.get(context.Background(), "topic:news", 0); done <- s }()
	close(st.release)
	if s := <-done; s != 0 {
		t.Fatalf("waiter got %d, want 0 (nothing stored)", s)
	}
	if st.reads.Load() != 1 {
		t.Fatalf("%d reads, want the first caller's one", st.reads.Load())
	}
}
