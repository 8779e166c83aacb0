package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// The writing process starts the reading one from its own executable: under
// test that is the test binary, which then runs main instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("HERALD_FLOOR_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Each mode runs end to end at a small size and reports what it measured.
// Figures are never checked: this is a benchmark.
func TestModes(t *testing.T) {
	t.Setenv("HERALD_FLOOR_CHILD", "1")
	for _, c := range []struct {
		cfg  config
		want []string
	}{
		{config{mode: "frames", conns: 50, writers: 2}, []string{"floor frames: 50 connections", "messages/s", "a message"}},
		{config{mode: "http", conns: 50, senders: 4, server: "nethttp"}, []string{"server  nethttp", "requests answered 202", "errors 0", "latency p50"}},
		{config{mode: "http", conns: 50, senders: 4, server: "raw"}, []string{"server  raw", "requests answered 202", "errors 0", "latency p50"}},
		{config{mode: "http", conns: 50, senders: 4, rate: 200, server: "nethttp"}, []string{"errors 0", "latency p50"}},
		{config{mode: "http", conns: 50, senders: 4, server: "raw", durable: t.TempDir()}, []string{"stored  group commit", "errors 0", "latency p50"}},
		{config{mode: "http", conns: 50, senders: 4, rate: 200, server: "nethttp", durable: t.TempDir() + "/new/dir", commitIv: time.Millisecond}, []string{"commit interval 1ms", "errors 0"}},
		{config{mode: "pings", conns: 50, interval: 200 * time.Millisecond, tick: 50 * time.Millisecond, poller: "epoll"}, []string{"poller  epoll", "pings written"}},
		{config{mode: "pings", conns: 50, interval: 200 * time.Millisecond, tick: 50 * time.Millisecond, poller: "goroutines"}, []string{"poller  goroutines", "pings written"}},
	} {
		cfg := c.cfg
		cfg.size, cfg.duration = 100, time.Second
		var out bytes.Buffer
		if err := runWriter(cfg, &out); err != nil {
			t.Fatalf("%s: %v", cfg.mode, err)
		}
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: no %q in\n%s", cfg.mode, w, out.String())
			}
		}
		if strings.Contains(out.String(), " 0 messages/s") || strings.Contains(out.String(), "answered 202: 0 ") {
			t.Errorf("%s: nothing moved:\n%s", cfg.mode, out.String())
		}
	}
}
