package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// SameOrigin reports whether a browser's Origin header names the origin the
// request was sent to (RFC 6454: scheme, host and port, with a scheme's
// default port filled in). The request's scheme is https when it arrived
// over TLS, else http; behind a proxy that terminates TLS, pass the scheme
// it reports as scheme (empty: from the request).
func SameOrigin(r *http.Request, origin, scheme string) bool {
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	oh, op, ok := hostPort(u.Scheme, u.Host)
	if !ok {
		return false
	}
	rh, rp, ok := hostPort(scheme, r.Host)
	return ok && strings.EqualFold(u.Scheme, scheme) && strings.EqualFold(oh, rh) && op == rp
}

// hostPort splits an authority into host and port, filling in the scheme's
// default port.
func hostPort(scheme, authority string) (string, string, bool) {
	if authority == "" {
		return "", "", false
	}
	host, port, err := net.SplitHostPort(authority)
	if err != nil {
		// No port (or a bare IPv6 literal in brackets).
		host, port = strings.TrimSuffix(strings.TrimPrefix(authority, "["), "]"), ""
	}
	if port == "" {
		switch strings.ToLower(scheme) {
		case "http", "ws":
			port = "80"
		case "https", "wss":
			port = "443"
		default:
			return "", "", false
		}
	}
	return host, port, host != ""
}

// LoopbackHost reports whether a host (or host:port, as in a Host header)
// is "localhost" or a loopback address: 127.0.0.0/8 or ::1.
func LoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
