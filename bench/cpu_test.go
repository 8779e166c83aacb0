package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The CPU line: the server's from its /metrics (here 0.5 s of CPU over the
// window), this process's own, and a plain "no /metrics" when none answers.
func TestCPULine(t *testing.T) {
	var cpu atomic.Int64 // centiseconds
	cpu.Store(100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# HELP process_cpu_seconds_total x\nprocess_cpu_seconds_total %.2f\n", float64(cpu.Load())/100)
	}))
	defer srv.Close()
	ctx := context.Background()
	metrics := []string{srv.URL + "/metrics"}
	w := startCPU(ctx, metrics)
	cpu.Add(50)
	time.Sleep(100 * time.Millisecond)
	line := w.line(ctx, metrics, 1000, "message")
	if !strings.Contains(line, "server ") || !strings.Contains(line, "500 µs a message") || !strings.Contains(line, "load generator ") {
		t.Fatalf("line %q", line)
	}
	gone := []string{"http://127.0.0.1:1/metrics"}
	if line := startCPU(ctx, gone).line(ctx, gone, 10, "delivery"); !strings.Contains(line, "server no /metrics") {
		t.Fatalf("line without metrics %q", line)
	}
}
