// Command herald runs Herald's services: `herald auth|collect|dispatch|push`
// each alone (a cluster), or `herald all` for everything in one process on
// embedded defaults. main only wires: the logic lives in the service packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/heraldpush/herald/webpush"
	"os/signal"
	"syscall"
	"time"

	"github.com/heraldpush/herald/internal/logbuf"
	"github.com/heraldpush/herald/internal/tlsfiles"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `Herald: clustered WebSocket message push.

Usage: herald <command> [flags]

Commands:
  all       everything in one process on embedded defaults (no Redis or MongoDB needed)
  auth      the auth service: tokens to user IDs
  collect   the collect service: HTTP ingest, stored in MongoDB, handed to dispatch
  dispatch  the dispatch service: routes messages to push nodes through Redis
  push      the push service: holds WebSocket connections
  vapid-keys  print a new VAPID key pair for Web Push, as HERALD_ settings
  version   print the version

Run 'herald <command> --help' for a command's flags; every flag is also an
environment variable HERALD_<FLAG_NAME>.
`

var commands = map[string]func(ctx context.Context, args []string) error{
	"all":      runAll,
	"auth":     runAuth,
	"collect":  runCollect,
	"dispatch": runDispatch,
	"push":     runPush,
	"vapid-keys": func(context.Context, []string) error {
		k, err := webpush.GenerateKeys()
		if err != nil {
			return err
		}
		fmt.Printf("HERALD_VAPID_PUBLIC_KEY=%s\nHERALD_VAPID_PRIVATE_KEY=%s\n", k.Public, k.Private)
		return nil
	},
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Println("herald", version)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "herald: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd(ctx, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "herald %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// logOptions are the logging and debugging flags every service command has.
type logOptions struct {
	format  string
	level   string
	pprof   string
	metrics string
	// HTTP server timeouts: every command's public listener.
	headerTimeout time.Duration
	readTimeout   time.Duration
	headerBytes   int
	tlsCert       string
	tlsKey        string
}

func (o *logOptions) register(f *flags) {
	o.format, o.level = "text", "info"
	f.str(&o.format, "log-format", "log format: text or json")
	f.str(&o.level, "log-level", "log level: debug, info, warn or error")
	f.str(&o.pprof, "pprof-listen", "address for /debug/pprof (off when empty; keep it on a loopback or private address)")
	f.str(&o.metrics, "metrics-listen", `address for /metrics on a listener of its own, e.g. "private:9090" (empty: /metrics on --listen with the other endpoints)`)
	o.headerTimeout, o.readTimeout = 10*time.Second, 30*time.Second
	f.dur(&o.headerTimeout, "read-header-timeout", "an HTTP request (or WebSocket upgrade) must send its headers within this (slowloris)")
	f.dur(&o.readTimeout, "read-timeout", "an HTTP request must be read whole, body included, within this")
	o.headerBytes = 16 << 10
	f.int(&o.headerBytes, "max-header-bytes", "largest HTTP request head (request line and headers) on every listener; larger ones get 431")
	f.str(&o.tlsCert, "tls-cert", "PEM certificate (chain) file: serve HTTPS and WSS on the public listener (read again when it changes)")
	f.str(&o.tlsKey, "tls-key", "PEM private key file for --tls-cert")
}

// parse parses the command line into f, then sets up logging from it.
func (o *logOptions) parse(f *flags, args []string) error {
	if err := f.parse(args); err != nil {
		return err
	}
	return o.setup()
}

func (o *logOptions) setup() error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch o.format {
	case "text":
		slog.SetDefault(slog.New(logbuf.Wrap(slog.NewTextHandler(os.Stderr, opts))))
	case "json":
		slog.SetDefault(slog.New(logbuf.Wrap(slog.NewJSONHandler(os.Stderr, opts))))
	default:
		return fmt.Errorf("--log-format: %q is neither text nor json", o.format)
	}
	pprofAddr = o.pprof
	metricsListen = ""
	if o.metrics != "" {
		addr, err := resolveInternal(o.metrics)
		if err != nil {
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		metricsListen = addr
	}
	if pprofAddr != "" && !isInternalListen(pprofAddr) {
		slog.Warn("/debug/pprof listens on every interface or a public address: anyone who reaches it sees the command line and can profile the process", "pprof_listen", pprofAddr)
	}
	headerTimeout, readTimeout = o.headerTimeout, o.readTimeout
	if o.headerBytes < 8<<10 {
		return fmt.Errorf("--max-header-bytes: %d is under 8 KiB, too small for browsers' request heads", o.headerBytes)
	}
	maxHeaderBytes = o.headerBytes
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	tlsPair = nil
	if o.tlsCert != "" {
		p, err := tlsfiles.Load(o.tlsCert, o.tlsKey)
		if err != nil {
			return err
		}
		tlsPair = p
	}
	return nil
}
