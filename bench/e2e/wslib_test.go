package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald/bench"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// TestWSLibServersHoldConnections runs `herald-bench connect` against each
// server of the WebSocket-library comparison (bench/wslib, `make
// bench-wslib`): each must take the load generator's connections, answer
// its token requests and report them in /metrics, so the comparison runs
// on a fresh clone. The figures themselves are docs/benchmarks.md's.
func TestWSLibServersHoldConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the comparison servers")
	}
	bin := testenv.WSLibBinary(t)
	for _, lib := range []string{"gorilla", "gws", "gobwas", "nbio", "herald"} {
		t.Run(lib, func(t *testing.T) {
			t.Parallel()
			addr := testenv.FreePort(t, "127.0.0.1")
			testenv.Start(t, "wslib "+lib, bin, nil, "-lib", lib, "-listen", addr)
			if err := probe.WaitHTTP("http://"+addr+"/metrics", 10*time.Second); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			cfg := bench.DefaultConfig()
			cfg.Mode, cfg.Conns, cfg.Duration = "connect", 50, time.Second
			cfg.API, cfg.APIKey, cfg.Out = []string{"http://" + addr}, "any", &out
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := bench.Run(ctx, cfg); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			wantConnections(t, out.String(), 50)
		})
	}
}
