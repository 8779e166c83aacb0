package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// metric reads one unlabelled value from a /metrics page.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// liveHeap asks the server for a collection (the heap profile with gc=1)
// and returns the heap left, with the goroutine count.
func liveHeap(t *testing.T, pprofBase, base string) (heap, goroutines float64) {
	t.Helper()
	resp, err := http.Get(pprofBase + "/debug/pprof/heap?gc=1")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return metric(t, base, "go_memstats_heap_alloc_bytes"), metric(t, base, "go_goroutines")
}

// Slowloris upgrades are cut off by the header timeout while a normal client
// is served, and 10,000 connect/disconnect cycles leave memory and
// goroutines where they started.
func TestSlowAndChurningClients(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 connections")
	}
	addr := testenv.FreePort(t, "127.0.0.1")
	pp := testenv.FreePort(t, "127.0.0.1")
	n := startAll(t, t.TempDir(), addr, "--read-header-timeout", "1s", "--pprof-listen", pp, "--log-level", "warn")
	tok := n.api.Token(t, "churn")

	normal := probe.MustDialWS(t, n.ws, n.api.Token(t, "normal"), "", nil)
	heap0, gr0 := liveHeap(t, "http://"+pp, n.api.Base)

	// 200 slowloris connections: a request line and one header, then nothing.
	var slow []net.Conn
	for range 200 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /ws?token=%s HTTP/1.1\r\nHost: x\r\n", tok)
		slow = append(slow, c)
	}
	n.api.Send(t, []string{"normal"}, "served meanwhile")
	if got := normal.Msgs(1, 5*time.Second); string(got[0].Payload) != `"served meanwhile"` {
		t.Fatalf("normal client: %s", got[0].Payload)
	}
	start := time.Now()
	for i, c := range slow {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("slowloris %d not closed by the server: %v", i, err)
		}
	}
	t.Logf("200 slowloris connections closed %v after the header timeout began", time.Since(start).Round(time.Millisecond))

	// 10,000 connect/disconnect cycles, 50 at a time, by hand (upgrade,
	// wait for the hello, close) so the load generator stays light.
	// A user per worker: one user may hold only 16 connections a node.
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	cycleStart := time.Now()
	for w := range 50 {
		req := []byte("GET /ws?token=" + n.api.Token(t, "churn"+strconv.Itoa(w)) + " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for done.Add(1) <= 10000 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					failed.Add(1)
					continue
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Write(req)
				// The 101 and the hello frame ({"type":"hello",...}).
				got := ""
				for !strings.Contains(got, `"hello"`) {
					k, err := c.Read(buf)
					if err != nil {
						failed.Add(1)
						break
					}
					got += string(buf[:k])
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of 10,000 cycles failed", f)
	}
	t.Logf("10,000 connect/disconnect cycles in %v", time.Since(cycleStart).Round(time.Millisecond))

	// Every churned connection is gone, and so is what it held: its
	// goroutines end once its closing handshake (1 s grace) and route write
	// are done.
	testenv.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		if open := metric(t, n.api.Base, "herald_connections"); open > 1 {
			return fmt.Errorf("%v connections still open", open)
		}
		return nil
	})
	var heap1, gr1 float64
	testenv.CheckFor(t, 20*time.Second, 250*time.Millisecond, func() error {
		if heap1, gr1 = liveHeap(t, "http://"+pp, n.api.Base); gr1 > gr0+10 {
			return fmt.Errorf("goroutines %v -> %v after the churn", gr0, gr1)
		}
		return nil
	})
	t.Logf("live heap %.1f -> %.1f MiB, goroutines %v -> %v", heap0/(1<<20), heap1/(1<<20), gr0, gr1)
	if heap1 > heap0+16<<20 {
		t.Errorf("live heap grew %.1f MiB after the churn", (heap1-heap0)/(1<<20))
	}
	if err := normal.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatalf("normal client dropped: %v", err)
	}
}
