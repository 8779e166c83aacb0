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
	mu      sync.Mutex
	conns   map[string]int
	rates   map[string]*bucket.Bucket
	swept   time.Time
	proxies []netip.Prefix
}

func newIPLimits(trusted []string) (*ipLimits, error) {
	l := &ipLimits{conns: map[string]int{}, rates: map[string]*bucket.Bucket{}}
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
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !l.trusted(peer) {
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

// admit checks ip's connection count and rate; "" means go ahead (and the
// connection is counted until release), otherwise the reason it is refused.
func (l *ipLimits) admit(ip string, maxConns, perSec int, now time.Time) string {
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
	if maxConns > 0 && l.conns[ip] >= maxConns {
		return "ip_connections"
	}
	if perSec > 0 {
		b := l.rates[ip]
		if b == nil {
			b = &bucket.Bucket{}
			l.rates[ip] = b
		}
		if !b.Allow(now, float64(perSec)) {
			return "ip_rate"
		}
	}
	l.conns[ip]++
	return ""
}

// release uncounts a connection admitted for ip.
func (l *ipLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip] <= 1 {
		delete(l.conns, ip)
	} else {
		l.conns[ip]--
	}
}
