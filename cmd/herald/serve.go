package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/internal/lane"
	"github.com/heraldpush/herald/internal/tlsfiles"
)

// pprofAddr is the --pprof-listen address, empty when profiling is off.
var pprofAddr string

// The HTTP servers' read timeouts (--read-header-timeout, --read-timeout).
// After a WebSocket upgrade the connection's deadlines are cleared: these
// bound the request only.
var headerTimeout, readTimeout = 10 * time.Second, 30 * time.Second

// maxHeaderBytes bounds a request head on every listener (--max-header-bytes):
// net/http's own default is a megabyte, which a push node holding 100,000
// connections cannot grant each slow client. net/http answers a larger head
// with 431, and the lane hands a larger head to net/http, so the answer is
// the same on every path.
var maxHeaderBytes = 16 << 10

// netHTTPHeaderSlack is what net/http reads past its MaxHeaderBytes before
// it answers 431 (its bufio slop): it is told that much less, so the limit
// is the one --max-header-bytes says.
const netHTTPHeaderSlack = 4096

// tlsPair, when --tls-cert is set, makes the public HTTP listeners HTTPS
// (and so WSS). Connections over TLS read on a goroutine each (netpoll
// cannot see into TLS buffers): about 8 KiB more per idle connection than
// plain WebSockets, which is why deploy/ terminates TLS at nginx.
var tlsPair *tlsfiles.Pair

// The lane (internal/lane) serves the send endpoints' plain requests with
// bodies up to laneMaxBody itself; a larger body goes to net/http with its
// connection. laneWriteTimeout bounds writing one of its answers to a
// sender that does not read.
const (
	laneMaxBody      = 1 << 20
	laneWriteTimeout = 30 * time.Second
)

// registerLane exports the lane's counters.
func registerLane(reg prometheus.Registerer, st *lane.Stats) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_lane_requests_total",
			Help: "Send requests answered by the lane, without net/http."},
			func() float64 { return float64(st.Served.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_lane_handoffs_total",
			Help: "Send requests handed to net/http as not plain (chunked, Expect, a body over 1 MiB, unusual headers)."},
			func() float64 { return float64(st.HandedOff.Load()) }))
}

// shutdownTimeout bounds how long in-flight requests get on SIGTERM.
const shutdownTimeout = 15 * time.Second

// listener is one server to run: HTTP or gRPC.
type listener struct {
	private bool // never TLS: the pprof and metrics listeners
	name    string
	addr    string
	http    http.Handler
	lane    []lane.Route          // requests served without net/http (plain HTTP only)
	reg     prometheus.Registerer // where the lane's counters go (with lane)
	grpc    *grpc.Server
	ln      net.Listener
}

// runner is a long-lived piece with Run(ctx).
type runner interface {
	Run(ctx context.Context) error
}

// runFunc is a function as a runner.
type runFunc func(ctx context.Context) error

func (f runFunc) Run(ctx context.Context) error { return f(ctx) }

