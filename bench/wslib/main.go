// Command wslib holds idle WebSocket connections with one of several Go
// WebSocket libraries, doing what a push node does to an idle connection
// (a hello frame, a ping every --ping-interval from one loop, a close when
// nothing arrives within --pong-timeout, a read limit), so that `herald
// bench connect` can measure each library's memory and CPU per connection
// the way it measures Herald. It answers the three things the load
// generator asks for: POST /v1/tokens, GET /ws and GET /metrics.
//
// It lives in its own Go module so that the libraries it compares stay out
// of Herald's go.mod. Run it through `make bench-wslib`
// (bench/wslib/run.sh); the figures are in docs/benchmarks.md.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Settings shared by every library, the same as herald all's defaults.
var (
	pingInterval = 25 * time.Second
	pongTimeout  = 60 * time.Second
	readLimit    = int64(64 << 10)
	hello        = []byte(`{"type":"hello"}`)
)

// pinger is a connection as the keep-alive loop sees it.
type pinger interface {
	ping() error
	close()
}

// keepAlive pings every registered connection once per pingInterval, a
// slice of them each second (as Herald's keep-alive wheel does), from one
// goroutine.
type keepAlive struct {
	mu    sync.Mutex
	slots [][]pinger
	next  int
	open  atomic.Int64
}

func newKeepAlive() *keepAlive {
	k := &keepAlive{slots: make([][]pinger, int(pingInterval/time.Second))}
	go k.loop()
	return k
}

func (k *keepAlive) add(p pinger) {
	k.mu.Lock()
	k.slots[k.next%len(k.slots)] = append(k.slots[k.next%len(k.slots)], p)
	k.next++
	k.mu.Unlock()
	k.open.Add(1)
}

// gone drops a closed connection (a linear scan: this tool never closes
// many at once).
func (k *keepAlive) gone(p pinger) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, s := range k.slots {
		for j, q := range s {
			if q == p {
				s[j] = s[len(s)-1]
				k.slots[i] = s[:len(s)-1]
				k.open.Add(-1)
				return
			}
		}
	}
}

func (k *keepAlive) loop() {
	t := time.NewTicker(time.Second)
	for i := 0; ; i++ {
		<-t.C
		k.mu.Lock()
		slot := append([]pinger(nil), k.slots[i%len(k.slots)]...)
		k.mu.Unlock()
		for _, p := range slot {
			if p.ping() != nil {
				p.close()
			}
		}
	}
}

// metrics writes the figures `herald-bench connect` reads.
func metrics(k *keepAlive) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rss, cpu := procStats()
		fmt.Fprintf(w, "process_resident_memory_bytes %d\nprocess_cpu_seconds_total %g\nherald_connections %d\n", rss, cpu, k.open.Load())
	}
}

// procStats reads this process's RSS (bytes) and CPU time (seconds) from /proc.
func procStats() (int64, float64) {
	var rss int64
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			rss = pages * int64(os.Getpagesize())
		}
	}
	var cpu float64
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		s := string(b)
		// Fields after the command name, which may hold spaces: utime and
		// stime are the 14th and 15th fields of the line.
		if f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]); len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			cpu = (u + st) / 100 // USER_HZ is 100 on Linux
		}
	}
	return rss, cpu
}

// tokens answers the load generator's token requests: any token will do.
func tokens(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"token":"t"}`)
}

func main() {
	lib := flag.String("lib", "gorilla", "gorilla, gws, gobwas, nbio or herald (Herald's own layer, bare)")
	addr := flag.String("listen", "127.0.0.1:18090", "address to listen on")
	flag.Parse()
	k := newKeepAlive()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/tokens", tokens)
	mux.HandleFunc("GET /metrics", metrics(k))
	var serve func(mux *http.ServeMux) error
	switch *lib {
	case "gorilla":
		serve = gorillaServer(*addr, k)
	case "gws":
		serve = gwsServer(*addr, k)
	case "gobwas":
		serve = gobwasServer(*addr, k)
	case "nbio":
		serve = nbioServer(*addr, k)
	case "herald":
		serve = heraldServer(*addr, k)
	default:
		log.Fatalf("unknown -lib %q", *lib)
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		os.Exit(0)
	}()
	log.Fatal(serve(mux))
}
