// Package lane serves the send requests of business systems, plain HTTP/1.1
// POSTs on keep-alive connections, without net/http's per-request machinery,
// and hands every other connection to net/http.
//
// Why: on the project's 2-core machine net/http's server costs about 30 µs
// of CPU a request flat out and 45 µs at a steady 5,000 a second (its
// request and header maps, the response's header copy, the background read
// it starts after every body), against 28 µs and 50 µs for everything else
// a bare send path does (bench/floor, --server raw against nethttp;
// docs/design/performance-log.md). Herald spends that on every message sent one per
// request, its most common use.
//
// What it takes and what it leaves: a request is served here only when it
// is exactly the simple case: an HTTP/1.1 request line, a method and path
// that the caller listed (no query), well-formed header lines (no folding,
// no space before the colon, no control characters), one Host, one
// Content-Length within the lane's body limit, and no Transfer-Encoding,
// Expect or Upgrade. Anything else, at the first request or any later one,
// hands the connection, with the bytes already read, to the net/http server,
// which keeps it from then on and answers as it always has (errors
// included). So the lane never has to get a hard case right: it only has to
// recognise the easy one.
//
// The request is still an *http.Request and the handler still the one
// net/http would call (the API-key check, the decoding and its limits, the
// answers are all shared); only the reading, the routing of the listed paths
// and the writing of the answer are the lane's.
package lane

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Route is a method and path that the lane serves itself.
type Route struct {
	Method, Path string
	// Admit, when set, decides from the head alone, before a byte of the
	// body is read or a buffer made for it: false means it has written the
	// refusal (a missing or wrong API key, a key without the scope), which
	// goes out at once, and the connection closes with the body unread. So
	// a client with no key holds no body buffer, however large the
	// Content-Length it declares.
	Admit func(w http.ResponseWriter, r *http.Request) bool
	// Handler serves the request once admitted (default: Config.Handler).
	// With Admit it is the handler without its own key check, which Admit
	// has made.
	Handler http.Handler
}

// Config is how a Server reads and answers.
type Config struct {
	Routes  []Route
	Handler http.Handler // serves the routes (the same handler net/http gets)
	// MaxBody is the largest body the lane reads itself; a larger one goes to
	// net/http with its connection (whose handler then applies its own limit).
	MaxBody int
	// MaxHead is the longest request head (request line and headers) the
	// lane reads; a longer one goes to net/http, whose own limit applies.
	MaxHead int
	// The timeouts of the net/http server behind it: ReadHeaderTimeout
	// bounds a head from its first byte, ReadTimeout a head and its body,
	// IdleTimeout the wait for the next request.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	// WriteTimeout bounds writing an answer (0: none).
	WriteTimeout time.Duration
}

// Stats count what the lane did with the requests to its routes, for the
// node's /metrics: a sender whose requests all go to net/http (chunked
// bodies, Expect: 100-continue) shows as hand-offs.
type Stats struct {
	Served    atomic.Uint64 // answered by the lane
	HandedOff atomic.Uint64 // to a lane route, but not plain: handed to net/http
}

// Server accepts the connections of one listener, serves what it can and
// hands the rest to the net/http server that serves Fallback().
type Server struct {
	cfg      Config
	ln       net.Listener
	fallback *handoff
	stats    Stats

	mu       sync.Mutex
	conns    map[*conn]struct{}
	closing  atomic.Bool // set under mu; read by every connection after each request
	wg       sync.WaitGroup
	acceptWG sync.WaitGroup
}

// New returns a Server for ln. Run it with Serve, and give Fallback() to the
// net/http server: http.Server.Serve(s.Fallback()).
func New(ln net.Listener, cfg Config) *Server {
	if cfg.MaxHead <= 0 {
		cfg.MaxHead = 16 << 10
	}
	return &Server{cfg: cfg, ln: ln, fallback: newHandoff(ln.Addr()), conns: map[*conn]struct{}{}}
}

// Stats are the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Fallback is the listener of the connections the lane hands on.
func (s *Server) Fallback() net.Listener { return s.fallback }

// Serve accepts connections until the listener is closed (by Shutdown).
func (s *Server) Serve() error {
	s.acceptWG.Add(1)
	defer s.acceptWG.Done()
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			s.fallback.Close()
			return err
		}
		if err != nil {
			// Out of file descriptors (a node near its limit of open
			// files), a connection reset before it was accepted: wait and
			// go on, as net/http does. Returning would stop the node.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			slog.Warn("lane: accept failed; retrying", "err", err, "in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		cc := s.track(c)
		if cc == nil {
			c.Close()
			continue
		}
		go cc.serve()
	}
}

// Shutdown stops accepting, closes the connections waiting for a request,
// and waits until the ones serving a request have answered and closed, or
// ctx ends (then closes them). The handed-on connections are the net/http
// server's to shut down.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ln.Close()
	s.acceptWG.Wait()
	s.mu.Lock()
	s.closing.Store(true)
	for c := range s.conns {
		c.closeIfIdle()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

func (s *Server) track(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return c
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) isClosing() bool { return s.closing.Load() }

// route returns the route's path as the caller spelled it (so the request
// holds no new string), or "" when the lane does not serve it.
func (s *Server) route(method, path []byte) *Route {
	for i := range s.cfg.Routes {
		if r := &s.cfg.Routes[i]; string(method) == r.Method && string(path) == r.Path {
			return r
		}
	}
	return nil
}

// errHandOff says the request is not one for the lane: net/http gets the
// connection.
var errHandOff = errors.New("not for the lane")

// recoverHandler logs a handler's panic as net/http does, and closes the
// connection.
func recoverHandler(c *conn) {
	if err := recover(); err != nil {
		if err == http.ErrAbortHandler {
			return
		}
		slog.Error("http: panic serving", "remote", c.nc.RemoteAddr().String(), "err", err, "stack", string(debug.Stack()))
	}
}

// newRequest is the part of every request that a connection keeps.
func newRequest(ctx context.Context, nc net.Conn) *http.Request {
	r := &http.Request{
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		RemoteAddr: nc.RemoteAddr().String(),
		URL:        &url.URL{},
	}
	return r.WithContext(ctx)
}

// statusLine is "HTTP/1.1 <code> <text>\r\n".
func statusLine(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...) // as net/http says it
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}
