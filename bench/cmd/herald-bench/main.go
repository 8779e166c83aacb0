// Command herald-bench is Herald's load generator: it drives a running
// Herald (herald all or a cluster), or Centrifugo for comparison, and
// prints what it measured. It is a module of its own (bench/), so that the
// server binary and its go.mod carry none of it (gonum/plot among others).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/heraldpush/herald/bench"
)

const doc = `Load-tests a running Herald (herald all or a cluster) and prints a table.
Modes (first argument): connect (idle connections: connect rate, server memory and CPU
per connection), unicast (one recipient per message), multicast (--recipients per message),
topic (every user subscribes to --topic; messages go to the topic), presence (--users listeners
of --topic, a namespace with join_leave, count the join and leave frames while --churn users a
second connect, subscribe, stay --churn-hold and leave; --redis counts a cluster's Redis commands),
schedule (--scheduled messages to --users users, deliver_at spread over --window from --lead on:
how late they go out).`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintf(os.Stderr, "herald-bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg := bench.DefaultConfig()
	dataDir := "./herald-data"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.Mode, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("herald-bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: herald-bench MODE [flags]\n\n%s\n\nFlags:\n", doc)
		fs.PrintDefaults()
	}
	listFlag(fs, &cfg.API, "target", "collect base URLs to send to (and to mint tokens at), comma-separated")
	listFlag(fs, &cfg.WS, "ws", "push base URLs to connect to, comma-separated (default: the targets)")
	listFlag(fs, &cfg.Metrics, "metrics", "the push nodes' /metrics URLs (default: from --ws)")
	fs.StringVar(&cfg.Auth, "auth", cfg.Auth, "base URL of the auth service that mints tokens (default: the first target, as with herald all)")
	fs.StringVar(&cfg.Peer, "peer", cfg.Peer, "the server spoken to: herald, or centrifugo to measure Centrifugo with this same load generator (make bench-centrifugo)")
	fs.StringVar(&cfg.PeerSecret, "peer-secret", cfg.PeerSecret, "with --peer centrifugo: the HMAC key of its connection tokens (client.token.hmac_secret_key)")
	fs.StringVar(&cfg.APIKey, "api-key", cfg.APIKey, "API key (default: HERALD_API_KEY, or DATA_DIR/api-key of a local herald all)")
	fs.StringVar(&dataDir, "data-dir", dataDir, "data directory of a local herald all, to read its generated API key")
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "connect mode: connections to open")
	fs.StringVar(&cfg.Transport, "transport", "ws", "connect mode: ws (WebSocket /ws) or sse (Server-Sent Events /sse; one load-generator process)")
	fs.IntVar(&cfg.Users, "users", cfg.Users, "unicast, multicast and topic: connected users")
	fs.IntVar(&cfg.Senders, "senders", cfg.Senders, "concurrent HTTP senders")
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "messages per second in all, evenly spaced over the senders (0: as fast as they go)")
	fs.IntVar(&cfg.Batch, "batch", cfg.Batch, "messages per request through POST /v1/messages/batch (0: one message per request)")
	fs.IntVar(&cfg.Recipients, "recipients", cfg.Recipients, "multicast: users per message")
	fs.StringVar(&cfg.Topic, "topic", cfg.Topic, "topic mode: the topic every user subscribes to")
	fs.IntVar(&cfg.Churn, "churn", cfg.Churn, "presence mode: connections a second that subscribe to --topic and leave after --churn-hold")
	fs.DurationVar(&cfg.ChurnHold, "churn-hold", cfg.ChurnHold, "presence mode: how long each churn connection stays")
	fs.IntVar(&cfg.Scheduled, "scheduled", cfg.Scheduled, "schedule mode: messages to schedule (to --users connected users)")
	fs.DurationVar(&cfg.Window, "window", cfg.Window, "schedule mode: their deliver_at spread evenly over this")
	fs.DurationVar(&cfg.Lead, "lead", cfg.Lead, "schedule mode: the window starts this long after scheduling begins")
	fs.StringVar(&cfg.Redis, "redis", cfg.Redis, "presence mode: the cluster's Redis (host:port), to report the commands it ran")
	fs.IntVar(&cfg.Payload, "payload-bytes", cfg.Payload, "bytes of each message's JSON payload: its send time and words of English-like text up to this size (0: the send time alone)")
	fs.BoolVar(&cfg.Compress, "compression", cfg.Compress, "clients offer permessage-deflate (Herald: with no context takeover; frames of 512 bytes or more come compressed)")
	encoding := fs.String("encoding", "json", "unicast, multicast and topic: the frames' encoding, json or protobuf (the subprotocol herald.v1.protobuf)")
	fs.BoolVar(&cfg.Ack, "ack", cfg.Ack, "clients ack every message, as the SDKs do (the server records the acks in its receipts)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to send (connect: to hold the connections)")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "how long to wait for deliveries after sending stops")
	listFlag(fs, &cfg.SourceIPs, "source-ips", "local addresses for client connections, comma-separated (e.g. 127.0.0.2,127.0.0.3)")
	fs.StringVar(&cfg.CSV, "csv", cfg.CSV, "write every message's send time (seconds into the run) and latency to this CSV file, in send order")
	fs.StringVar(&cfg.Plot, "plot", cfg.Plot, "write the latency distribution to this PNG file")
	fs.StringVar(&cfg.CPUProfile, "cpu-profile", cfg.CPUProfile, "write the load generator's own CPU profile to this file (go tool pprof)")
	fs.IntVar(&cfg.ConnsPerProcess, "conns-per-process", cfg.ConnsPerProcess, "connect mode: most connections one load-generator process opens; more are spread over worker processes (each process may hold only so many open files)")
	fs.BoolVar(&cfg.Worker, "worker", cfg.Worker, "internal: run as a worker process of a connect run (connect, report on stdout, hold until stdin ends)")
	fs.IntVar(&cfg.Offset, "offset", cfg.Offset, "internal, with --worker: the first connection number of this worker's share")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *encoding {
	case "json":
	case "protobuf":
		cfg.Protobuf = true
	default:
		return fmt.Errorf("--encoding %q: json or protobuf", *encoding)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see herald-bench --help)", fs.Arg(0))
	}
	if cfg.APIKey == "" {
		cfg.APIKey = os.Getenv("HERALD_API_KEY")
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
		return fmt.Errorf("%s: %w", cfg.Mode, err)
	}
	return nil
}

// listFlag registers a comma-separated list flag.
func listFlag(fs *flag.FlagSet, p *[]string, name, usage string) {
	fs.Func(name, usage+" (default "+strings.Join(*p, ",")+")", func(s string) error {
		*p = nil
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				*p = append(*p, v)
			}
		}
		return nil
	})
}
