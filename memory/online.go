package memory

import (
	"context"
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

// Online is an in-memory herald.UserOnline (herald all).
type Online struct {
	mu      sync.Mutex
	count   map[string]int
	pending map[string]time.Time // user -> when the pending offline lapses
	nodes   map[herald.Node]map[string]int
	reaped  map[herald.Node]bool
	now     func() time.Time
}

var _ herald.UserOnline = (*Online)(nil)

// NewOnline returns an empty Online.
func NewOnline() *Online {
	return &Online{count: map[string]int{}, pending: map[string]time.Time{}, nodes: map[herald.Node]map[string]int{},
		reaped: map[herald.Node]bool{}, now: time.Now}
}

// Opened implements herald.UserOnline.
func (o *Online) Opened(_ context.Context, node herald.Node, user string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.nodeUsers(node)
	n[user]++
	o.count[user]++
	if o.count[user] > 1 {
		return false, nil
	}
	_, wasPending := o.pending[user]
	delete(o.pending, user)
	return !wasPending, nil
}

// held is the key a node's connections are kept under: its ID and epoch
// (what the reaper knows of it).
func held(node herald.Node) herald.Node { return herald.Node{ID: node.ID, Epoch: node.Epoch} }

func (o *Online) nodeUsers(node herald.Node) map[string]int {
	node = held(node)
	n := o.nodes[node]
	if n == nil {
		n = map[string]int{}
		o.nodes[node] = n
	}
	return n
}

// Closed implements herald.UserOnline.
func (o *Online) Closed(_ context.Context, node herald.Node, user string, grace time.Duration) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.nodeUsers(node)
	if n[user]--; n[user] <= 0 {
		delete(n, user)
	}
	if len(n) == 0 {
		delete(o.nodes, held(node))
	}
	return o.drop(user, 1, grace), nil
}

// drop removes k of user's connections; true when none is left (o.mu held).
func (o *Online) drop(user string, k int, grace time.Duration) bool {
	if o.count[user] -= k; o.count[user] > 0 {
		return false
	}
	delete(o.count, user)
	o.pending[user] = o.now().Add(2 * grace)
	return true
}

// ConfirmOffline implements herald.UserOnline.
func (o *Online) ConfirmOffline(_ context.Context, user string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	until, ok := o.pending[user]
	delete(o.pending, user)
	return ok && o.count[user] == 0 && o.now().Before(until), nil
}

// ReapOnline implements herald.UserOnline.
func (o *Online) ReapOnline(_ context.Context, node herald.Node, grace time.Duration) ([]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	node = held(node)
	if o.reaped[node] {
		return nil, nil
	}
	o.reaped[node] = true
	var last []string
	for user, k := range o.nodes[node] {
		if o.drop(user, k, grace) {
			last = append(last, user)
		}
	}
	delete(o.nodes, node)
	return last, nil
}

// OnlineHolders implements herald.UserOnline.
func (o *Online) OnlineHolders(context.Context) ([]herald.Node, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]herald.Node, 0, len(o.nodes))
	for n := range o.nodes {
		out = append(out, n)
	}
	return out, nil
}
