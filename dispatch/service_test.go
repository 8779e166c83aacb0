package dispatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/memory"
)

type recorder struct {
	mu   sync.Mutex
	got  map[string][]*herald.Message
	fail string
}

func (r *recorder) Forward(_ context.Context, n herald.Node, msgs []*herald.Message) error {
	if n.ID == r.fail {
		return errors.New("node down")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[n.ID] = append(r.got[n.ID], msgs...)
	return nil
}

func TestDispatchGroupsByNode(t *testing.T) {
	ctx := context.Background()
	router := memory.NewRouter()
	a := herald.Node{ID: "a", Epoch: 1}
	b := herald.Node{ID: "b", Epoch: 1}
	for _, n := range []herald.Node{a, b} {
		router.Heartbeat(ctx, n, time.Minute)
	}
	c := []herald.Conn{{ID: "c"}}
	router.SetRoutes(ctx, a, []herald.UserConns{{User: "alice", Conns: c}, {User: "bob", Conns: c}}, time.Hour)
	router.SetRoutes(ctx, b, []herald.UserConns{{User: "alice", Conns: c}}, time.Hour)

	rec := &recorder{got: map[string][]*herald.Message{}}
	s := New(router, rec, prometheus.NewRegistry())
	m1 := &herald.Message{ID: "m1", Payload: []byte(`1`), Users: []string{"alice", "bob", "carol"}, Seqs: []herald.Seq{5, 7, 1}}
	m2 := &herald.Message{ID: "m2", Payload: []byte(`2`), Users: []string{"bob"}, Seqs: []herald.Seq{8}}
	if err := s.Dispatch(ctx, []*herald.Message{m1, m2}); err != nil {
		t.Fatal(err)
	}
	if got := rec.got["a"]; len(got) != 2 || got[0].ID != "m1" || len(got[0].Users) != 2 || got[0].Seqs[1] != 7 || got[1].ID != "m2" {
		t.Fatalf("node a got %+v", got)
	}
	if got := rec.got["b"]; len(got) != 1 || len(got[0].Users) != 1 || got[0].Users[0] != "alice" || got[0].Seqs[0] != 5 {
		t.Fatalf("node b got %+v", got)
	}
	// m2's one recipient is on one node: it goes as it is. m1 is split, and
	// the sender's message is left whole.
	if rec.got["a"][1] != m2 || rec.got["a"][0] == m1 || len(m1.Users) != 3 || len(m1.Seqs) != 3 {
		t.Fatalf("m2 copied or m1 changed: %+v", m1)
	}

	rec.fail = "b"
	if err := s.Dispatch(ctx, []*herald.Message{m1}); err != nil {
		t.Fatalf("a failed forward is counted, not returned (a retry would duplicate): %v", err)
	}
	if got := testutil.ToFloat64(s.fwdErrors.WithLabelValues("b")); got != 1 {
		t.Fatalf("forward errors for b = %v, want 1", got)
	}
	if len(rec.got["a"]) != 3 {
		t.Fatal("a failing node must not stop delivery to the others")
	}
}
