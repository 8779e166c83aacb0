package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

func waitStatus(t *testing.T, url string, want int, timeout time.Duration) {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	testenv.CheckFor(t, timeout, 100*time.Millisecond, func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("%s answers %d, want %d", url, resp.StatusCode, want)
		}
		return nil
	})
}

// aliceOnSmallCluster starts a cluster with one of each service and alice
// connected, with one message received; the test is skipped in -short runs.
func aliceOnSmallCluster(t *testing.T) (*testenv.Cluster, probe.API, *probe.WS) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a whole cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 1, Dispatch: 1, Push: 1})
	api := c.API(0)
	ws := probe.MustDialWS(t, c.Push[0].WS(), c.AuthAPI().Token(t, "alice"), "phone", nil)
	api.Send(t, []string{"alice"}, 1)
	ws.Msgs(1, 5*time.Second)
	return c, api, ws
}

// Redis goes away and comes back empty: /readyz says so meanwhile, collect
// keeps accepting (the store is up), connections stay open, and delivery
// resumes on its own, with what was sent during the outage delivered in order.
func TestClusterRedisOutage(t *testing.T) {
	c, api, ws := aliceOnSmallCluster(t)

	c.Redis.Process.Kill()
	waitStatus(t, c.Push[0].URL()+"/readyz", 503, 15*time.Second)
	waitStatus(t, c.Dispatch[0].URL()+"/readyz", 503, 15*time.Second)
	api.Send(t, []string{"alice"}, 2) // stored: 202 even though routing is down

	c.Redis.StartAgain(t)
	waitStatus(t, c.Push[0].URL()+"/readyz", 200, 20*time.Second)
	waitStatus(t, c.Dispatch[0].URL()+"/readyz", 200, 20*time.Second)
	// The push node noticed its heartbeat key was gone and wrote its routes
	// again (presence shows it); a new message reaches the same, still open
	// connection, after the one sent during the outage.
	testenv.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		if code, body := api.Do(t, "GET", "/v1/users/alice/presence", nil); code != 200 || !strings.Contains(string(body), `"online":true`) {
			return fmt.Errorf("routes not registered again after Redis came back: %d %s", code, body)
		}
		return nil
	})
	api.Send(t, []string{"alice"}, 3)
	if got := ws.Msgs(2, 10*time.Second); got[0].Seq != 2 || got[1].Seq != 3 {
		t.Fatalf("after the outage got seqs %d, %d; want 2, 3", got[0].Seq, got[1].Seq)
	}
}
