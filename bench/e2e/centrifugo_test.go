package e2e

import (
	"encoding/json"
	"net"
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

// TestBenchAgainstCentrifugo runs `herald-bench --peer centrifugo` against
// a real Centrifugo v6.9.1 set up as `make bench-centrifugo` sets it up
// (bench/centrifugo/config.json): every mode it supports must deliver every
// message it published, in offset order. Building Centrifugo takes minutes
// on a fresh machine (its own module and dependencies), so this runs only
// with HERALD_CENTRIFUGO=1; `make bench-centrifugo` runs the real thing.
func TestBenchAgainstCentrifugo(t *testing.T) {
	if os.Getenv("HERALD_CENTRIFUGO") == "" {
		t.Skip("builds Centrifugo (minutes); run with HERALD_CENTRIFUGO=1")
	}
	bin := testenv.CentrifugoBinary(t)
	raw, err := os.ReadFile(filepath.Join("..", "centrifugo", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var conf map[string]any
	if err := json.Unmarshal(raw, &conf); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreePort(t, "127.0.0.1")
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	conf["http_server"] = map[string]any{"address": host, "port": p}
	raw, _ = json.Marshal(conf)
	file := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, "centrifugo", bin, nil, "-c", file)
	if err := probe.WaitHTTP("http://"+addr+"/health", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	client := conf["client"].(map[string]any)
	secret := client["token"].(map[string]any)["hmac_secret_key"].(string)
	key := conf["http_api"].(map[string]any)["key"].(string)
	runBenchModes(t, []benchRun{
		// Centrifugo's connection gauge is refreshed every 10 s: a hold
		// longer than that (with the 5 s settling) lets it count them.
		{"connect", func(c *bench.Config) { c.Mode, c.Conns, c.Duration = "connect", 100, 6*time.Second }},
		// Past one process's share: worker processes, handed their tokens.
		{"connect-workers", func(c *bench.Config) {
			c.Mode, c.Conns, c.Duration, c.ConnsPerProcess, c.Exe = "connect", 100, 6*time.Second, 40, testenv.BenchBinary(t)
		}},
		{"unicast", func(c *bench.Config) { c.Mode, c.Users, c.Senders = "unicast", 300, 4 }},
		{"batch", func(c *bench.Config) { c.Mode, c.Users, c.Senders, c.Batch = "unicast", 300, 2, 20 }},
		{"multicast", func(c *bench.Config) { c.Mode, c.Users, c.Senders, c.Recipients = "multicast", 300, 2, 50 }},
	}, func(c *bench.Config) {
		c.Peer, c.PeerSecret = bench.PeerCentrifugo, secret
		c.API, c.APIKey = []string{"http://" + addr}, key
	}, func(t *testing.T, report string, row []string) {
		if !strings.Contains(report, "Centrifugo") {
			t.Fatalf("the report does not say what it ran against:\n%s", report)
		}
		if row[11] != "0" {
			t.Fatalf("publishes refused:\n%s", report)
		}
	})
}
