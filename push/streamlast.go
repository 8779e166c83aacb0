package push

import (
	"context"
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

// streamLast caches the newest stored seq of the streams many connections
// share (the broadcast stream and topics) for handshakes and subscription
// starts. Every handshake asked the store for the broadcast stream's last
// seq, and every subscription for its topic's: when a node's clients all
// come back at once (a node died, a deploy), that is thousands of reads of
// one value (on MongoDB two of an up-to-date device's four round trips)
// against a store that is already at its slowest. Now one read serves the
// handshakes of the next moment (streamLastFresh), and a value older than
// that is read again by one caller while the others wait for its answer.
//
// A cached value is never above what is stored: it comes from the store or
// from a message delivered live (forwarded only once stored). Below is
// safe: the stream starts a little earlier and the replay reads the rest,
// as the handshake does for any stream that is behind.
type streamLast struct {
	store herald.Store
	fresh time.Duration

	mu      sync.Mutex
	entries map[string]*lastEntry
}

type lastEntry struct {
	seq     herald.Seq
	at      time.Time // when seq was last read from the store
	reading *lastRead // the read in flight, nil when none
}

// lastRead is one store read that several callers wait for.
type lastRead struct {
	done chan struct{}
	seq  herald.Seq
	err  error
}

// streamLastFresh is how long a read of a shared stream's last seq serves
// later handshakes: a storm of them costs a few reads a second. A message
// stored within it is still on its way live to a connection that started
// below it, or, when its forward to this node was lost, reaches it through
// catch-up, as it does every connection.
const streamLastFresh = 250 * time.Millisecond

// streamLastReadTimeout bounds one shared read: a handshake's whole budget
// is 35 s.
const streamLastReadTimeout = 30 * time.Second

// streamLastMax bounds the cached streams; past it, entries not read within
// the fresh period are dropped.
const streamLastMax = 10_000

func newStreamLast(store herald.Store) *streamLast {
	return &streamLast{store: store, fresh: streamLastFresh, entries: map[string]*lastEntry{}}
}

// saw raises key's cached seq to seq, a message of key delivered live. Only
// streams already cached are kept up to date.
func (l *streamLast) saw(key string, seq herald.Seq) {
	l.mu.Lock()
	if e := l.entries[key]; e != nil && seq > e.seq {
		e.seq = seq
	}
	l.mu.Unlock()
}

// get returns key's newest stored seq, from the cache when it was read
// within the fresh period and is at least atLeast (a client that has seen a
// newer seq than the cache knows of makes it read again).
func (l *streamLast) get(ctx context.Context, key string, atLeast herald.Seq) (herald.Seq, error) {
	l.mu.Lock()
	e := l.entries[key]
	if e == nil {
		l.prune()
		e = &lastEntry{}
		l.entries[key] = e
	}
	if !e.at.IsZero() && time.Since(e.at) < l.fresh && e.seq >= atLeast {
		seq := e.seq
		l.mu.Unlock()
		return seq, nil
	}
	r := e.reading
	if r == nil {
		r = &lastRead{done: make(chan struct{})}
		e.reading = r
		go l.read(key, e, r)
	}
	l.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if r.err != nil {
		return 0, r.err
	}
	l.mu.Lock()
	seq := max(e.seq, r.seq)
	l.mu.Unlock()
	return seq, nil
}

// read is the one store read callers of get wait for. It runs on its own,
// bounded by its own timeout, so that no caller is held past its deadline
// (or its connection's close) by a read it started for others.
func (l *streamLast) read(key string, e *lastEntry, r *lastRead) {
	ctx, cancel := context.WithTimeout(context.Background(), streamLastReadTimeout)
	pos, err := l.store.LastSeq(ctx, key)
	r.seq, r.err = pos.Seq, err
	cancel()
	l.mu.Lock()
	if r.err == nil {
		e.seq = max(e.seq, r.seq)
		e.at = time.Now()
	}
	e.reading = nil
	l.mu.Unlock()
	close(r.done)
}

// prune drops entries not read within the fresh period when there are too
// many; l.mu held.
func (l *streamLast) prune() {
	if len(l.entries) < streamLastMax {
		return
	}
	for k, e := range l.entries {
		if e.reading == nil && time.Since(e.at) >= l.fresh {
			delete(l.entries, k)
		}
	}
}
