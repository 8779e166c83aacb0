package e2e

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/bench"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/traffic"
)

// TestClusterFigures measures what stands in for a large cluster on this
// machine (../shared/SCALE.md): Redis commands per minute per 1,000 idle
// connections, collect throughput with one and two instances on the same
// store, and deliveries/s with 1, 2 and 3 push nodes. It is a benchmark, not a
// test: it runs only with HERALD_FIGURES=1 (make bench-cluster) and asserts
// nothing about speed. HERALD_FIGURES_ONLY picks one part: throughput
// (the Redis minute, collect and push scaling, with each service's CPU),
// topic or presence.
func TestClusterFigures(t *testing.T) {
	if os.Getenv("HERALD_FIGURES") == "" {
		t.Skip("benchmark; run with HERALD_FIGURES=1 (make bench-cluster)")
	}
	quiet := time.Duration(envInt("HERALD_FIGURES_QUIET_SECONDS", 60)) * time.Second
	if os.Getenv("HERALD_FIGURES_ONLY") == "presence" {
		presenceFigures(t)
		return
	}
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 2, Dispatch: 1, Push: 3})
	var out bytes.Buffer
	base := bench.DefaultConfig()
	base.APIKey = testenv.ClusterAPIKey
	base.Auth = c.Auth.URL()
	base.Out = &out
	base.Duration = 5 * time.Second
	ctx := context.Background()
	if os.Getenv("HERALD_FIGURES_ONLY") == "topic" {
		topicFigures(t, c, base)
		return
	}

	// 1. Redis commands in a quiet minute with 1,000 idle connections.
	stopIdle := idleDevices(t, c, 500) // 500 users x 2 devices = 1,000 connections over 3 nodes
	cli := func(args ...string) string {
		host, port, _ := strings.Cut(c.Redis.Addr, ":")
		b, err := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	time.Sleep(3 * time.Second)
	cli("CONFIG", "RESETSTAT")
	time.Sleep(quiet)
	total := 0
	var lines []string
	for _, line := range strings.Split(cli("INFO", "commandstats"), "\n") {
		if !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		name, rest, _ := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		calls, _ := strconv.Atoi(strings.Split(rest, ",")[0])
		total += calls
		lines = append(lines, fmt.Sprintf("%s %d", name, calls))
	}
	perMin := float64(total) / quiet.Minutes()
	fmt.Fprintf(&out, "\nRedis in a quiet %s, 1,000 idle connections on 3 push nodes: %d commands (%s), %.0f per minute, %.0f per minute per 1,000 connections\n\n",
		quiet, total, strings.Join(lines, ", "), perMin, perMin)
	stopIdle()

	// 2. Collect: one instance, then two, on the same store.
	for _, n := range []int{1, 2} {
		cfg := base
		cfg.Mode, cfg.Users, cfg.Senders, cfg.Batch = "unicast", 500, 16, 0
		cfg.API = nil
		for _, col := range c.Collect[:n] {
			cfg.API = append(cfg.API, col.URL())
		}
		for _, p := range c.Push {
			cfg.WS = append(cfg.WS, p.WS())
		}
		fmt.Fprintf(&out, "### collect instances: %d\n\n", n)
		from, before := out.Len(), serviceCPU(c)
		if err := bench.Run(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		accepted, _ := runCounts(out.String()[from:])
		fmt.Fprintf(&out, "CPU of each part of the cluster while it ran (a message: one recipient):\n\n%s\n", cpuReport(before, serviceCPU(c), accepted, "message"))
	}
	// 3. Deliveries/s with 1, 2 and 3 push nodes (multicast, so delivery dominates).
	for n := 1; n <= 3; n++ {
		cfg := base
		cfg.Mode, cfg.Users, cfg.Recipients, cfg.Senders = "multicast", 900, 100, 4
		cfg.API = []string{c.Collect[0].URL(), c.Collect[1].URL()}
		cfg.WS = nil
		for _, p := range c.Push[:n] {
			cfg.WS = append(cfg.WS, p.WS())
		}
		fmt.Fprintf(&out, "### push nodes: %d\n\n", n)
		from, before := out.Len(), serviceCPU(c)
		if err := bench.Run(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		_, deliveries := runCounts(out.String()[from:])
		fmt.Fprintf(&out, "CPU of each part of the cluster while it ran:\n\n%s\n", cpuReport(before, serviceCPU(c), deliveries, "delivery"))
	}
	t.Logf("\n%s", out.String())
	if path := os.Getenv("HERALD_FIGURES_REPORT"); path != "" {
		os.WriteFile(path, out.Bytes(), 0o644)
	}
	if os.Getenv("HERALD_FIGURES_ONLY") == "throughput" {
		return
	}
	topicFigures(t, c, base)
}

// topicFigures: one topic with 18,000 subscribers, on 1, 2 and 3 push nodes,
// at a steady 5 messages a second (90,000 deliveries a second, under one
// node's capacity) and 8 (144,000, over it): the curve of deliveries/s by
// push nodes. HERALD_FIGURES_TOPIC_RATES sets other rates (comma-separated). A topic message is one store write whatever its subscribers, so
// unlike the figures above this is not FerretDB-bound. The report goes to
// HERALD_FIGURES_REPORT with "-topic" before its extension.
func topicFigures(t *testing.T, c *testenv.Cluster, base bench.Config) {
	var out bytes.Buffer
	var rates []int
	for _, r := range strings.Split(cmp.Or(os.Getenv("HERALD_FIGURES_TOPIC_RATES"), "5,8"), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(r)); err == nil && n > 0 {
			rates = append(rates, n)
		}
	}
	for i, run := 0, 0; i < len(rates)*3; i++ {
		rate, n := rates[i/3], i%3+1
		run++
		cfg := base
		cfg.Out = &out
		cfg.Mode, cfg.Users, cfg.Senders, cfg.Rate, cfg.Duration = "topic", 18000, 2, rate, 15*time.Second
		cfg.Topic = fmt.Sprintf("figures%d", run) // a fresh topic: no history from the run before
		cfg.SourceIPs = []string{"127.0.0.20", "127.0.0.21", "127.0.0.22"}
		cfg.API = []string{c.Collect[0].URL()}
		cfg.WS = nil
		for _, p := range c.Push[:n] {
			cfg.WS = append(cfg.WS, p.WS())
		}
		fmt.Fprintf(&out, "### topic at %d msg/s, 18,000 subscribers on %d push node(s)\n\n", rate, n)
		if err := bench.Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("\n%s", out.String())
	if path := os.Getenv("HERALD_FIGURES_REPORT"); path != "" {
		os.WriteFile(strings.TrimSuffix(path, ".md")+"-topic.md", out.Bytes(), 0o644)
	}
}

// presenceFigures: a join/leave storm on a cluster of three push nodes
// with presence on Redis: 1,000 listeners of one topic of a join_leave
// namespace, and 1,000 users a second connecting, subscribing and leaving
// a second later. The report goes to HERALD_FIGURES_REPORT with
// "-presence" before its extension.
func presenceFigures(t *testing.T) {
	ns := `HERALD_NAMESPACES={"room": {"presence": true, "join_leave": true}, "quiet": {"presence": true}}`
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 1, Dispatch: 1, Push: 3, PushEnv: []string{ns}, CollectEnv: []string{ns}})
	var out bytes.Buffer
	cfg := bench.DefaultConfig()
	cfg.APIKey, cfg.Auth, cfg.Out = testenv.ClusterAPIKey, c.Auth.URL(), &out
	cfg.Mode, cfg.Topic, cfg.Users = "presence", "room:storm", 1000
	cfg.Churn, cfg.ChurnHold = envInt("HERALD_FIGURES_CHURN", 1000), time.Second
	cfg.Duration = 15 * time.Second
	cfg.Redis = c.Redis.Addr
	cfg.SourceIPs = []string{"127.0.0.20", "127.0.0.21", "127.0.0.22"}
	cfg.API = []string{c.Collect[0].URL()}
	for _, p := range c.Push {
		cfg.WS = append(cfg.WS, p.WS())
	}
	fmt.Fprintf(&out, "### join/leave storm: %d listeners, %d connects and disconnects a second, 3 push nodes, presence on Redis\n\n", cfg.Users, cfg.Churn)
	if err := bench.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	// One large topic, of a namespace without join and leave frames: the
	// presence API's reads, and the members' memory in Redis (the churn
	// here is only to run the mode).
	big := cfg
	big.Topic, big.Users, big.Churn, big.Duration = "quiet:big", 18000, 10, 3*time.Second
	fmt.Fprintf(&out, "### presence of one topic with 18,000 subscribers on 3 push nodes, on Redis\n\n")
	if err := bench.Run(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	if path := os.Getenv("HERALD_FIGURES_REPORT"); path != "" {
		os.WriteFile(strings.TrimSuffix(path, ".md")+"-presence.md", out.Bytes(), 0o644)
	}
}

// runCounts reads the messages accepted and the deliveries from the
// result row of a delivery run's report.
func runCounts(report string) (accepted, deliveries int64) {
	for _, line := range strings.Split(report, "\n") {
		f := strings.Split(line, "|")
		if len(f) < 11 || strings.Contains(line, "---") || strings.Contains(line, "accepted") {
			continue
		}
		accepted, _ = strconv.ParseInt(strings.TrimSpace(f[8]), 10, 64)
		deliveries, _ = strconv.ParseInt(strings.TrimSpace(f[9]), 10, 64)
	}
	return accepted, deliveries
}

// envInt is the environment variable name as a positive number, else def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// idleDevices connects users with two devices each, spread over the
// cluster's push nodes, waits until every one is connected, and returns
// what disconnects them.
func idleDevices(t *testing.T, c *testenv.Cluster, users int) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var devices []*traffic.Device
	auth := c.AuthAPI()
	for u := range users {
		user := fmt.Sprintf("user%d", u)
		tok := auth.Token(t, user)
		for dev := range 2 {
			node := c.Push[(u*2+dev)%len(c.Push)]
			d := traffic.NewDevice(user, fmt.Sprintf("dev%d", dev), tok, node.WS)
			devices = append(devices, d)
			wg.Go(func() { d.Run(ctx) })
		}
	}
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	for _, d := range devices {
		testenv.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
			if d.Stats().Connects == 0 {
				return fmt.Errorf("device %s/%s never connected: %v", d.User, d.Name, d.Stats().LastErr)
			}
			return nil
		})
	}
	return stop
}
