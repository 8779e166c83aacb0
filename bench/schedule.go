package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Schedule mode: --scheduled messages to --users connected users, sent
// through the batch API (1,000 a request) with deliver_at spread evenly
// over --window, starting --lead after the run starts. Each payload holds
// its deliver_at ("t", Unix ns); each connection notes how late its
// messages came. What it reports: how fast they were scheduled, and how
// late they went out, the last one above all.

func runSchedule(ctx context.Context, cfg Config) error {
	if cfg.Protobuf || cfg.centrifugo() {
		return fmt.Errorf("schedule mode speaks Herald's JSON frames and API only (Centrifugo schedules nothing)")
	}
	if cfg.Scheduled <= 0 || cfg.Users <= 0 || cfg.Window <= 0 {
		return fmt.Errorf("--scheduled, --users and --window must be positive")
	}
	auth := cfg.Auth
	if auth == "" {
		auth = cfg.API[0]
	}
	users := benchUsers("sched", cfg.Users)
	toks, err := tokens(ctx, auth, cfg.APIKey, users)
	if err != nil {
		return err
	}
	conns, took, err := connectAll(ctx, cfg, toks)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	fmt.Fprintf(cfg.Out, "connected %d users in %v\n", len(conns), took.Round(time.Millisecond))

	var mu sync.Mutex
	late := make([]time.Duration, 0, cfg.Scheduled)
	var got atomic.Int64
	var lastAt atomic.Int64 // Unix ns of the last arrival
	handler := func(b []byte) {
		_, due, ok := parseMsg(b)
		if !ok {
			return
		}
		now := time.Now()
		mu.Lock()
		late = append(late, now.Sub(time.Unix(0, due)))
		mu.Unlock()
		got.Add(1)
		lastAt.Store(now.UnixNano())
	}
	for _, c := range conns {
		c.handler.Store(&handler)
	}

	start := time.Now().Add(cfg.Lead)
	step := cfg.Window / time.Duration(cfg.Scheduled)
	const batch = 1000
	client := &http.Client{Timeout: 60 * time.Second}
	sendStart := time.Now()
	failed, err := parallel(ctx, (cfg.Scheduled+batch-1)/batch, 4, true, func(j int) error {
		var b bytes.Buffer
		b.WriteString(`{"messages":[`)
		for k := j * batch; k < min((j+1)*batch, cfg.Scheduled); k++ {
			if k > j*batch {
				b.WriteByte(',')
			}
			due := start.Add(time.Duration(k) * step).Truncate(time.Millisecond)
			fmt.Fprintf(&b, `{"users":[%q],"payload":{"t":%d},"deliver_at":%d}`, users[k%len(users)], due.UnixNano(), due.UnixMilli())
		}
		b.WriteString(`]}`)
		req, _ := http.NewRequestWithContext(ctx, "POST", cfg.API[j%len(cfg.API)]+"/v1/messages/batch", &b)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("schedule: status %d", resp.StatusCode)
		}
		return nil
	})
	sendTook := time.Since(sendStart)
	if failed > 0 {
		return fmt.Errorf("scheduling failed: %v", err)
	}
	fmt.Fprintf(cfg.Out, "scheduled %d messages in %v (%.0f/s), due from %v on over %v\n", cfg.Scheduled, sendTook.Round(time.Millisecond),
		float64(cfg.Scheduled)/sendTook.Seconds(), time.Until(start).Round(time.Millisecond), cfg.Window)
	if time.Now().After(start) {
		fmt.Fprintf(cfg.Out, "warning: scheduling took longer than --lead: the first messages were due before all were scheduled\n")
	}
	end := start.Add(cfg.Window + cfg.Drain)
	for got.Load() < int64(cfg.Scheduled) && time.Now().Before(end) && ctx.Err() == nil {
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
	lastDue := start.Add(time.Duration(cfg.Scheduled-1) * step)
	fmt.Fprintf(cfg.Out, "delivered %d of %d (distinct arrivals, repeats included)\n", len(late), cfg.Scheduled)
	if len(late) > 0 {
		fmt.Fprintf(cfg.Out, "lateness after deliver_at: p50 %v, p99 %v, max %v\n", Percentile(late, 0.5).Round(time.Millisecond),
			Percentile(late, 0.99).Round(time.Millisecond), late[len(late)-1].Round(time.Millisecond))
		fmt.Fprintf(cfg.Out, "the last arrival came %v after the last deliver_at\n", time.Unix(0, lastAt.Load()).Sub(lastDue).Round(time.Millisecond))
	}
	return nil
}
