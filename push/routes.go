package push

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald"
)

// routeChunk bounds the routes in one SetRoutes call (one Redis pipeline).
const routeChunk = 1000

// routeWriter writes user -> node routes (the Router). Connects and disconnects
// mark a user dirty; one goroutine writes all dirty users in one pipeline, so a
// connect storm costs few round trips. A connection waits for the write that
// covers it before it reads the store for replay: from then on dispatch finds
// it, so every message is either in the replay or arrives live.
type routeWriter struct {
	s       *Service
	mu      sync.Mutex
	dirty   map[string]struct{}
	waiters []chan error
	kick    chan struct{}
}

func newRouteWriter(s *Service) *routeWriter {
	return &routeWriter{s: s, dirty: map[string]struct{}{}, kick: make(chan struct{}, 1)}
}

// mark queues a write of user's routes; the channel gets its outcome.
func (w *routeWriter) mark(user string) <-chan error {
	ch := make(chan error, 1)
	w.mu.Lock()
	w.dirty[user] = struct{}{}
	w.waiters = append(w.waiters, ch)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return ch
}

func (w *routeWriter) run(ctx context.Context) {
	for {
		select {
		case <-w.kick:
			w.flush(ctx)
		case <-ctx.Done():
			return
		}
	}
}

func (w *routeWriter) flush(ctx context.Context) {
	w.mu.Lock()
	dirty, waiters := w.dirty, w.waiters
	w.dirty, w.waiters = map[string]struct{}{}, nil
	w.mu.Unlock()
	if len(dirty) == 0 {
		return
	}
	routes := make([]herald.UserConns, 0, len(dirty))
	for u := range dirty {
		routes = append(routes, herald.UserConns{User: u, Conns: w.s.routeConns(u)})
	}
	err := w.write(ctx, routes)
	if err != nil {
		// Keep the users dirty and try again shortly; meanwhile their clients
		// are served from the store on resume.
		w.mu.Lock()
		for u := range dirty {
			w.dirty[u] = struct{}{}
		}
		w.mu.Unlock()
		time.AfterFunc(time.Second, func() {
			select {
			case w.kick <- struct{}{}:
			default:
			}
		})
	}
	for _, ch := range waiters {
		ch <- err
	}
}

func (w *routeWriter) write(ctx context.Context, routes []herald.UserConns) error {
	for start := 0; start < len(routes); start += routeChunk {
		chunk := routes[start:min(start+routeChunk, len(routes))]
		if err := w.s.router.SetRoutes(ctx, w.s.node, chunk, w.s.cfg.RouteTTL); err != nil {
			w.s.m.routeErrors.Inc()
			if ctx.Err() == nil {
				slog.Warn("write routes", "node", w.s.node.ID, "routes", len(chunk), "err", err)
			}
			return err
		}
	}
	return nil
}

// refreshAll writes every local route again: after the routing store lost
// them, and periodically so the long safety expiry never removes a live route.
func (w *routeWriter) refreshAll(ctx context.Context) {
	var routes []herald.UserConns
	w.s.hub.each(func(u string, cs []herald.Conn) {
		routes = append(routes, herald.UserConns{User: u, Conns: cs})
	})
	for _, k := range append(w.s.hub.topicKeys(), herald.BroadcastKey) {
		if cs := w.s.routeConns(k); len(cs) > 0 {
			routes = append(routes, herald.UserConns{User: k, Conns: cs})
		}
	}
	if len(routes) == 0 {
		return
	}
	if err := w.write(ctx, routes); err == nil {
		slog.Info("routes registered", "node", w.s.node.ID, "users", len(routes))
	}
}

// topicRoute is the one entry of a topic's route: the node has subscribers
// (their number and connections are the node's business, and listing them
// would make the route as big as the topic).
var topicRoute = []herald.Conn{{ID: "subscribers"}}

// routeConns is what the route of key says: a user's connections, or for a
// topic (and the broadcast stream, which every connection is on) whether
// the node has subscribers. Empty removes the route.
func (s *Service) routeConns(key string) []herald.Conn {
	switch {
	case key == herald.BroadcastKey:
		if s.conns.Load() > 0 {
			return topicRoute
		}
		return nil
	case strings.HasPrefix(key, herald.TopicPrefix):
		if s.hub.subCount(key) > 0 {
			return topicRoute
		}
		return nil
	}
	return s.hub.conns(key)
}
