package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/traffic"
)

// fleet is devices spread over push nodes plus a sender, for failure tests.
type fleet struct {
	c       *testenv.Cluster
	sender  *traffic.Sender
	devices []*traffic.Device
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	alive   []bool // per push node: may a device be sent there
}

// newFleet connects users (two devices each) to the cluster's push nodes;
// device i starts on node i % nodes and, on reconnect, goes to a live node.
func newFleet(t *testing.T, c *testenv.Cluster, users int) *fleet {
	t.Helper()
	var bases []string
	for _, n := range c.Collect {
		bases = append(bases, n.URL())
	}
	f := &fleet{c: c, sender: traffic.NewSender(testenv.ClusterAPIKey, bases...), alive: make([]bool, len(c.Push))}
	for i := range f.alive {
		f.alive[i] = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	auth := c.AuthAPI()
	for u := range users {
		user := fmt.Sprintf("user%d", u)
		tok := auth.Token(t, user)
		for dev := range 2 {
			first := (u*2 + dev) % len(c.Push)
			connected := false
			d := traffic.NewDevice(user, fmt.Sprintf("dev%d", dev), tok, func() string {
				if !connected {
					connected = true
					return c.Push[first].WS()
				}
				return f.pickLive()
			})
			// A large fleet backs off longer, as a real client population
			// does (the SDKs' default cap is 30 s): 2,000 devices each
			// retrying within a second kept an overloaded FerretDB jammed,
			// every wave of resumes timing out together (make chaos).
			d.MaxBackoff = max(time.Second, time.Duration(users/100)*time.Second)
			f.devices = append(f.devices, d)
			f.wg.Add(1)
			go func() { defer f.wg.Done(); d.Run(ctx) }()
		}
	}
	t.Cleanup(f.stop)
	// Wait until every device is connected (presence would do too).
	for _, d := range f.devices {
		testenv.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
			if d.Stats().Connects == 0 {
				return fmt.Errorf("device %s/%s never connected: %v", d.User, d.Name, d.Stats().LastErr)
			}
			return nil
		})
	}
	return f
}

func (f *fleet) stop() {
	f.cancel()
	f.wg.Wait()
}

func (f *fleet) setAlive(i int, ok bool) {
	f.mu.Lock()
	f.alive[i] = ok
	f.mu.Unlock()
}

// pickLive is the load balancer: a random push node not known to be down.
func (f *fleet) pickLive() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var live []int
	for i, ok := range f.alive {
		if ok {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return f.c.Push[0].WS()
	}
	return f.c.Push[live[rand.IntN(len(live))]].WS()
}

// traffic sends messages to random users (one or two recipients) until ctx ends.
func (f *fleet) traffic(ctx context.Context, users, senders int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				to := []string{fmt.Sprintf("user%d", rand.IntN(users))}
				if rand.IntN(3) == 0 {
					to = append(to, fmt.Sprintf("user%d", rand.IntN(users)))
				}
				// A send already started runs to its 202 even after the
				// traffic stops: giving up on it could leave a stored message
				// the test never counted as accepted.
				sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				f.sender.Send(sctx, to, nil)
				cancel()
				time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
			}
		}()
	}
	return &wg
}

func (f *fleet) check(t *testing.T) traffic.Report {
	t.Helper()
	r := traffic.Check(f.sender, f.devices, 30*time.Second)
	t.Logf("\n%s", r.Table())
	if !r.OK() || r.Accepted == 0 {
		t.Fatalf("delivery broken: %+v", r)
	}
	return r
}

// runFailure runs traffic until some messages are accepted, calls fail in
// the middle, keeps the traffic going until as many again are accepted,
// then checks every device got every accepted message.
func runFailure(t *testing.T, f *fleet, users int, fail func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wg := f.traffic(ctx, users, 4)
	f.waitAccepted(t, failureSends)
	fail()
	f.waitAccepted(t, failureSends)
	cancel()
	wg.Wait()
	f.check(t)
}

const failureUsers = 20

// failureSends is how many accepted messages the traffic runs for before a
// failure, and again after it.
const failureSends = 100

// waitAccepted waits until n more messages than now are accepted.
func (f *fleet) waitAccepted(t *testing.T, n int) {
	t.Helper()
	from, _ := f.sender.Counts()
	testenv.CheckFor(t, 60*time.Second, 20*time.Millisecond, func() error {
		if got, _ := f.sender.Counts(); got < from+n {
			return fmt.Errorf("%d of %d messages accepted", got-from, n)
		}
		return nil
	})
}

// failureSetup starts a cluster of the given size with a fleet of
// failureUsers users on it; the test is skipped in -short runs.
func failureSetup(t *testing.T, size testenv.ClusterSize) (*testenv.Cluster, *fleet) {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := testenv.StartCluster(t, size)
	return c, newFleet(t, c, failureUsers)
}

