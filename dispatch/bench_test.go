package dispatch

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/memory"
)

type discard struct{}

func (discard) Forward(context.Context, herald.Node, []*herald.Message) error { return nil }

// One group commit of the steady-rate benchmark (5 messages, each to one of
// 10,000 users on one node, as in herald all) through route lookup and
// grouping.
func BenchmarkDispatchUnicast(b *testing.B) {
	ctx := context.Background()
	router := memory.NewRouter()
	n := herald.Node{ID: "a", Epoch: 1}
	router.Heartbeat(ctx, n, time.Hour)
	var ucs []herald.UserConns
	for i := range 10000 {
		ucs = append(ucs, herald.UserConns{User: "u" + strconv.Itoa(i), Conns: []herald.Conn{{ID: "c"}}})
	}
	router.SetRoutes(ctx, n, ucs, time.Hour)
	s := New(router, discard{}, prometheus.NewRegistry())
	msgs := make([]*herald.Message, 5)
	for i := range msgs {
		msgs[i] = &herald.Message{ID: "m" + strconv.Itoa(i), Payload: []byte(`{}`), Users: []string{"u" + strconv.Itoa(i*1999)}, Seqs: []herald.Seq{1}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Dispatch(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
}
