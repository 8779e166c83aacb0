package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sender posts messages the way a careful business system does: each with an
// Idempotency-Key, retried (on another collect instance) until it gets a 202,
// so that a crash mid-request neither loses nor duplicates a message. It
// records, per user, the IDs that were accepted.
type Sender struct {
	Bases []string // collect base URLs
	Key   string   // API key

	next     atomic.Uint64
	client   http.Client
	mu       sync.Mutex
	expected map[string][]string // user -> accepted message IDs
	accepted int
	retries  int
}

// NewSender returns a sender over the collect instances at bases.
func NewSender(key string, bases ...string) *Sender {
	return &Sender{Bases: bases, Key: key, client: http.Client{Timeout: 10 * time.Second}, expected: map[string][]string{}}
}

// Send posts one message to users and retries until it is accepted or ctx ends.
func (s *Sender) Send(ctx context.Context, users []string, extra map[string]any) (string, error) {
	var kb [12]byte
	rand.Read(kb[:])
	key := hex.EncodeToString(kb[:])
	payload := map[string]any{"sent_ms": time.Now().UnixMilli()}
	for k, v := range extra {
		payload[k] = v
	}
	body, _ := json.Marshal(map[string]any{"users": users, "payload": payload})
	for attempt := 0; ; attempt++ {
		base := s.Bases[int(s.next.Add(1))%len(s.Bases)]
		id, status, err := s.post(ctx, base, key, body)
		if err == nil && status == http.StatusAccepted {
			s.mu.Lock()
			s.accepted++
			seen := map[string]bool{}
			for _, u := range users {
				if !seen[u] { // Herald sends one copy to a user named twice
					seen[u] = true
					s.expected[u] = append(s.expected[u], id)
				}
			}
			s.mu.Unlock()
			return id, nil
		}
		if err == nil && status >= 400 && status < 500 {
			return "", fmt.Errorf("refused with %d", status)
		}
		s.mu.Lock()
		s.retries++
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(min(attempt+1, 10)) * 50 * time.Millisecond):
		}
	}
}

func (s *Sender) post(ctx context.Context, base, key string, body []byte) (string, int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Key)
	req.Header.Set("Idempotency-Key", key)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r struct{ ID string }
	json.Unmarshal(raw, &r)
	return r.ID, resp.StatusCode, nil
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