// serve listens on every address first (so a busy port fails at start), runs
// the servers and services until ctx is cancelled, then shuts down in order:
// servers stop accepting and finish in-flight requests, then the services
// drain (commit what is queued, close connections, leave the routing table).
func serve(ctx context.Context, ls []*listener, services ...runner) error {
	if pprofAddr != "" {
		// Opt-in profiling, on its own listener so it is never exposed with the API.
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		ls = append(ls, &listener{name: "pprof", addr: pprofAddr, http: mux, private: true})
	}
	if metricsMux != nil {
		ls = append(ls, &listener{name: "metrics", addr: metricsListen, http: metricsMux, private: true})
	}
	for _, l := range ls {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			closeAll(ls)
			return fmt.Errorf("listen %s on %s: %w", l.name, l.addr, err)
		}
		l.ln = ln
		slog.Info("listening", "server", l.name, "addr", ln.Addr().String())
	}

	svcCtx, stopServices := context.WithCancel(context.Background())
	defer stopServices()
	var svcWG sync.WaitGroup
	for _, s := range services {
		svcWG.Add(1)
		go func() {
			defer svcWG.Done()
			if err := s.Run(svcCtx); err != nil {
				slog.Error("service stopped", "err", err)
			}
		}()
	}

	errc := make(chan error, 2*len(ls))
	var https []*http.Server
	var lanes []*lane.Server
	for _, l := range ls {
		if l.grpc != nil {
			go func() { errc <- l.grpc.Serve(l.ln) }()
			continue
		}
		srv := &http.Server{
			Handler:           l.http,
			ReadHeaderTimeout: headerTimeout,
			ReadTimeout:       readTimeout,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    maxHeaderBytes - netHTTPHeaderSlack,
		}
		https = append(https, srv)
		if tlsPair != nil && !l.private {
			srv.TLSConfig = tlsPair.Config()
			go func() { errc <- srv.ServeTLS(l.ln, "", "") }()
			continue
		}
		if len(l.lane) == 0 {
			go func() { errc <- srv.Serve(l.ln) }()
			continue
		}
		ln := lane.New(l.ln, lane.Config{Routes: l.lane, Handler: l.http, MaxBody: laneMaxBody, MaxHead: maxHeaderBytes,
			ReadHeaderTimeout: srv.ReadHeaderTimeout, ReadTimeout: srv.ReadTimeout, IdleTimeout: srv.IdleTimeout,
			WriteTimeout: laneWriteTimeout})
		lanes = append(lanes, ln)
		if l.reg != nil {
			registerLane(l.reg, ln.Stats())
		}
		go func() { errc <- ln.Serve() }()
		go func() { errc <- srv.Serve(ln.Fallback()) }()
	}

	var runErr error
	select {
	case <-ctx.Done():
		slog.Info("shutting down")
	case err := <-errc:
		runErr = err
	}
	stopping := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range https {
		wg.Add(1)
		go func() { defer wg.Done(); srv.Shutdown(sctx) }()
	}
	for _, ln := range lanes {
		wg.Add(1)
		go func() { defer wg.Done(); ln.Shutdown(sctx) }()
	}
	for _, l := range ls {
		if l.grpc != nil {
			wg.Add(1)
			go func() { defer wg.Done(); gracefulStop(sctx, l.grpc) }()
		}
	}
	wg.Wait()
	servers := time.Since(stopping)
	stopServices()
	svcWG.Wait()
	slog.Info("stopped", "servers", servers.Round(time.Millisecond), "in_all", time.Since(stopping).Round(time.Millisecond))
	if runErr != nil && !errors.Is(runErr, http.ErrServerClosed) && !errors.Is(runErr, grpc.ErrServerStopped) {
		return runErr
	}
	return nil
}

// closeStoreTimeout bounds closing the store at exit: the MongoDB driver's
// Disconnect waits for operations still in flight, and against a jammed
// store (the full-size chaos run) that held a drained node well past its
// drain. Everything worth writing was written before (the push node's last
// flushes of acks and receipts end with its drain budget), so what is left
// in flight is reads whose answers nobody waits for.
const closeStoreTimeout = 2 * time.Second

func closeStore(s herald.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), closeStoreTimeout)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		slog.Warn("close store", "err", err)
	}
}

func gracefulStop(ctx context.Context, s *grpc.Server) {
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.Stop()
	}
}

func closeAll(ls []*listener) {
	for _, l := range ls {
		if l.ln != nil {
			l.ln.Close()
		}
	}
}

// metricsListen is the --metrics-listen address (resolved), empty when
// /metrics is served on the command's public listener.
var metricsListen string

// metricsMux holds /metrics when it has a listener of its own.
var metricsMux *http.ServeMux

// health adds the health endpoints to a command's public mux, and /metrics
// to it too unless --metrics-listen gives metrics a listener of their own.
func health(mux *http.ServeMux, reg *prometheus.Registry, checks ...httpx.Check) {
	httpx.Health(mux, checks...)
	if metricsListen == "" {
		httpx.Metrics(mux, reg)
		return
	}
	metricsMux = http.NewServeMux()
	httpx.Metrics(metricsMux, reg)
	metricsMux.HandleFunc("/", httpx.NotFound)
}
