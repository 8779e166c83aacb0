// Package egress makes the HTTP clients Herald calls other systems with: the
// receipts webhook, the subscribe proxy (and every URL of the same kind to
// come). Such a URL is a way into the network Herald runs in, so the
// clients refuse, at connect time, every address that is not public
// unicast (loopback, the private ranges, link-local and the cloud metadata
// address, CGNAT, multicast, the rest of the IANA special-purpose registries)
// unless the operator allows its network. The check runs on the address
// being dialled, after DNS, so a name that resolves (or is rebound) to
// 127.0.0.1 is refused as the literal would be; redirects are not followed,
// so a public endpoint cannot bounce a request inward either.
//
// The address registries come from code.dny.dev/ssrf, which tracks IANA's.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// ErrRefused is wrapped by a dial refused because its address is not allowed.
var ErrRefused = errors.New("address not allowed")

// Policy is which non-public networks outbound requests may reach.
type Policy struct {
	guard *ssrf.Guardian
}

// NewPolicy allows the given networks besides public addresses.
func NewPolicy(allow []netip.Prefix) *Policy {
	var v4, v6 []netip.Prefix
	for _, p := range allow {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return &Policy{guard: ssrf.New(ssrf.WithAnyPort(),
		ssrf.WithAllowedV4Prefixes(v4...), ssrf.WithAllowedV6Prefixes(v6...))}
}

// ParseAllow reads a setting's list of networks: CIDRs ("10.0.0.0/8") or
// single addresses ("127.0.0.1").
func ParseAllow(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Allowed reports whether an address may be dialled.
func (p *Policy) Allowed(a netip.Addr) error {
	if err := p.guard.SafeAddr(a.Unmap()); err != nil {
		return fmt.Errorf("%w: %s is not a public address (allow its network with --allow-private-networks)", ErrRefused, a)
	}
	return nil
}

// control is the net.Dialer's check of each address it is about to connect to.
func (p *Policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrRefused, address)
	}
	return p.Allowed(ap.Addr())
}

// Client returns an HTTP client whose every connection passes the policy,
// that follows no redirect (a 3xx is the answer), uses no proxy from the
// environment, and gives up after timeout.
func (p *Policy) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.control}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// CheckURL checks a configured URL at start: http or https, a host, and,
// where the host is an address or resolves now, an address the policy
// allows. A name is checked again at every connection
// (what it resolves to may change), so this is only the early, clear error.
func (p *Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s: the scheme must be http or https", Redact(raw))
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%s: no host", Redact(raw))
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return p.Allowed(a)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil // not resolvable now: checked at each connection
	}
	for _, a := range addrs {
		if err := p.Allowed(a); err != nil {
			return fmt.Errorf("%s resolves to %w", host, err)
		}
	}
	return nil
}

// Redact returns a URL fit for a log line: scheme, host and path, without
// credentials or the query string (where a receiver's secret often travels).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Cause strips the URL an *url.Error carries (with its query string) from a
// client error, for logging.
func Cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
