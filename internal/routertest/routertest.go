// Package routertest is the conformance suite every routing adapter passes: the
// same tests run against the memory router and against real Redis.
package routertest

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// Run runs the suite; open returns a fresh, empty router.
// Table is what a routing adapter implements: the routing table, the
// directory of who is where, and revocations.
type Table interface {
	herald.Router
	herald.Directory
	herald.Revocations
}

func Run(t *testing.T, open func(t *testing.T) Table) {
	t.Run("RoutesToLiveNodes", func(t *testing.T) { testRoutes(t, open(t)) })
	t.Run("DeadNodeIsSkipped", func(t *testing.T) { testDeadNode(t, open(t)) })
	t.Run("RestartedNodeDropsOldRoutes", func(t *testing.T) { testEpoch(t, open(t)) })
	t.Run("RouteExpires", func(t *testing.T) { testRouteExpiry(t, open(t)) })
	t.Run("NodesAndOnline", func(t *testing.T) { testNodesOnline(t, open(t)) })
	t.Run("Revocation", func(t *testing.T) { testRevocation(t, open(t)) })
}

func testNodesOnline(t *testing.T, r Table) {
	ctx := context.Background()
	withStats := a
	withStats.Stats = &herald.NodeStats{Beat: 42, Connections: 3, InPerSec: 1.5}
	mustBeat(t, r, withStats, time.Minute)
	mustBeat(t, r, b, time.Minute)
	r.SetRoutes(ctx, a, []herald.UserConns{{User: "u1", Conns: conns("1")}, {User: "u2", Conns: conns("2")}}, time.Hour)
	r.SetRoutes(ctx, b, []herald.UserConns{{User: "u3", Conns: conns("3")}}, time.Hour)
	r.Leave(ctx, b) // u3's only node left: not online
	waitUnrouted(t, r, "u3", "left node")
	nodes, err := r.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].ID != a.ID || nodes[0].Stats == nil || nodes[0].Stats.Connections != 3 {
		t.Fatalf("Nodes = %+v, %v", nodes, err)
	}
	users, err := r.Online(ctx, 10)
	if err != nil || len(users) != 2 || users[0] != "u1" || users[1] != "u2" {
		t.Fatalf("Online = %v, %v", users, err)
	}
	if users, _ := r.Online(ctx, 1); len(users) != 1 {
		t.Fatalf("Online with limit 1 = %v", users)
	}
}

var (
	a = herald.Node{ID: "push-a", Addr: "127.0.0.1:9001", Epoch: 1}
	b = herald.Node{ID: "push-b", Addr: "127.0.0.1:9002", Epoch: 1}
)

func conns(ids ...string) []herald.Conn {
	var out []herald.Conn
	for _, id := range ids {
		out = append(out, herald.Conn{ID: id, Device: "dev-" + id, Since: time.UnixMilli(1000)})
	}
	return out
}

func nodeIDs(ns []herald.Node) []string {
	var ids []string
	for _, n := range ns {
		ids = append(ids, n.ID)
	}
	sort.Strings(ids)
	return ids
}

