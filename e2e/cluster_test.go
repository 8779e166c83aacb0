package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/certs"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// TestClusterEndToEnd runs Redis, FerretDB, 1 auth, 2 collect, 2 dispatch and
// 2 push processes of the real binary, each on its own 127.0.0.x address.
func TestClusterEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 2, Dispatch: 2, Push: 2})
	authAPI := c.AuthAPI()
	p1, p2 := c.Push[0], c.Push[1]

	// alice on both push nodes (two devices), bob on node 1, carol on node 2.
	alice := authAPI.Token(t, "alice")
	alicePhone := probe.MustDialWS(t, p1.WS(), alice, "phone", nil)
	aliceLaptop := probe.MustDialWS(t, p2.WS(), alice, "laptop", nil)
	bob := probe.MustDialWS(t, p1.WS(), authAPI.Token(t, "bob"), "", nil)
	carol := probe.MustDialWS(t, p2.WS(), authAPI.Token(t, "carol"), "", nil)
	if alicePhone.Hello.Node == aliceLaptop.Hello.Node {
		t.Fatalf("both alice connections on %s", alicePhone.Hello.Node)
	}

	// Messages go in through both collect instances (and so both dispatch
	// instances, which collect spreads batches over).
	want := map[string][]string{}
	send := func(i int, users []string, text string) {
		c.API(i%2).Send(t, users, text)
		for _, u := range users {
			want[u] = append(want[u], text)
		}
	}
	for i := range 10 {
		send(i, []string{"alice"}, fmt.Sprintf("a%d", i))
		send(i+1, []string{"bob"}, fmt.Sprintf("b%d", i))
		send(i, []string{"carol", "alice"}, fmt.Sprintf("ca%d", i))
	}
	check := func(name string, ws *probe.WS, user string) {
		t.Helper()
		got := ws.Msgs(len(want[user]), 10*time.Second)
		var texts []string
		for i, f := range got {
			if f.Seq != uint64(i+1) {
				t.Fatalf("%s: message %d has seq %d", name, i, f.Seq)
			}
			var s string
			json.Unmarshal(f.Payload, &s)
			texts = append(texts, s)
		}
		if strings.Join(texts, ",") != strings.Join(want[user], ",") {
			t.Fatalf("%s got %v\nwant %v", name, texts, want[user])
		}
		ws.Quiet(300 * time.Millisecond) // and nothing else: nobody else's messages
	}
	check("alice phone (push 1)", alicePhone, "alice")
	check("alice laptop (push 2)", aliceLaptop, "alice")
	check("bob (push 1)", bob, "bob")
	check("carol (push 2)", carol, "carol")

	// Presence through collect names both nodes and devices.
	code, body := c.API(0).Do(t, "GET", "/v1/users/alice/presence", nil)
	if code != 200 || !strings.Contains(string(body), `"push-1"`) || !strings.Contains(string(body), `"push-2"`) || !strings.Contains(string(body), `"laptop"`) {
		t.Fatalf("presence: %d %s", code, body)
	}

	// Resume on the other node: the phone reconnects to push 2 from seq 15.
	alicePhone.Conn.Close()
	since := uint64(15)
	moved := probe.MustDialWS(t, p2.WS(), alice, "phone", &since)
	if got := moved.Msgs(5, 10*time.Second); got[0].Seq != 16 || got[4].Seq != 20 {
		t.Fatalf("resume from 15 got seqs %v", seqs(got))
	}

	// Push-service auth goes through the auth service: a bad token is refused.
	if _, err := probe.DialWS(t, p1.WS(), "bad-token", "", nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("bad token on push node: %v", err)
	}

	// The business system disconnects alice: her connections on both nodes
	// close with 4003 and the reason, her token no longer connects, and bob
	// is untouched.
	// (Fresh connections: a gorilla connection that has timed out a read,
	// as Quiet does, reads nothing more.)
	now := uint64(30)
	a1 := probe.MustDialWS(t, p1.WS(), alice, "tablet", &now)
	a2 := probe.MustDialWS(t, p2.WS(), alice, "watch", &now)
	bobSeen := uint64(10)
	bob2 := probe.MustDialWS(t, p1.WS(), authAPI.Token(t, "bob"), "", &bobSeen)
	// One device first: the tablet closes, the watch and the phone stay
	// (the reason they close with below says so), and nothing is revoked.
	code, body = c.API(1).Do(t, "POST", "/v1/users/alice/disconnect", map[string]string{"device": "tablet", "reason": "tablet lost"})
	if code != 200 || strings.Contains(string(body), `"revoked_at"`) || !strings.Contains(string(body), `"device":"tablet"`) {
		t.Fatalf("disconnect a device: %d %s", code, body)
	}
	if code, reason := a1.CloseCode(3 * time.Second); code != 4003 || reason != "tablet lost" {
		t.Fatalf("tablet: close %d %q", code, reason)
	}
	a1 = probe.MustDialWS(t, p1.WS(), alice, "tablet", &now)
	start := time.Now()
	code, body = c.API(1).Do(t, "POST", "/v1/users/alice/disconnect", map[string]string{"reason": "logged out everywhere"})
	if code != 200 || !strings.Contains(string(body), `"revoked_at"`) {
		t.Fatalf("disconnect: %d %s", code, body)
	}
	for name, ws := range map[string]*probe.WS{"tablet (push 1)": a1, "watch (push 2)": a2, "phone (push 2)": moved} {
		if code, reason := ws.CloseCode(3 * time.Second); code != 4003 || reason != "logged out everywhere" {
			t.Fatalf("%s: close %d %q", name, code, reason)
		}
	}
	t.Logf("alice cut off on 2 nodes %v after the request", time.Since(start).Round(time.Millisecond))
	for _, p := range []*testenv.Node{p1, p2} {
		if _, err := probe.DialWS(t, p.WS(), alice, "", nil); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("revoked token on %s: %v", p.WS(), err)
		}
	}
	c.API(0).Send(t, []string{"bob"}, "still here")
	if got := bob2.Msgs(1, 10*time.Second); string(got[0].Payload) != `"still here"` {
		t.Fatalf("bob after alice's disconnect: %s", got[0].Payload)
	}
}

// A cluster whose internal gRPC runs over mutual TLS: messages flow through
// collect -> dispatch -> push as usual.
func TestClusterWithMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster")
	}
	dir := t.TempDir()
	ca := certs.NewCA(t, dir+"/ca.pem", "herald cluster")
	ca.Issue(t, dir+"/node.pem", dir+"/node.key", "herald node")
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 1, Dispatch: 1, Push: 1, Env: []string{
		"HERALD_CLUSTER_TLS_CERT=" + dir + "/node.pem", "HERALD_CLUSTER_TLS_KEY=" + dir + "/node.key", "HERALD_CLUSTER_TLS_CA=" + dir + "/ca.pem",
	}})
	ws := probe.MustDialWS(t, c.Push[0].WS(), c.AuthAPI().Token(t, "tls-user"), "", nil)
	c.API(0).Send(t, []string{"tls-user"}, "over mTLS")
	if got := ws.Msgs(1, 10*time.Second); string(got[0].Payload) != `"over mTLS"` {
		t.Fatalf("got %s", got[0].Payload)
	}
}
