package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// TestIsolation is the isolation proof of issue 6: 2,000 users spread over
// 3 push nodes, 50,000 messages to random users (one in ten to two users),
// sent through the batch API. Every user must receive exactly the messages
// addressed to them: none of anyone else's, none twice, none missing.
//
// The test store (FerretDB on SQLite) scans the whole collection for every
// update, so each seq counter update costs ~8 ms once 2,000 users have one,
// whatever the batch size (MongoDB finds the counter by its _id index).
// Collect therefore gathers up to 25,000 messages into one group commit here
// (--max-batch): one counter update per user per commit, not per request.
// HERALD_ISOLATION_MESSAGES and HERALD_ISOLATION_USERS change the scale.
func TestIsolation(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 users on a cluster")
	}
	users := envInt("HERALD_ISOLATION_USERS", 2000)
	msgs := envInt("HERALD_ISOLATION_MESSAGES", 50000)
	// Catch-up every 10 minutes rather than 5 s: each round reads the seqs
	// of all of a node's users with one $in query per 1,000, which FerretDB
	// answers with a scan (MongoDB uses the _id index), and 3 nodes doing so
	// starve the writes of this test. Receipts off: they are one upsert per
	// delivery (55,000 here), and FerretDB runs every write under its
	// SQLite file's one lock, so three nodes' receipts starved collect's
	// counter updates ("database is locked" after the 10 s busy timeout,
	// three tries in a row, and batches past the client's 3 minutes in one
	// CI run). MongoDB has no such lock; receipts have their own tests.
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 1, Dispatch: 1, Push: 3,
		PushEnv:    []string{"HERALD_CATCHUP_INTERVAL=10m", "HERALD_RECEIPTS=false"},
		CollectEnv: []string{"HERALD_MAX_BATCH=25000"}})
	authAPI := c.AuthAPI()

	type inbox struct {
		mu   sync.Mutex
		got  []int    // message numbers received
		bad  []string // frames meant for someone else
		seen map[uint64]bool
	}
	boxes := make([]*inbox, users)
	name := func(i int) string { return fmt.Sprintf("iso%04d", i) }
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	connStart := time.Now()
	for i := range users {
		boxes[i] = &inbox{seen: map[uint64]bool{}}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws, err := probe.DialWS(t, c.Push[i%3].WS(), authAPI.Token(t, name(i)), "", nil)
			if err != nil {
				t.Errorf("user %d: %v", i, err)
				return
			}
			if ws.Hello.User != name(i) {
				t.Errorf("user %d got hello for %s", i, ws.Hello.User)
			}
			go func() {
				b := boxes[i]
				for {
					f, err := ws.Next(10 * time.Minute)
					if err != nil {
						return
					}
					if f.Type != "msg" {
						continue
					}
					var p struct {
						To []string `json:"to"`
						N  int      `json:"n"`
					}
					json.Unmarshal(f.Payload, &p)
					b.mu.Lock()
					if !slices.Contains(p.To, name(i)) {
						b.bad = append(b.bad, string(f.Payload))
					}
					if b.seen[f.Seq] {
						b.bad = append(b.bad, fmt.Sprintf("seq %d twice", f.Seq))
					}
					b.seen[f.Seq] = true
					b.got = append(b.got, p.N)
					b.mu.Unlock()
				}
			}()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d users connected to 3 push nodes in %v", users, time.Since(connStart).Round(time.Millisecond))

	// The messages, in batches of 1,000, from 25 senders at once, so that
	// the batches queue up and collect commits them together.
	want := make([][]int, users)
	type item struct {
		Users   []string       `json:"users"`
		Payload map[string]any `json:"payload"`
	}
	var batches [][]item
	rng := rand.New(rand.NewPCG(7, 11))
	var batch []item
	for n := range msgs {
		to := []int{rng.IntN(users)}
		if rng.IntN(10) == 0 {
			if o := rng.IntN(users); o != to[0] {
				to = append(to, o)
			}
		}
		var names []string
		for _, u := range to {
			names = append(names, name(u))
			want[u] = append(want[u], n)
		}
		batch = append(batch, item{Users: names, Payload: map[string]any{"to": names, "n": n}})
		if len(batch) == 1000 || n == msgs-1 {
			batches = append(batches, batch)
			batch = nil
		}
	}
	sendStart := time.Now()
	next := make(chan []item)
	api := c.API(0)
	api.Timeout = 3 * time.Minute
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				if code, body := api.Do(t, "POST", "/v1/messages/batch", map[string]any{"messages": b}); code != 202 {
					t.Errorf("batch: %d %s", code, body)
				}
			}
		}()
	}
	for _, b := range batches {
		next <- b
	}
	close(next)
	wg.Wait()
	t.Logf("%d messages accepted in %v", msgs, time.Since(sendStart).Round(time.Millisecond))

	testenv.CheckFor(t, 3*time.Minute, 50*time.Millisecond, func() error {
		for i, b := range boxes {
			b.mu.Lock()
			n, bad := len(b.got), len(b.bad)
			b.mu.Unlock()
			if bad == 0 && n < len(want[i]) {
				return fmt.Errorf("user %d has %d of %d messages", i, n, len(want[i]))
			}
		}
		return nil
	})
	// What is checked next is that nothing more arrives: absence has no
	// event to wait on, so the boxes get a moment to show anything extra.
	time.Sleep(500 * time.Millisecond)
	total := 0
	for i, b := range boxes {
		b.mu.Lock()
		if len(b.bad) > 0 {
			t.Errorf("user %d got what was not theirs: %v", i, b.bad[:min(3, len(b.bad))])
		}
		got := slices.Clone(b.got)
		b.mu.Unlock()
		slices.Sort(got)
		if !slices.Equal(got, want[i]) {
			t.Errorf("user %d: got %d messages, want %d", i, len(got), len(want[i]))
		}
		total += len(got)
	}
	t.Logf("%d deliveries checked, all %v after the first send", total, time.Since(sendStart).Round(time.Millisecond))
}