func mustBeat(t *testing.T, r herald.Router, n herald.Node, ttl time.Duration) bool {
	t.Helper()
	lost, err := r.Heartbeat(context.Background(), n, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return lost
}

func testRoutes(t *testing.T, r Table) {
	ctx := context.Background()
	if !mustBeat(t, r, a, time.Minute) {
		t.Error("first heartbeat must report lost=true (nothing registered yet)")
	}
	if mustBeat(t, r, a, time.Minute) {
		t.Error("second heartbeat must report lost=false")
	}
	mustBeat(t, r, b, time.Minute)
	if err := r.SetRoutes(ctx, a, []herald.UserConns{{User: "alice", Conns: conns("c1")}, {User: "bob", Conns: conns("c2")}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := r.SetRoutes(ctx, b, []herald.UserConns{{User: "alice", Conns: conns("c3", "c4")}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := r.Lookup(ctx, []string{"alice", "bob", "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if ids := nodeIDs(got["alice"]); len(ids) != 2 || ids[0] != "push-a" || ids[1] != "push-b" {
		t.Errorf("alice on %v, want both nodes", ids)
	}
	if ids := nodeIDs(got["bob"]); len(ids) != 1 || ids[0] != "push-a" || got["bob"][0].Addr != a.Addr {
		t.Errorf("bob on %v", got["bob"])
	}
	if _, ok := got["carol"]; ok {
		t.Error("carol has no route")
	}
	pres, err := r.Presence(ctx, "alice")
	if err != nil || len(pres) != 3 {
		t.Fatalf("alice presence = %+v, %v; want 3 connections", pres, err)
	}
	// Removing alice's connections on b leaves only a.
	if err := r.SetRoutes(ctx, b, []herald.UserConns{{User: "alice"}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, _ = r.Lookup(ctx, []string{"alice"})
	if ids := nodeIDs(got["alice"]); len(ids) != 1 || ids[0] != "push-a" {
		t.Errorf("after removal alice on %v", ids)
	}
}

func testDeadNode(t *testing.T, r Table) {
	ctx := context.Background()
	mustBeat(t, r, a, time.Minute)
	mustBeat(t, r, b, 300*time.Millisecond)
	r.SetRoutes(ctx, a, []herald.UserConns{{User: "u", Conns: conns("1")}}, time.Hour)
	r.SetRoutes(ctx, b, []herald.UserConns{{User: "u", Conns: conns("2")}}, time.Hour)
	if err := r.Leave(ctx, a); err != nil {
		t.Fatal(err)
	}
	// b's heartbeat expires without a Leave (as after SIGKILL).
	waitUnrouted(t, r, "u", "both nodes died")
	if !mustBeat(t, r, b, time.Minute) {
		t.Error("heartbeat after expiry must report lost=true so the node re-registers")
	}
}

func testEpoch(t *testing.T, r Table) {
	ctx := context.Background()
	mustBeat(t, r, a, time.Minute)
	r.SetRoutes(ctx, a, []herald.UserConns{{User: "u", Conns: conns("1")}}, time.Hour)
	restarted := a
	restarted.Epoch = 2
	mustBeat(t, r, restarted, time.Minute)
	waitUnrouted(t, r, "u", "a route from the node's former life is still used")
}

func testRouteExpiry(t *testing.T, r Table) {
	ctx := context.Background()
	mustBeat(t, r, a, time.Minute)
	r.SetRoutes(ctx, a, []herald.UserConns{{User: "u", Conns: conns("1")}}, 200*time.Millisecond)
	waitUnrouted(t, r, "u", "route outlived its expiry")
}

// waitUnrouted polls until user has no route, failing with msg after 5 s.
func waitUnrouted(t *testing.T, r Table, user, msg string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := r.Lookup(context.Background(), []string{user})
		if err != nil {
			t.Fatal(err)
		}
		if len(got[user]) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s still routed to %v", msg, user, nodeIDs(got[user]))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testRevocation(t *testing.T, r Table) {
	ctx := context.Background()
	if at, err := r.RevokedAt(ctx, "rv"); err != nil || !at.IsZero() {
		t.Fatalf("never revoked: %v %v", at, err)
	}
	at := time.UnixMilli(time.Now().UnixMilli())
	if err := r.Revoke(ctx, "rv", at, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, err := r.RevokedAt(ctx, "rv"); err != nil || !got.Equal(at) {
		t.Fatalf("revoked at %v, got %v %v", at, got, err)
	}
	if got, _ := r.RevokedAt(ctx, "other"); !got.IsZero() {
		t.Fatalf("another user revoked: %v", got)
	}
	time.Sleep(400 * time.Millisecond)
	if got, err := r.RevokedAt(ctx, "rv"); err != nil || !got.IsZero() {
		t.Fatalf("after the ttl: %v %v", got, err)
	}
}
