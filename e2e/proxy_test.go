package e2e

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/heraldpush/herald/internal/testenv"
)

// wsRefusingProxy is a reverse proxy in front of a Herald that refuses every
// WebSocket upgrade, as some corporate proxies do, and passes everything
// else on (event streams unbuffered: httputil flushes text/event-stream as
// it comes). A test takes it down and up again at the same address through
// its control server: GET /down drops every connection, GET /up listens
// again.
type wsRefusingProxy struct {
	t       testing.TB
	addr    string
	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
	control string
}

func startWSRefusingProxy(t testing.TB, upstream string) *wsRefusingProxy {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &wsRefusingProxy{t: t, addr: testenv.FreePort(t, "127.0.0.1")}
	p.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			http.Error(w, "WebSocket is not allowed through this proxy", http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	})
	p.up()
	ctl := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down":
			p.down()
		case "/up":
			p.up()
		default:
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ctl.Serve(ln)
	p.control = "http://" + ln.Addr().String()
	t.Cleanup(func() { ctl.Close(); p.down() })
	return p
}

// URL is the proxy's base URL, as the page loads it.
func (p *wsRefusingProxy) URL() string { return "http://" + p.addr }

func (p *wsRefusingProxy) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Errorf("proxy up: %v", err)
		return
	}
	p.srv = &http.Server{Handler: p.handler}
	go func(s *http.Server) {
		if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			p.t.Errorf("proxy: %v", err)
		}
	}(p.srv)
}

func (p *wsRefusingProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		p.srv.Close()
		p.srv = nil
	}
}
