package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/heraldpush/herald/bench"
)

func runBench(ctx context.Context, args []string) error {
	cfg := bench.DefaultConfig()
	dataDir := "./herald-data"
	f := newFlags("bench", `Load-tests a running Herald (herald all or a cluster) and prints a table.
Modes (first argument): connect (idle connections: connect rate, server memory and CPU
per connection), unicast (one recipient per message), multicast (--recipients per message),
topic (every user subscribes to --topic; messages go to the topic).`)
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.Mode, args = args[0], args[1:]
	}
	f.list(&cfg.API, "target", "collect base URLs to send to (and to mint tokens at), comma-separated")
	f.list(&cfg.WS, "ws", "push base URLs to connect to, comma-separated (default: the targets)")
	f.list(&cfg.Metrics, "metrics", "the push nodes' /metrics URLs (default: from --ws)")
	f.str(&cfg.Auth, "auth", "base URL of the auth service that mints tokens (default: the first target, as with herald all)")
	f.str(&cfg.Peer, "peer", "the server spoken to: herald, or centrifugo to measure Centrifugo with this same load generator (make bench-centrifugo)")
	f.str(&cfg.PeerSecret, "peer-secret", "with --peer centrifugo: the HMAC key of its connection tokens (client.token.hmac_secret_key)")
	f.str(&cfg.APIKey, "api-key", "API key (default: HERALD_API_KEY, or DATA_DIR/api-key of a local herald all)")
	f.str(&dataDir, "data-dir", "data directory of a local herald all, to read its generated API key")
	f.int(&cfg.Conns, "conns", "connect mode: connections to open")
	f.int(&cfg.Users, "users", "unicast, multicast and topic: connected users")
	f.int(&cfg.Senders, "senders", "concurrent HTTP senders")
	f.int(&cfg.Rate, "rate", "messages per second in all, evenly spaced over the senders (0: as fast as they go)")
	f.int(&cfg.Batch, "batch", "messages per request through POST /v1/messages/batch (0: one message per request)")
	f.int(&cfg.Recipients, "recipients", "multicast: users per message")
	f.str(&cfg.Topic, "topic", "topic mode: the topic every user subscribes to")
	f.bool(&cfg.Ack, "ack", "clients ack every message, as the SDKs do (the server records the acks in its receipts)")
	f.dur(&cfg.Duration, "duration", "how long to send (connect: to hold the connections)")
	f.dur(&cfg.Drain, "drain", "how long to wait for deliveries after sending stops")
	f.list(&cfg.SourceIPs, "source-ips", "local addresses for client connections, comma-separated (e.g. 127.0.0.2,127.0.0.3)")
	f.str(&cfg.CSV, "csv", "write every message's send time (seconds into the run) and latency to this CSV file, in send order")
	f.str(&cfg.Plot, "plot", "write the latency distribution to this PNG file")
	f.str(&cfg.CPUProfile, "cpu-profile", "write the load generator's own CPU profile to this file (go tool pprof)")
	f.int(&cfg.ConnsPerProcess, "conns-per-process", "connect mode: most connections one load-generator process opens; more are spread over worker processes (each process may hold only so many open files)")
	f.bool(&cfg.Worker, "worker", "internal: run as a worker process of a connect run (connect, report on stdout, hold until stdin ends)")
	f.int(&cfg.Offset, "offset", "internal, with --worker: the first connection number of this worker's share")
	if err := f.parse(args); err != nil {
		return err
	}
	if cfg.APIKey == "" {
		if b, err := os.ReadFile(filepath.Join(dataDir, "api-key")); err == nil {
			cfg.APIKey = strings.TrimSpace(string(b))
		}
	}
	cfg.Out, cfg.In = os.Stdout, os.Stdin
	if exe, err := os.Executable(); err == nil {
		cfg.Exe = exe
	}
	if err := bench.Run(ctx, cfg); err != nil {
		return fmt.Errorf("bench %s: %w", cfg.Mode, err)
	}
	return nil
}
