// Package dispatch is the dispatch service (dispatch's per-node calls): for each stored message it
// looks up which push nodes hold its recipients' connections and forwards each
// node the part of the batch it needs, one call per node per batch.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
)

// lookupChunk bounds the users of one routing lookup (one Redis pipeline).
const lookupChunk = 1000

// Service is the dispatch service. It implements herald.Dispatcher.
type Service struct {
	router herald.Router
	fwd    herald.Forwarder

	routed    prometheus.Counter
	offline   prometheus.Counter
	fwdErrors *prometheus.CounterVec
}

var _ herald.Dispatcher = (*Service)(nil)

// New returns a dispatch service.
func New(router herald.Router, fwd herald.Forwarder, reg prometheus.Registerer) *Service {
	s := &Service{
		router:    router,
		fwd:       fwd,
		routed:    prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_dispatch_deliveries_routed_total", Help: "Recipient deliveries sent to a push node."}),
		offline:   prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_dispatch_recipients_offline_total", Help: "Recipients with no live route (they get the message on resume)."}),
		fwdErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_dispatch_forward_errors_total", Help: "Failed forwards to push nodes."}, []string{"node"}),
	}
	reg.MustRegister(s.routed, s.offline, s.fwdErrors)
	return s
}

// Dispatch implements herald.Dispatcher. It returns an error only when the
// routes could not be looked up (another dispatch instance may do better). A
// forward to one node that fails is logged and counted, not returned: the
// message is stored and the recipient's device gets it when it resumes, while
// retrying the whole batch would send it twice to every other node.
func (s *Service) Dispatch(ctx context.Context, msgs []*herald.Message) error {
	users := distinctUsers(msgs)
	var routes map[string][]herald.Node
	for start := 0; start < len(users); start += lookupChunk {
		chunk := users[start:min(start+lookupChunk, len(users))]
		got, err := s.router.Lookup(ctx, chunk)
		if err != nil {
			return fmt.Errorf("route lookup: %w", err)
		}
		if routes == nil {
			routes = got // one chunk, as nearly always: no copy
			continue
		}
		for u, ns := range got {
			routes[u] = ns
		}
	}
	batches := groupByNode(msgs, routes)
	for _, u := range users {
		if len(routes[u]) == 0 {
			s.offline.Inc()
		}
	}
	if len(batches) == 1 {
		// One node (herald all, or every recipient on one): no goroutine.
		for _, b := range batches {
			s.forward(ctx, b)
		}
		return nil
	}
	var wg sync.WaitGroup
	for _, b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.forward(ctx, b)
		}()
	}
	wg.Wait()
	return nil
}

func (s *Service) forward(ctx context.Context, b *nodeBatch) {
	if err := s.fwd.Forward(ctx, b.node, b.msgs); err != nil {
		s.fwdErrors.WithLabelValues(b.node.ID).Inc()
		slog.Warn("forward to push node failed; its users get these messages on resume",
			"node", b.node.ID, "messages", len(b.msgs), "err", err)
		return
	}
	s.routed.Add(float64(b.deliveries))
}

func distinctUsers(msgs []*herald.Message) []string {
	seen := make(map[string]struct{})
	var users []string
	for _, m := range msgs {
		for _, u := range m.Users {
			if _, ok := seen[u]; !ok {
				seen[u] = struct{}{}
				users = append(users, u)
			}
		}
	}
	return users
}

type nodeBatch struct {
	node       herald.Node
	msgs       []*herald.Message
	deliveries int
}

// groupByNode gives each node a copy of each message cut down to the
// recipients it holds, in batch order (so per-user seq order is kept).
// Payloads are shared, not copied. A message whose recipients are all on one
// node, once each (every unicast in herald all, most in a cluster), goes to
// it as it is: nothing downstream changes a message.
func groupByNode(msgs []*herald.Message, routes map[string][]herald.Node) map[string]*nodeBatch {
	out := make(map[string]*nodeBatch)
	batch := func(n herald.Node) *nodeBatch {
		b := out[n.ID]
		if b == nil {
			b = &nodeBatch{node: n}
			out[n.ID] = b
		}
		return b
	}
	var parts map[string]*herald.Message // this message's part per node; one map for the batch
	for _, m := range msgs {
		if n, ok := soleNode(m, routes); ok {
			b := batch(n)
			b.msgs = append(b.msgs, m)
			b.deliveries += len(m.Users)
			continue
		}
		if parts == nil {
			parts = make(map[string]*herald.Message)
		}
		clear(parts)
		for i, u := range m.Users {
			for _, n := range routes[u] {
				p := parts[n.ID]
				b := batch(n)
				if p == nil {
					p = &herald.Message{ID: m.ID, Time: m.Time, Topic: m.Topic, Payload: m.Payload, Kind: m.Kind}
					parts[n.ID] = p
					b.msgs = append(b.msgs, p)
				}
				p.Users = append(p.Users, u)
				p.Seqs = append(p.Seqs, m.Seqs[i])
				b.deliveries++
			}
		}
	}
	return out
}

// soleNode reports the node when every recipient of m has exactly one route,
// and all of them to that node.
func soleNode(m *herald.Message, routes map[string][]herald.Node) (herald.Node, bool) {
	var n herald.Node
	for i, u := range m.Users {
		rs := routes[u]
		if len(rs) != 1 || (i > 0 && rs[0].ID != n.ID) {
			return herald.Node{}, false
		}
		n = rs[0]
	}
	return n, len(m.Users) > 0
}
