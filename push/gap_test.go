package push

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// inFlight is a store with a hole that a write still in flight will fill,
// as two collect instances on MongoDB make one: a seq of a user is hidden
// (seq N+1 is already stored) until released, and it is a herald.GapCloser
// that can close the seq for good.
type inFlight struct {
	herald.Store
	mu     sync.Mutex
	user   string
	seq    herald.Seq
	hidden bool // the write of seq is still in flight
	dead   bool // closed by Gap
	closes int
}

func (s *inFlight) Messages(ctx context.Context, user string, after herald.Seq, limit int) ([]herald.Delivery, error) {
	ds, err := s.Store.Messages(ctx, user, after, limit)
	s.mu.Lock()
	defer s.mu.Unlock()
	if user != s.user || !(s.hidden || s.dead) {
		return ds, err
	}
	out := ds[:0:0]
	for _, d := range ds {
		if d.Seq != s.seq {
			out = append(out, d)
		}
	}
	return out, err
}

func (s *inFlight) Gap(ctx context.Context, user string, seq herald.Seq, close bool) (herald.Delivery, herald.SeqState, error) {
	s.mu.Lock()
	if user == s.user && seq == s.seq {
		if s.hidden && close {
			s.hidden, s.dead = false, true
			s.closes++
		}
		switch {
		case s.dead:
			s.mu.Unlock()
			return herald.Delivery{}, herald.SeqDead, nil
		case s.hidden:
			s.mu.Unlock()
			return herald.Delivery{}, herald.SeqPending, nil
		}
	}
	s.mu.Unlock()
	ds, err := s.Store.Messages(ctx, user, seq-1, 1)
	if err != nil || len(ds) == 0 || ds[0].Seq != seq {
		return herald.Delivery{}, herald.SeqPending, err
	}
	return ds[0], herald.SeqStored, nil
}

func (s *inFlight) release() {
	s.mu.Lock()
	s.hidden = false
	s.mu.Unlock()
}

// inFlightFixture is a node on a store where u has seqs 1, 2 and 3, with 2
// still "being written" (hidden) until released or closed.
func inFlightFixture(t *testing.T, gapWait time.Duration) (*fixture, *inFlight) {
	st := &inFlight{user: "u", seq: 2, hidden: true}
	f := newFixtureStore(t, func(c *Config) { c.GapWait = gapWait }, func(base herald.Store) herald.Store {
		st.Store = base
		return st
	})
	for _, p := range []string{"1", "2", "3"} {
		f.storeMsg(t, p, "u")
	}
	return f, st
}

func (s *inFlight) closed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closes
}

// A device resuming while seq 2 is still being written (seq 3 is stored)
// waits for it and gets 1, 2, 3 in order. Moving past the hole, as the
// writer once did, lost seq 2 for the device: it was written behind it.
func TestResumeWaitsForASeqStillBeingWritten(t *testing.T) {
	f, st := inFlightFixture(t, 10*time.Second)
	time.AfterFunc(300*time.Millisecond, st.release)
	since := uint64(0)
	c := probe.MustDialWS(t, f.ws, f.token(t, "u"), "", &since)
	got := c.Msgs(3, 5*time.Second)
	if got[0].Seq != 1 || got[1].Seq != 2 || got[2].Seq != 3 {
		t.Fatalf("got seqs %d %d %d, want 1 2 3", got[0].Seq, got[1].Seq, got[2].Seq)
	}
	if st.closed() != 0 {
		t.Fatal("a seq that arrived in time was closed")
	}
}

// A seq that never comes (its writer died) is closed after GapWait, once,
// and the stream goes on past it.
func TestDeadSeqIsClosedAndPassed(t *testing.T) {
	f, st := inFlightFixture(t, 300*time.Millisecond)
	since := uint64(0)
	c := probe.MustDialWS(t, f.ws, f.token(t, "u"), "", &since)
	got := c.Msgs(2, 5*time.Second)
	if got[0].Seq != 1 || got[1].Seq != 3 {
		t.Fatalf("got seqs %d %d, want 1 3", got[0].Seq, got[1].Seq)
	}
	if n := st.closed(); n != 1 {
		t.Fatalf("closed %d times, want 1", n)
	}
}
