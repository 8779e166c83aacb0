package push

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/bucket"
)

// ipLimits bounds what one client address may do to a node: open
// connections (MaxIPConns) and new connections a second (MaxIPRate, a burst
// of one second's worth). Both are off by default: behind a load balancer
// every connection comes from the balancer's address unless TrustedProxies
// names it, and then the client address is taken from X-Forwarded-For.
type ipLimits struct {
	maxConns, perSec int // 0: that limit is off

	mu      sync.Mutex
	conns   map[string]int
	rates   map[string]*bucket.Bucket
	swept   time.Time
	proxies []netip.Prefix
}

func newIPLimits(trusted []string, maxConns, perSec int) (*ipLimits, error) {
	l := &ipLimits{maxConns: maxConns, perSec: perSec, conns: map[string]int{}, rates: map[string]*bucket.Bucket{}}
	for _, t := range trusted {
		if !strings.Contains(t, "/") {
			if a, err := netip.ParseAddr(t); err == nil {
				t = netip.PrefixFrom(a, a.BitLen()).String()
			}
		}
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return nil, err
		}
		l.proxies = append(l.proxies, p.Masked())
	}
	return l, nil
}

func (l *ipLimits) trusted(a netip.Addr) bool {
	for _, p := range l.proxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// clientIP is the address a request comes from: the peer, or, when the
// peer is a trusted proxy, the nearest untrusted address in
// X-Forwarded-For (read from the right: entries to the left of it are the
// client's own word and can be forged).
func (l *ipLimits) clientIP(r *http.Request) string {
	host, viaProxy := l.peer(r)
	if !viaProxy {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !l.trusted(a) {
			return a.Unmap().String()
		}
	}
	return host
}

// scheme is the scheme the client used: https over TLS; behind a trusted
// proxy that terminates TLS, what its X-Forwarded-Proto says; else http.
func (l *ipLimits) scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if _, viaProxy := l.peer(r); viaProxy {
		switch p := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto"))); p {
		case "http", "https":
			return p
		}
	}
	return "http"
}

// peer is the address the request came from, and whether it is a trusted
// proxy (whose forwarding headers then count).
func (l *ipLimits) peer(r *http.Request) (host string, trusted bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return host, err == nil && l.trusted(a)
}

// admit checks the connection count and rate of r's client address. It
// returns the address (counted until release when the count is limited),
// and "" to go ahead or the reason it is refused. With both limits off it
// does nothing: no lock, no map, on every upgrade.
func (l *ipLimits) admit(r *http.Request, now time.Time) (ip, refused string) {
	if l.maxConns <= 0 && l.perSec <= 0 {
		return "", ""
	}
	ip = l.clientIP(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		// Forget the buckets of addresses quiet for a minute: full again.
		for k, b := range l.rates {
			if now.Sub(b.Last()) > time.Minute {
				delete(l.rates, k)
			}
		}
		l.swept = now
	}
	if l.maxConns > 0 && l.conns[ip] >= l.maxConns {
		return ip, "ip_connections"
	}
	if l.perSec > 0 {
		b := l.rates[ip]
		if b == nil {
			b = &bucket.Bucket{}
			l.rates[ip] = b
		}
		if !b.Allow(now, float64(l.perSec)) {
			return ip, "ip_rate"
		}
	}
	if l.maxConns > 0 {
		l.conns[ip]++
	}
	return ip, ""
}

// release uncounts a connection admitted for ip.
func (l *ipLimits) release(ip string) {
	if l.maxConns <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip] <= 1 {
		delete(l.conns, ip)
	} else {
		l.conns[ip]--
	}
}
