package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/bench"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// TestBenchModesAgainstAll runs every `herald-bench` mode, small and short,
// against a real herald all: each must finish, and the delivery modes must
// report nothing lost and nothing out of order. Speed is not checked (the
// figures are docs/benchmarks.md's business). The server pings every
// second with a 3 s pong timeout, so a client the load generator left unread
// for a moment would be cut off.
func TestBenchModesAgainstAll(t *testing.T) {
	if testing.Short() {
		t.Skip("starts herald all")
	}
	addr := testenv.FreePort(t, "127.0.0.1")
	api := startAll(t, t.TempDir(), addr, "--ping-interval", "1s", "--pong-timeout", "3s")
	runBenchModes(t, []benchRun{
		{"connect", func(c *bench.Config) { c.Mode, c.Conns, c.Duration = "connect", 300, 4*time.Second }},
		// Past one process's share: three worker processes of the built
		// binary hold 100 connections each.
		{"connect-workers", func(c *bench.Config) {
			c.Mode, c.Conns, c.Duration, c.ConnsPerProcess, c.Exe = "connect", 300, 4*time.Second, 100, testenv.BenchBinary(t)
		}},
		// Idle event streams: held past several pong timeouts, which a
		// stream's client cannot answer.
		{"connect-sse", func(c *bench.Config) { c.Mode, c.Conns, c.Duration, c.Transport = "connect", 300, 4*time.Second, "sse" }},
		{"unicast", func(c *bench.Config) { c.Mode, c.Users, c.Senders = "unicast", 300, 4 }},
		{"batch", func(c *bench.Config) { c.Mode, c.Users, c.Senders, c.Batch = "unicast", 300, 2, 20 }},
		{"steady", func(c *bench.Config) { c.Mode, c.Users, c.Senders, c.Rate = "unicast", 300, 4, 200 }},
		{"multicast", func(c *bench.Config) { c.Mode, c.Users, c.Senders, c.Recipients = "multicast", 300, 2, 50 }},
		{"topic", func(c *bench.Config) { c.Mode, c.Users, c.Senders, c.Rate, c.Topic = "topic", 300, 1, 10, "benchtest" }},
	}, func(c *bench.Config) { c.API, c.APIKey = []string{api.Base}, api.Key }, nil)
}

// benchRun is one `herald-bench` run of an e2e test: the defaults, tuned.
type benchRun struct {
	name string
	tune func(*bench.Config)
}

// runBenchModes runs each of runs (short: 2 s of sending) with target set
// by target, and checks its report: a connect run opened its connections
// and the server held them; any other accepted messages and lost none, nor
// delivered any out of order, and says what the sending cost in CPU.
// check, when given, looks at the whole report of a delivery run too.
func runBenchModes(t *testing.T, runs []benchRun, target func(*bench.Config), check func(t *testing.T, report string, row []string)) {
	t.Helper()
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			var out bytes.Buffer
			cfg := bench.DefaultConfig()
			target(&cfg)
			cfg.Out = &out
			cfg.Duration, cfg.Drain = 2*time.Second, 10*time.Second
			run.tune(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := bench.Run(ctx, cfg); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if cfg.Mode == "connect" {
				wantConnections(t, out.String(), cfg.Conns)
				return
			}
			// accepted msg/s | delivered/s | p50 | p90 | p99 | p99.9 | max | accepted | deliveries | lost | out of order | refused
			row := lastRow(out.String())
			if len(row) < 12 || row[7] == "0" || row[9] != "0" || row[10] != "0" {
				t.Fatalf("want messages accepted, none lost or out of order:\n%s", out.String())
			}
			// What the sending cost the server (its /metrics) and the load generator.
			if !strings.Contains(out.String(), "while sending: server ") || strings.Contains(out.String(), "no /metrics") {
				t.Fatalf("want the CPU of the server and the load generator while sending:\n%s", out.String())
			}
			if check != nil {
				check(t, out.String(), row)
			}
		})
	}
}

// TestBenchWorkersFailFast: when the worker processes cannot connect, the
// run ends with their error, promptly, and leaves no worker behind.
func TestBenchWorkersFailFast(t *testing.T) {
	if testing.Short() {
		t.Skip("starts herald all")
	}
	addr := testenv.FreePort(t, "127.0.0.1")
	api := startAll(t, t.TempDir(), addr)
	var out bytes.Buffer
	cfg := bench.DefaultConfig()
	cfg.Mode, cfg.Conns, cfg.ConnsPerProcess, cfg.Exe = "connect", 40, 20, testenv.BenchBinary(t)
	cfg.API, cfg.APIKey, cfg.Out = []string{api.Base}, api.Key, &out
	cfg.WS = []string{"ws://" + testenv.FreePort(t, "127.0.0.1")} // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	err := bench.Run(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "worker") {
		t.Fatalf("want a worker's error, got %v\n%s", err, out.String())
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("took %s to fail", took)
	}
}

// wantConnections fails the test unless a connect report says n
// connections were opened and the server held n.
func wantConnections(t *testing.T, report string, n int) {
	t.Helper()
	if row := lastRow(report); row[0] != strconv.Itoa(n) || row[3] != strconv.Itoa(n) {
		t.Fatalf("connections opened / held by the server: %s / %s, want %d\n%s", row[0], row[3], n, report)
	}
}

// lastRow returns the cells of the report's last table row.
func lastRow(report string) []string {
	var last string
	for _, line := range strings.Split(report, "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "|---") {
			last = line
		}
	}
	var cells []string
	for _, c := range strings.Split(strings.Trim(last, "| "), "|") {
		cells = append(cells, strings.TrimSpace(c))
	}
	return cells
}

// startAll runs the real herald binary (`herald all`) on addr with its data
// in dir, and returns its API.
func startAll(t *testing.T, dir, addr string, extra ...string) probe.API {
	t.Helper()
	p := testenv.Start(t, "herald all", testenv.HeraldBinary(t), nil, append([]string{"all", "--listen", addr, "--data-dir", dir}, extra...)...)
	if err := probe.WaitHTTP("http://"+addr+"/readyz", 15*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Log.String())
	}
	key, err := os.ReadFile(filepath.Join(dir, "api-key"))
	if err != nil {
		t.Fatal(err)
	}
	return probe.API{Base: "http://" + addr, Key: strings.TrimSpace(string(key))}
}
