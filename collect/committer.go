package collect

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

// submission is one request's messages waiting for the next group commit.
type submission struct {
	msgs []*herald.Message
	done chan error
}

// committer is group commit: it gathers the messages of all requests that
// arrive while a write is in progress into the next write, so one fsync (or one
// majority-acknowledged insertMany) serves many requests: the batch is
// whatever queued during the previous write.
//
// minInterval spaces the starts of writes (see Config.CommitInterval): a
// request that arrives sooner than that after the last write began waits
// for the rest of the interval, gathering the requests behind it. A lone
// request after a quiet spell waits for nothing.
type committer struct {
	store       herald.Store
	in          chan *submission
	maxBatch    int
	minInterval time.Duration
	onCommit    func([]*herald.Message) // called with each committed batch
	observe     func(size int, took time.Duration, err error)
}

// submissions recycles submissions and their channels: one per request
// otherwise.
var submissions = sync.Pool{New: func() any { return &submission{done: make(chan error, 1)} }}

func (c *committer) submit(ctx context.Context, msgs []*herald.Message) error {
	sub := submissions.Get().(*submission)
	sub.msgs = msgs
	defer func() {
		sub.msgs = nil
		submissions.Put(sub)
	}()
	select {
	case c.in <- sub:
	case <-ctx.Done():
		return fmt.Errorf("queue for commit: %w", ctx.Err())
	}
	// Once queued, wait for the outcome even if the client goes away: the
	// message may be stored, and the answer decides the 202. Its one send
	// on done is then received, so the submission is free to be used again.
	return <-sub.done
}

// run commits until ctx is cancelled, then commits what is already queued.
func (c *committer) run(ctx context.Context) {
	var last time.Time // when the last write began
	var timer *time.Timer
	for {
		var first *submission
		select {
		case first = <-c.in:
		case <-ctx.Done():
			c.drain()
			return
		}
		subs := []*submission{first}
		if wait := time.Until(last.Add(c.minInterval)); c.minInterval > 0 && wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			subs = c.gather(subs, timer.C)
		}
		last = time.Now()
		c.commit(subs)
	}
}

// gather adds the submissions that arrive until wake fires or a batch is
// full.
func (c *committer) gather(subs []*submission, wake <-chan time.Time) []*submission {
	n := 0
	for _, s := range subs {
		n += len(s.msgs)
	}
	for n < c.maxBatch {
		select {
		case s := <-c.in:
			subs = append(subs, s)
			n += len(s.msgs)
		case <-wake:
			return subs
		}
	}
	return subs
}

func (c *committer) drain() {
	for {
		select {
		case s := <-c.in:
			c.commit([]*submission{s})
		default:
			return
		}
	}
}

func (c *committer) commit(subs []*submission) {
	n := 0
	for _, s := range subs {
		n += len(s.msgs)
	}
gather:
	for n < c.maxBatch {
		select {
		case s := <-c.in:
			subs = append(subs, s)
			n += len(s.msgs)
		default:
			break gather
		}
	}
	batch := make([]*herald.Message, 0, n)
	for _, s := range subs {
		batch = append(batch, s.msgs...)
	}
	// The write must not be cut short by shutdown: callers are waiting on it.
	start := time.Now()
	err := c.store.Append(context.Background(), batch)
	if c.observe != nil {
		c.observe(len(batch), time.Since(start), err)
	}
	for _, s := range subs {
		s.done <- err
	}
	if err == nil && c.onCommit != nil {
		c.onCommit(batch)
	}
}
