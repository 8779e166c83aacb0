// Package bench is `herald-bench`: a load generator that a user points at any
// Herald deployment (`herald all` or a cluster) to measure connections held,
// memory and CPU per connection, ingest throughput and end-to-end latency.
//
// Every run prints what it ran against (version, store, nodes, sizes, machine)
// so that numbers can be compared, and stops by itself within its duration.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"
)

// Config is one benchmark run.
type Config struct {
	Mode       string        // connect, unicast, multicast, topic or presence
	Peer       string        // the server spoken to: herald (default) or centrifugo (peer.go)
	Transport  string        // connect mode: ws (default) or sse (sse.go)
	PeerSecret string        // centrifugo: the HMAC key its connection tokens are signed with
	API        []string      // collect base URLs (http://host:port)
	WS         []string      // push base URLs (ws://host:port)
	Metrics    []string      // URLs of the push nodes' /metrics
	APIKey     string        // for sending and minting tokens
	Auth       string        // base URL of the auth service for minting tokens (default: the first target)
	Conns      int           // connect mode: connections to open
	Users      int           // unicast/multicast: connected users (one connection each)
	Senders    int           // concurrent HTTP senders
	Rate       int           // messages per second in all, 0 for as fast as possible
	Batch      int           // messages per request through the batch API, 0 for single requests
	Recipients int           // multicast: users per message
	Topic      string        // topic and presence modes: the topic every user subscribes to
	Churn      int           // presence mode: churn connections a second
	ChurnHold  time.Duration // presence mode: how long each churn connection stays
	Redis      string        // presence mode: the cluster's Redis (host:port), to count its commands
	Scheduled  int           // schedule mode: messages scheduled
	Window     time.Duration // schedule mode: their deliver_at spread over this
	Lead       time.Duration // schedule mode: the window starts this long after the run
	Ack        bool          // clients ack each message (as the SDKs do), which the server's receipts record
	Payload    int           // bytes of each message's JSON payload (at least its send time's); 0: the send time alone
	Compress   bool          // clients offer permessage-deflate
	Protobuf   bool          // clients ask for the subprotocol herald.v1.protobuf
	Duration   time.Duration // sending (or, for connect, holding) time
	Drain      time.Duration // how long to wait for deliveries after sending stops
	SourceIPs  []string      // local addresses to spread client connections over
	CSV        string        // file for per-message latencies (optional)
	Plot       string        // PNG file for the latency distribution (optional)
	CPUProfile string        // file for the load generator's own CPU profile (optional)
	Out        io.Writer

	// Connect mode past one process's open-file limit: at most
	// ConnsPerProcess connections in a process; more are opened by worker
	// processes running Exe (herald-bench) as `herald-bench connect --worker`.
	ConnsPerProcess int
	Exe             string
	Worker          bool      // this process is such a worker: read tokens, connect, report, hold until In ends
	Offset          int       // a worker's first connection number (spreads it over WS and SourceIPs)
	In              io.Reader // a worker's stdin: its tokens, one a line; its parent closes it to end the hold
}

// DefaultConfig returns defaults suitable for `herald all` on this machine.
func DefaultConfig() Config {
	return Config{
		Mode: "unicast", API: []string{"http://127.0.0.1:8080"}, Conns: 10000, Users: 10000,
		Senders: 32, Recipients: 100, Topic: "bench", Churn: 1000, ChurnHold: time.Second, Duration: 10 * time.Second, Drain: 5 * time.Second,
		Scheduled: 100000, Window: time.Minute, Lead: 30 * time.Second,
		ConnsPerProcess: 18000,
	}
}

// Run runs the benchmark in cfg.Mode and prints its report to cfg.Out.
func Run(ctx context.Context, cfg Config) error {
	if len(cfg.WS) == 0 {
		for _, a := range cfg.API {
			cfg.WS = append(cfg.WS, "ws"+strings.TrimPrefix(a, "http"))
		}
	}
	if len(cfg.Metrics) == 0 {
		for _, w := range cfg.WS {
			cfg.Metrics = append(cfg.Metrics, "http"+strings.TrimPrefix(w, "ws")+"/metrics")
		}
	}
	if err := cfg.checkPeer(); err != nil {
		return err
	}
	if cfg.APIKey == "" && !cfg.Worker && !(cfg.centrifugo() && cfg.Mode == "connect") {
		return errors.New("an API key is needed (--api-key, or HERALD_API_KEY)")
	}
	// The load generator shares the machine with the server it measures:
	// with 10,000 reader goroutines, every collection scans 10,000 stacks,
	// and at the default GOGC that was a fifth of the generator's CPU.
	// Collect less often (unless GOGC is set), leaving the CPU to the server.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(800)
	}
	for _, u := range append(append([]string{}, cfg.API...), cfg.WS...) {
		if _, err := url.Parse(u); err != nil {
			return fmt.Errorf("bad URL %q: %w", u, err)
		}
	}
	if cfg.CPUProfile != "" {
		// The load generator shares the machine with the server: its own
		// profile says how much of the machine it takes, and where.
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	switch cfg.Mode {
	case "connect":
		if cfg.Worker {
			return runConnectWorker(ctx, cfg)
		}
		return runConnect(ctx, cfg)
	case "unicast", "multicast", "topic":
		return runDelivery(ctx, cfg)
	case "presence":
		return runPresence(ctx, cfg)
	case "schedule":
		return runSchedule(ctx, cfg)
	default:
		return fmt.Errorf("unknown mode %q: connect, unicast, multicast, topic, presence or schedule", cfg.Mode)
	}
}

// header prints what the run is against, so numbers can be compared.
func header(ctx context.Context, cfg Config, extra string) {
	info := scrapeInfo(ctx, cfg.Metrics)
	fmt.Fprintf(cfg.Out, "herald-bench %s\n", cfg.Mode)
	server := "Herald"
	if cfg.centrifugo() {
		server = "Centrifugo"
	}
	fmt.Fprintf(cfg.Out, "  target   %s %s (version %s, store %s, %d push node(s), %d collect URL(s))\n",
		server, strings.Join(cfg.API, ","), info.version, info.store, len(cfg.WS), len(cfg.API))
	fmt.Fprintf(cfg.Out, "  machine  %s/%s, %d cores, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(cfg.Out, "  run      %s\n\n", extra)
}
