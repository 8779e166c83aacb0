// Package memory holds the in-process herald.Router that `herald all` uses in
// place of Redis: same semantics (node heartbeats, routes tied to a node's
// epoch, route expiry), no server.
package memory

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

// Router is an in-memory herald.Router.
type Router struct {
	mu      sync.Mutex
	nodes   map[string]nodeEntry
	revoked map[string]revocation
	routes  map[string][]routeEntry // user -> a route per node (a slice: a user is on one or two nodes, and a map each would cost ~200 bytes per user)
	now     func() time.Time
}

type nodeEntry struct {
	node    herald.Node
	expires time.Time
}

type revocation struct{ at, expires time.Time }

type routeEntry struct {
	node    string
	epoch   int64
	expires time.Time
	conns   []herald.Conn
}

var (
	_ herald.Router      = (*Router)(nil)
	_ herald.Directory   = (*Router)(nil)
	_ herald.Revocations = (*Router)(nil)
)

// NewRouter returns an empty Router.
func NewRouter() *Router {
	return &Router{nodes: map[string]nodeEntry{}, routes: map[string][]routeEntry{}, revoked: map[string]revocation{}, now: time.Now}
}

// Heartbeat implements herald.Router.
func (r *Router) Heartbeat(_ context.Context, node herald.Node, ttl time.Duration) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	e, ok := r.nodes[node.ID]
	lost := !ok || !now.Before(e.expires)
	r.nodes[node.ID] = nodeEntry{node: node, expires: now.Add(ttl)}
	return lost, nil
}

// Leave implements herald.Router.
func (r *Router) Leave(_ context.Context, node herald.Node) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.nodes, node.ID)
	return nil
}

// SetRoutes implements herald.Router.
func (r *Router) SetRoutes(_ context.Context, node herald.Node, routes []herald.UserConns, ttl time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	exp := r.now().Add(ttl)
	for _, uc := range routes {
		rs := r.routes[uc.User]
		i := 0
		for i < len(rs) && rs[i].node != node.ID {
			i++
		}
		if len(uc.Conns) == 0 {
			if i < len(rs) {
				rs = append(rs[:i], rs[i+1:]...)
			}
			if len(rs) == 0 {
				delete(r.routes, uc.User)
			} else {
				r.routes[uc.User] = rs
			}
			continue
		}
		e := routeEntry{node: node.ID, epoch: node.Epoch, expires: exp, conns: append([]herald.Conn(nil), uc.Conns...)}
		if i < len(rs) {
			rs[i] = e
		} else {
			r.routes[uc.User] = append(rs, e)
		}
	}
	return nil
}

// each calls fn for every live route of user; r.mu must be held.
func (r *Router) each(user string, fn func(n herald.Node, rt routeEntry)) {
	now := r.now()
	for _, rt := range r.routes[user] {
		ne, ok := r.nodes[rt.node]
		if !ok || !now.Before(ne.expires) || ne.node.Epoch != rt.epoch || !now.Before(rt.expires) {
			continue
		}
		fn(ne.node, rt)
	}
}

// Lookup implements herald.Router.
func (r *Router) Lookup(_ context.Context, users []string) (map[string][]herald.Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]herald.Node, len(users))
	// Most users are on one node: one backing array for all their routes,
	// each user's capped so that an append by the caller copies.
	buf := make([]herald.Node, 0, len(users))
	for _, u := range users {
		start := len(buf)
		r.each(u, func(n herald.Node, _ routeEntry) { buf = append(buf, n) })
		if len(buf) > start {
			out[u] = buf[start:len(buf):len(buf)]
		}
	}
	return out, nil
}

// Presence implements herald.Router.
func (r *Router) Presence(_ context.Context, user string) ([]herald.Presence, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []herald.Presence
	r.each(user, func(n herald.Node, rt routeEntry) {
		for _, c := range rt.conns {
			out = append(out, herald.Presence{Node: n.ID, Conn: c})
		}
	})
	return out, nil
}

// Ping implements herald.Router.
func (r *Router) Ping(context.Context) error { return nil }

// Nodes implements herald.Router.
func (r *Router) Nodes(_ context.Context) ([]herald.Node, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []herald.Node
	for _, e := range r.nodes {
		if now.Before(e.expires) {
			out = append(out, e.node)
		}
	}
	return out, nil
}

// Online implements herald.Router.
func (r *Router) Online(_ context.Context, limit int) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for u := range r.routes {
		if len(out) >= limit {
			break
		}
		if _, topic := herald.IsTopicKey(u); topic {
			continue // a topic's route, not a user
		}
		live := false
		r.each(u, func(herald.Node, routeEntry) { live = true })
		if live {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Revoke implements herald.Router.
func (r *Router) Revoke(_ context.Context, user string, at time.Time, ttl time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked[user] = revocation{at: at, expires: r.now().Add(ttl)}
	return nil
}

// RevokedAt implements herald.Router.
func (r *Router) RevokedAt(_ context.Context, user string) (time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.revoked[user]
	if !ok || !r.now().Before(e.expires) {
		delete(r.revoked, user)
		return time.Time{}, nil
	}
	return e.at, nil
}
