package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Presence mode: a join/leave storm. Listeners subscribe to --topic (of a
// namespace with join_leave) and count the join, leave and
// presence_changes frames they get; meanwhile churners connect at --churn
// a second, subscribe, hold --churn-hold and disconnect, so that in the
// steady state --churn users join and --churn leave every second. With
// --redis it also reads the commands Redis ran (INFO), for a cluster.

// presenceCounts are what every listener got, together.
type presenceCounts struct {
	frames, events atomic.Int64
}

// count reads a frame: a join or leave is one event, a presence_changes
// frame one per user it lists.
func (p *presenceCounts) count(b []byte) {
	switch {
	case bytes.HasPrefix(b, []byte(`{"type":"join"`)), bytes.HasPrefix(b, []byte(`{"type":"leave"`)):
		p.frames.Add(1)
		p.events.Add(1)
	case bytes.HasPrefix(b, []byte(`{"type":"presence_changes"`)):
		p.frames.Add(1)
		p.events.Add(int64(bytes.Count(b, []byte(`"user":`))))
	}
}

func runPresence(ctx context.Context, cfg Config) error {
	if cfg.Protobuf || cfg.centrifugo() {
		return fmt.Errorf("presence mode speaks Herald's JSON frames only")
	}
	if cfg.Churn <= 0 || cfg.Users <= 0 {
		return fmt.Errorf("--users (listeners) and --churn must be positive")
	}
	hold := cfg.ChurnHold
	if hold <= 0 {
		hold = time.Second
	}
	// Each churner's user comes back only after its last connection
	// closed: a pool of three holds' worth of users, taken in turn.
	pool := max(cfg.Churn*int((3*hold+time.Second-1)/time.Second), cfg.Churn)
	header(ctx, cfg, fmt.Sprintf("%d listeners on %s, %d connects/s and as many disconnects (each held %v, %d users in turn), %v",
		cfg.Users, cfg.Topic, cfg.Churn, hold, pool, cfg.Duration))

	listenTok, err := tokens(ctx, cfg.authURL(), cfg.APIKey, benchUsers("pl", cfg.Users), cfg.Topic)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	churnTok, err := tokens(ctx, cfg.authURL(), cfg.APIKey, benchUsers("pc", pool), cfg.Topic)
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	listeners, _, err := connectAll(ctx, cfg, listenTok)
	if err != nil {
		return err
	}
	defer closeAll(listeners)
	memBefore, _ := redisMemory(cfg.Redis)
	subStart := time.Now()
	if err := subscribeAll(ctx, listeners, cfg.Topic); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Out, "| figure | value |\n|---|---|\n")
	if err := presenceQueries(ctx, cfg, subStart, memBefore); err != nil {
		return err
	}
	// The listeners' own joins are over before the count starts.
	time.Sleep(time.Second)
	var counts presenceCounts
	h := counts.count
	for _, c := range listeners {
		c.handler.Store(&h)
	}

	redisBefore, redisErr := redisCommands(cfg.Redis)
	before := scrapeAll(ctx, cfg.Metrics)
	start := time.Now()
	var connected, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	run, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	sub, _ := json.Marshal(map[string]any{"type": "sub", "topics": []string{cfg.Topic}})
	p := newPacer(start, time.Second/time.Duration(cfg.Churn), 0, 1)
	for k := 0; ; k++ {
		if _, ok := p.wait(run); !ok {
			break
		}
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			if err := churn(ctx, cfg, k, churnTok[k%pool], sub, hold); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			connected.Add(1)
		}(k)
	}
	wg.Wait()
	// The last leaves reach the listeners within a gathering interval or two.
	time.Sleep(time.Second)
	elapsed := time.Since(start)
	after := scrapeAll(ctx, cfg.Metrics)
	redisAfter, _ := redisCommands(cfg.Redis)

	secs := cfg.Duration.Seconds()
	frames, events := counts.frames.Load(), counts.events.Load()
	fmt.Fprintf(cfg.Out, "| churn connections | %d made (%.0f/s), %d failed |\n", connected.Load(), float64(connected.Load())/secs, failed.Load())
	fmt.Fprintf(cfg.Out, "| events delivered | %d (%.0f/s in all, %.0f/s per listener; %d joins and leaves made a second) |\n",
		events, float64(events)/secs, float64(events)/secs/float64(cfg.Users), 2*cfg.Churn)
	fmt.Fprintf(cfg.Out, "| frames per listener | %.1f/s (%.1f events a frame) |\n", float64(frames)/secs/float64(cfg.Users), float64(events)/max(float64(frames), 1))
	fmt.Fprintf(cfg.Out, "| server CPU | %.0f%% of a core (all nodes, over %v) |\n", 100*(after.cpu-before.cpu)/elapsed.Seconds(), elapsed.Round(100*time.Millisecond))
	switch {
	case cfg.Redis == "":
	case redisErr != nil:
		fmt.Fprintf(cfg.Out, "| Redis commands | unread: %v |\n", redisErr)
	default:
		total, top := redisAfter.diff(redisBefore)
		fmt.Fprintf(cfg.Out, "| Redis commands | %.0f/s (%s) |\n", float64(total)/elapsed.Seconds(), top)
	}
	if err, _ := firstErr.Load().(error); err != nil {
		fmt.Fprintf(cfg.Out, "\nfirst churn failure: %v\n", err)
	}
	fmt.Fprintln(cfg.Out)
	return nil
}