func TestPushNodeKill(t *testing.T) {
	c, f := failureSetup(t, testenv.ClusterSize{Collect: 1, Dispatch: 1, Push: 2})
	runFailure(t, f, failureUsers, func() {
		f.setAlive(0, false)
		c.Push[0].Kill()
		// Dispatch stops routing to the dead node within the heartbeat TTL
		// (2 s in tests) plus its one-second node cache.
		start := time.Now()
		waitUnrouted(t, c, 5*time.Second)
		t.Logf("dead node unrouted after %s", time.Since(start).Round(100*time.Millisecond))
	})
}

// waitUnrouted waits until push-1 (c.Push[0]) is no longer a route of
// user0's: dispatch finds it dead.
func waitUnrouted(t *testing.T, c *testenv.Cluster, within time.Duration) {
	t.Helper()
	testenv.CheckFor(t, within, 100*time.Millisecond, func() error {
		if code, body := c.API(0).Do(t, "GET", "/v1/users/user0/presence", nil); code != 200 || strings.Contains(string(body), `"push-1"`) {
			return fmt.Errorf("push-1 still routed: %d %s", code, body)
		}
		return nil
	})
}

func TestPushNodeDrain(t *testing.T) {
	c, f := failureSetup(t, testenv.ClusterSize{Collect: 1, Dispatch: 1, Push: 2})
	runFailure(t, f, failureUsers, func() {
		f.setAlive(0, false)
		start := time.Now()
		if err := c.Push[0].Stop(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("drained and exited in %s", time.Since(start).Round(time.Millisecond))
		// Routes were removed on the way out, not left to expire.
		code, body := c.API(0).Do(t, "GET", "/v1/users/user0/presence", nil)
		if code != 200 || strings.Contains(string(body), `"push-1"`) {
			t.Errorf("presence right after the drain: %s", body)
		}
	})
	// The drained node's clients saw only the reconnect code.
	for _, d := range f.devices {
		for code, n := range d.Stats().CloseCodes {
			if code != 1012 {
				t.Errorf("%s/%s saw close %d (%d times); only 1012 is expected", d.User, d.Name, code, n)
			}
		}
	}
}

func TestDispatchNodeKill(t *testing.T) {
	c, f := failureSetup(t, testenv.ClusterSize{Collect: 1, Dispatch: 2, Push: 2})
	runFailure(t, f, failureUsers, func() { c.Dispatch[0].Kill() })
}

// A collect instance dies mid-request; the business system retries with the
// same Idempotency-Key on the other one. Each message is stored and delivered
// once, never twice.
func TestCollectNodeKill(t *testing.T) {
	c, f := failureSetup(t, testenv.ClusterSize{Collect: 2, Dispatch: 1, Push: 1})
	runFailure(t, f, failureUsers, func() { c.Collect[0].Kill() })
	// Every user's stored messages are the accepted ones, each exactly once.
	for u := range failureUsers {
		user := fmt.Sprintf("user%d", u)
		code, body := c.API(1).Do(t, "GET", "/v1/users/"+user+"/messages?limit=1000", nil)
		if code != 200 {
			t.Fatalf("%d %s", code, body)
		}
		stored := strings.Count(string(body), `"seq"`)
		if want := len(f.sender.Expected(user)); stored != want {
			t.Errorf("%s: %d messages stored, %d accepted", user, stored, want)
		}
	}
}

// MongoDB goes away: collect answers 503, never 202; readiness says so;
// everything recovers by itself when it is back.
func TestMongoOutage(t *testing.T) {
	c, api, ws := aliceOnSmallCluster(t)

	c.Mongo.Process.Kill()
	code, body := api.Do(t, "POST", "/v1/messages", map[string]any{"users": []string{"alice"}, "payload": 2})
	if code != 503 || !strings.Contains(string(body), `"unavailable"`) {
		t.Fatalf("send with MongoDB down: %d %s; want 503", code, body)
	}
	waitStatus(t, c.Collect[0].URL()+"/readyz", 503, 15*time.Second)

	c.Mongo.StartAgain(t)
	waitStatus(t, c.Collect[0].URL()+"/readyz", 200, 30*time.Second)
	api.Send(t, []string{"alice"}, 3)
	if got := ws.Msgs(1, 10*time.Second); got[0].Seq != 2 {
		t.Fatalf("after the outage got seq %d, want 2 (the refused message was never stored)", got[0].Seq)
	}
}

// A push node freezes (SIGSTOP) past its heartbeat TTL and then thaws: while
// frozen it is skipped; once back it registers again, and its clients, whose
// connections stayed open, get what they missed through catch-up.
func TestPushNodePause(t *testing.T) {
	c, f := failureSetup(t, testenv.ClusterSize{Collect: 1, Dispatch: 1, Push: 2})
	runFailure(t, f, failureUsers, func() {
		if err := c.Push[0].Pause(); err != nil {
			t.Fatal(err)
		}
		waitUnrouted(t, c, 10*time.Second) // frozen past the heartbeat TTL
		if err := c.Push[0].Resume(); err != nil {
			t.Fatal(err)
		}
	})
}
