package bench

import (
	"context"
	"fmt"
	"time"
)

// runConnect opens Conns idle connections, holds them for Duration, and
// reports the connect rate and the server's memory and CPU per connection
// (read from the push nodes' /metrics).
func runConnect(ctx context.Context, cfg Config) error {
	procs := 1
	if cfg.ConnsPerProcess > 0 && cfg.Conns > cfg.ConnsPerProcess {
		procs = (cfg.Conns + cfg.ConnsPerProcess - 1) / cfg.ConnsPerProcess
	}
	header(ctx, cfg, fmt.Sprintf("%d idle connections, held %s, client source addresses %v, %d load-generator process(es)",
		cfg.Conns, cfg.Duration, cfg.SourceIPs, procs))
	toks, err := cfg.mintTokens(ctx, benchUsers("bench-c", cfg.Conns))
	if err != nil {
		return err
	}
	before := scrapeAll(ctx, cfg.Metrics)
	var opened int
	var took time.Duration
	switch cfg.Transport {
	case "", "ws", "sse":
	default:
		return fmt.Errorf("--transport %q: ws or sse", cfg.Transport)
	}
	if cfg.Transport == "sse" {
		if procs > 1 {
			return fmt.Errorf("--transport sse opens its streams from one process: --conns %d is over --conns-per-process", cfg.Conns)
		}
		streams, t, err := connectSSE(ctx, cfg, toks)
		if err != nil {
			return err
		}
		defer closeStreams(streams)
		opened, took = len(streams), t
	} else if procs == 1 {
		conns, t, err := connectAll(ctx, cfg, toks)
		if err != nil {
			return err
		}
		defer closeAll(conns) // each has its reader, which answers the server's pings
		opened, took = len(conns), t
	} else {
		w, err := startWorkers(ctx, cfg, toks, procs)
		if err != nil {
			return err
		}
		defer w.stop()
		opened, took = w.connected, w.took
	}
	time.Sleep(5 * time.Second) // let the connect burst's garbage be collected
	held := scrapeAll(ctx, cfg.Metrics)
	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
		return ctx.Err()
	}
	after := scrapeAll(ctx, cfg.Metrics)
	n := float64(opened)
	// The connections the server reports holding: at the end of the hold
	// too, as Centrifugo refreshes its gauge only every 10 s.
	fmt.Fprintf(cfg.Out, "| connections | connect time | connects/s | server connections | server RSS before | server RSS held | RSS per connection | server CPU while idle |\n")
	fmt.Fprintf(cfg.Out, "|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(cfg.Out, "| %d | %s | %.0f | %.0f | %.1f MiB | %.1f MiB | %.2f KiB | %.2f %% of a core |\n",
		opened, took.Round(time.Millisecond), n/took.Seconds(), max(held.connections, after.connections),
		before.rss/(1<<20), held.rss/(1<<20), (held.rss-before.rss)/n/1024,
		100*(after.cpu-held.cpu)/cfg.Duration.Seconds())
	return nil
}

func (c Config) authURL() string {
	if c.Auth != "" {
		return c.Auth
	}
	return c.API[0]
}
