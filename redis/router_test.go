package redis

import (
	"context"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/routertest"
	"github.com/heraldpush/herald/internal/testenv"
)

// fresh opens a Router on the Redis at addr, emptied.
func fresh(t *testing.T, addr string) *Router {
	t.Helper()
	r, err := Open(context.Background(), Options{Addrs: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.rdb.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRouter(t *testing.T) {
	srv := testenv.StartRedis(t)
	routertest.Run(t, func(t *testing.T) routertest.Table { return fresh(t, srv.Addr) })
}

func TestRedisRestartIsDetectedByHeartbeat(t *testing.T) {
	srv := testenv.StartRedis(t)
	ctx := context.Background()
	r, err := Open(ctx, Options{Addrs: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := herald.Node{ID: "n1", Addr: "x", Epoch: 1}
	r.Heartbeat(ctx, n, 60e9)
	srv.Restart(t)
	var lost bool
	for range 50 { // the client reconnects on its own; allow it a few tries
		if lost, err = r.Heartbeat(ctx, n, 60e9); err == nil {
			break
		}
	}
	if err != nil || !lost {
		t.Fatalf("heartbeat after a Redis restart = lost %v, err %v; want lost", lost, err)
	}
}

func TestUnreachableNamesTheAddress(t *testing.T) {
	// A free port may be taken by another package's Redis (packages test
	// in parallel) before Open dials it: then try another.
	for range 5 {
		addr := testenv.FreePort(t, "127.0.0.1")
		r, err := Open(context.Background(), Options{Addrs: []string{addr}})
		if err == nil {
			r.Close()
			continue
		}
		if !strings.Contains(err.Error(), addr) {
			t.Fatalf("err = %v, want one naming %s", err, addr)
		}
		return
	}
	t.Fatal("every free port found a Redis")
}

// The same conformance suites against a 3-master Redis Cluster: every
// command touches one key (or one topic's keys, in one slot), so no
// cross-slot command exists to fail.
func TestRouterOnRedisCluster(t *testing.T) {
	addrs := testenv.StartRedisCluster(t)
	open := func(t *testing.T) *Router {
		r, err := Open(context.Background(), Options{Addrs: addrs})
		if err != nil {
			t.Fatal(err)
		}
		cc, ok := r.rdb.(*goredis.ClusterClient)
		if !ok {
			t.Fatalf("several addresses must give a cluster client, got %T", r.rdb)
		}
		err = cc.ForEachMaster(context.Background(), func(ctx context.Context, m *goredis.Client) error {
			return m.FlushAll(ctx).Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	routertest.Run(t, func(t *testing.T) routertest.Table { return open(t) })
	// A topic's presence keys share its hash slot; a batch spans many.
	routertest.RunPresence(t, func(t *testing.T) (herald.TopicPresence, herald.Router) {
		r := open(t)
		return r.TopicPresence(), r
	})
	routertest.RunOnline(t, func(t *testing.T) herald.UserOnline { return open(t).UserOnline() })
}

func TestTopicPresence(t *testing.T) {
	srv := testenv.StartRedis(t)
	routertest.RunPresence(t, func(t *testing.T) (herald.TopicPresence, herald.Router) {
		r := fresh(t, srv.Addr)
		return r.TopicPresence(), r
	})
}

func TestOnline(t *testing.T) {
	srv := testenv.StartRedis(t)
	routertest.RunOnline(t, func(t *testing.T) herald.UserOnline { return fresh(t, srv.Addr).UserOnline() })
}
