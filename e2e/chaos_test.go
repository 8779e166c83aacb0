package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/traffic"
)

// killAndRestart SIGKILLs a node and starts it again after 0.5-1.5 s.
func killAndRestart(n *testenv.Node) {
	n.Kill()
	time.Sleep(time.Duration(500+rand.IntN(1000)) * time.Millisecond)
	n.Restart()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestChaos is the chaos run: a cluster of 2 collect, 2 dispatch and 3 push
// nodes, many users with two devices each and random traffic, while random
// nodes are killed (SIGKILL), drained (SIGTERM) and restarted, and Redis is
// restarted empty. At the end every device must have every accepted message
// of its user: nothing lost, nothing twice after seq dedup, nothing out of
// order. `make test` runs it small; `make chaos` runs it with 1,000 users
// (HERALD_CHAOS_USERS, HERALD_CHAOS_SECONDS; HERALD_CHAOS_REPORT names a file
// for the table).
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run")
	}
	users := envInt("HERALD_CHAOS_USERS", 40)
	duration := time.Duration(envInt("HERALD_CHAOS_SECONDS", 12)) * time.Second
	senders := envInt("HERALD_CHAOS_SENDERS", 6)

	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 2, Dispatch: 2, Push: 3})
	f := newFleet(t, c, users)
	ctx, cancel := context.WithCancel(context.Background())
	sending := f.traffic(ctx, users, senders)

	var mu sync.Mutex // one fault at a time, so at least one of each service stays up
	var events []string
	fault := func(name string, fn func()) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, name)
		fn()
	}
	end := time.Now().Add(duration)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(1500+rand.IntN(1500)) * time.Millisecond)
		switch rand.IntN(6) {
		case 0, 1:
			i := rand.IntN(len(c.Push))
			fault("kill push", func() {
				f.setAlive(i, false)
				killAndRestart(c.Push[i])
				f.setAlive(i, true)
			})
		case 2:
			i := rand.IntN(len(c.Push))
			fault("drain push", func() {
				f.setAlive(i, false)
				if err := c.Push[i].Stop(15 * time.Second); err != nil {
					t.Error(err)
				}
				c.Push[i].Restart()
				f.setAlive(i, true)
			})
		case 3:
			n := c.Dispatch[rand.IntN(len(c.Dispatch))]
			fault("kill dispatch", func() { killAndRestart(n) })
		case 4:
			n := c.Collect[rand.IntN(len(c.Collect))]
			fault("kill collect", func() { killAndRestart(n) })
		case 5:
			fault("restart redis (empty)", func() { c.Redis.Restart(t) })
		}
	}
	cancel()
	sending.Wait()
	r := traffic.Check(f.sender, f.devices, 60*time.Second)
	table := r.Table()
	t.Logf("chaos: %d users x 2 devices, %s, %d faults: %v\n%s", users, duration, len(events), events, table)
	if path := os.Getenv("HERALD_CHAOS_REPORT"); path != "" {
		os.WriteFile(path, []byte(table), 0o644)
	}
	if !r.OK() || r.Accepted == 0 {
		t.Fatalf("chaos run lost, duplicated or reordered messages: %+v", r)
	}
}