// churn is one churner's connection: connect, subscribe, hold, close.
func churn(ctx context.Context, cfg Config, k int, tok string, sub []byte, hold time.Duration) error {
	base := cfg.WS[k%len(cfg.WS)]
	ws, err := cfg.dial(ctx, dialer(cfg.SourceIPs, k, false, false), base, tok)
	if err != nil {
		return err
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() { // discard what comes, as a client reads it
		defer close(done)
		for {
			if _, _, err := ws.NextReader(); err != nil {
				return
			}
		}
	}()
	if err := ws.WriteMessage(websocket.TextMessage, sub); err != nil {
		return err
	}
	select {
	case <-time.After(hold):
	case <-ctx.Done():
	}
	ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return nil
}

// presenceQueries waits until the presence API counts every listener, then
// times its two reads of the topic and reports the memory the members
// took in Redis.
func presenceQueries(ctx context.Context, cfg Config, subStart time.Time, memBefore int64) error {
	base := strings.TrimSuffix(cfg.API[0], "/") + "/v1/topics/" + url.PathEscape(cfg.Topic) + "/presence"
	get := func(u string) ([]byte, time.Duration, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+cfg.APIKey)
		t := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, b)
		}
		return b, time.Since(t), err
	}
	for {
		b, _, err := get(base + "/stats")
		if err != nil {
			return fmt.Errorf("presence stats: %w", err)
		}
		var st struct{ Connections int }
		json.Unmarshal(b, &st)
		if st.Connections >= cfg.Users {
			break
		}
		if time.Since(subStart) > time.Minute {
			return fmt.Errorf("presence stats count %d of %d listeners after a minute", st.Connections, cfg.Users)
		}
		time.Sleep(50 * time.Millisecond)
	}
	counted := time.Since(subStart)
	memAfter, _ := redisMemory(cfg.Redis)
	times := func(u string) (lo, hi time.Duration, size int) {
		lo = time.Hour
		for range 5 {
			b, d, err := get(u)
			if err != nil {
				return 0, 0, 0
			}
			lo, hi, size = min(lo, d), max(hi, d), len(b)
		}
		return lo, hi, size
	}
	slo, shi, _ := times(base + "/stats")
	plo, phi, psize := times(base + "?limit=1000")
	fmt.Fprintf(cfg.Out, "| presence of %d listeners | counted by the API %v after the subscriptions began; stats %v-%v; a page of 1,000 %v-%v (%d KiB) |\n",
		cfg.Users, counted.Round(10*time.Millisecond), slo.Round(100*time.Microsecond), shi.Round(100*time.Microsecond),
		plo.Round(100*time.Microsecond), phi.Round(100*time.Microsecond), psize>>10)
	if memBefore > 0 && memAfter > 0 {
		fmt.Fprintf(cfg.Out, "| Redis memory per member | %d bytes (used_memory %+d KiB for the subscriptions) |\n",
			(memAfter-memBefore)/int64(cfg.Users), (memAfter-memBefore)>>10)
	}
	return nil
}

// redisMemory reads used_memory from the Redis at addr (0 without one).
func redisMemory(addr string) (int64, error) {
	body, err := redisInfo(addr, "memory")
	if err != nil || body == "" {
		return 0, err
	}
	for _, l := range strings.Split(body, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no used_memory in INFO memory")
}

// redisStats are Redis's command counts by command (INFO commandstats).
type redisStats map[string]int64

// redisInfo runs INFO section on the Redis at addr ("" without one).
func redisInfo(addr, section string) (string, error) {
	if addr == "" {
		return "", nil
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "*2\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n", len(section), section); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "$") {
		return "", fmt.Errorf("INFO: %q %v", line, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return "", fmt.Errorf("INFO: %q", line)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return "", err
	}
	return string(body), nil
}

// redisCommands reads INFO commandstats from the Redis at addr.
func redisCommands(addr string) (redisStats, error) {
	body, err := redisInfo(addr, "commandstats")
	if err != nil || addr == "" {
		return nil, err
	}
	st := redisStats{}
	for _, l := range strings.Split(body, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(l, "cmdstat_"), ":calls=")
		if !ok || !strings.HasPrefix(l, "cmdstat_") {
			continue
		}
		calls, _ := strconv.ParseInt(strings.Split(rest, ",")[0], 10, 64)
		st[name] = calls
	}
	return st, nil
}

// diff returns the commands run since before, and the five most run.
func (s redisStats) diff(before redisStats) (int64, string) {
	type kv struct {
		name string
		n    int64
	}
	var all []kv
	var total int64
	for name, n := range s {
		if d := n - before[name]; d > 0 && name != "info" {
			all = append(all, kv{name, d})
			total += d
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n })
	var top []string
	for _, e := range all[:min(5, len(all))] {
		top = append(top, fmt.Sprintf("%s %d", e.name, e.n))
	}
	return total, strings.Join(top, ", ")
}
