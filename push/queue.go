package push

import "sync"

// queue is a connection's bounded send queue. It holds no buffer while the
// connection is idle (most are, at 200,000 connections a node): the slice
// grows only as frames wait, and is dropped once drained, so an idle
// connection costs a mutex and a nil slice instead of a channel buffer of
// SendQueue entries.
type queue struct {
	mu    sync.Mutex
	items []outItem
	max   int
}

func newQueue(max int) queue {
	return queue{max: max}
}

// push adds it, or reports false when the queue is full.
func (q *queue) push(it outItem) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= q.max {
		return false
	}
	q.items = append(q.items, it)
	return true
}

// take returns everything queued, oldest first, and empties the queue.
func (q *queue) take() []outItem {
	q.mu.Lock()
	items := q.items
	q.items = nil
	q.mu.Unlock()
	return items
}

// empty reports whether nothing is queued.
func (q *queue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0
}
