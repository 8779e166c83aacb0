// Package traffic is the load the failure and chaos tests put on a running
// Herald, and their verdict: a Sender that posts as a careful business
// system does (an idempotency key, retried until a 202), Devices that stay
// connected through the Go SDK, and Check, which says what was lost,
// duplicated or delivered out of order.
package traffic

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/sender"
)

// Sender posts messages the way a careful business system does, through
// the Go sender SDK (sender/): each with an Idempotency-Key, retried (on
// another collect instance) until it gets a 202 or the context ends, so that
// a crash mid-request neither loses nor duplicates a message. It records, per
// user, the IDs that were accepted.
type Sender struct {
	c *sender.Client

	mu       sync.Mutex
	expected map[string][]string // user -> accepted message IDs
	accepted int
	retries  int
}

// NewSender returns a sender over the collect instances at bases.
func NewSender(key string, bases ...string) *Sender {
	s := &Sender{c: sender.New(key, bases...), expected: map[string][]string{}}
	s.c.HTTP = &http.Client{Timeout: 10 * time.Second}
	s.c.Attempts = math.MaxInt // until the context ends: the tests kill nodes under it
	s.c.Backoff, s.c.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	s.c.OnRetry = func(error) {
		s.mu.Lock()
		s.retries++
		s.mu.Unlock()
	}
	return s
}

// Send posts one message to users and retries until it is accepted or ctx
// ends; a 4xx answer is not retried.
func (s *Sender) Send(ctx context.Context, users []string, extra map[string]any) (string, error) {
	payload := map[string]any{"sent_ms": time.Now().UnixMilli()}
	for k, v := range extra {
		payload[k] = v
	}
	id, err := s.c.Send(ctx, sender.Message{Users: users, Payload: payload})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted++
	seen := map[string]bool{}
	for _, u := range users {
		if !seen[u] { // Herald sends one copy to a user named twice
			seen[u] = true
			s.expected[u] = append(s.expected[u], id)
		}
	}
	return id, nil
}

// Expected returns the IDs accepted for user, in acceptance order.
func (s *Sender) Expected(user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.expected[user]...)
}

// Counts returns messages accepted and retries made.
func (s *Sender) Counts() (accepted, retries int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.retries
}

// Report is the outcome of a delivery check over many devices.
type Report struct {
	Accepted, Expected, Delivered, Lost, Duplicates, DupAfterDedup, OutOfOrder, Retries int
	P50, P99, Max                                                                       time.Duration
	// LostSample names up to 10 lost deliveries (user/device, message ID,
	// where the device stood), for the logs.
	LostSample []string
}

// OK reports whether nothing was lost, duplicated past dedup or reordered.
func (r Report) OK() bool { return r.Lost == 0 && r.DupAfterDedup == 0 && r.OutOfOrder == 0 }

// Check waits up to timeout for every device to have every message accepted
// for its user, then reports. Duplicates counts frames dropped by seq (what a
// client's dedup absorbs); a client that dedupes sees each message once.
func Check(s *Sender, devices []*Device, timeout time.Duration) Report {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		done := true
		for _, d := range devices {
			for _, id := range s.Expected(d.User) {
				if !d.Has(id) {
					done = false
					break
				}
			}
			if !done {
				break
			}
		}
		if done {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var r Report
	r.Accepted, r.Retries = s.Counts()
	var lat []time.Duration
	for _, d := range devices {
		st := d.Stats()
		exp := s.Expected(d.User)
		r.Expected += len(exp)
		for _, id := range exp {
			if _, ok := st.Seen[id]; ok {
				r.Delivered++
			} else {
				r.Lost++
				if len(r.LostSample) < 10 {
					r.LostSample = append(r.LostSample, fmt.Sprintf("%s/%s %s (device at seq %d after %d connects; last error %v)",
						d.User, d.Name, id, st.LastSeq, st.Connects, st.LastErr))
				}
			}
		}
		r.Duplicates += st.Dups
		r.DupAfterDedup += st.DupIDs
		r.OutOfOrder += st.OutOfOrder
		lat = append(lat, st.Latencies...)
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		r.P50 = lat[len(lat)/2]
		r.P99 = lat[len(lat)*99/100]
		r.Max = lat[len(lat)-1]
	}
	return r
}

// Table renders the report as a Markdown table.
func (r Report) Table() string {
	var b strings.Builder
	b.WriteString("| messages accepted | device-deliveries expected | delivered | lost | duplicates after seq-dedup | out of order | send retries | p50 latency | p99 latency | max latency |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %d | %d | %s | %s | %s |\n",
		r.Accepted, r.Expected, r.Delivered, r.Lost, r.DupAfterDedup, r.OutOfOrder, r.Retries,
		r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.Max.Round(time.Millisecond))
	fmt.Fprintf(&b, "\n(%d repeated frames were dropped by the clients' seq dedup.)\n", r.Duplicates)
	for _, l := range r.LostSample {
		fmt.Fprintf(&b, "lost: %s\n", l)
	}
	return b.String()
}
