package main

import (
	"log/slog"
	"net"
	"net/netip"

	"github.com/heraldpush/herald/internal/httpx"
)

// devDecision is whether `herald all` serves the dev endpoints (the demo
// page's token minting and keyless sending under /dev/), and why.
type devDecision struct {
	on       bool // serve /dev/ and the demo page
	loopback bool // every listen address is loopback: only this machine can reach /dev/
}

// exposed is dev mode on an address other machines may reach: allowed only
// when asked for by name, and then shouted about.
func (d devDecision) exposed() bool { return d.on && !d.loopback }

// decideDev applies the rule of docs/security.md: dev mode is on by default
// only when the listen address is loopback; on any other address it is off
// unless --dev is given (flag, environment or config file). A listen host
// that is a name other than "localhost" counts as reachable: what a name
// resolves to can change after start, and the rule must not depend on it.
func decideDev(listen string, dev, given bool) devDecision {
	d := devDecision{loopback: isLoopbackListen(listen)}
	switch {
	case given:
		d.on = dev
	default:
		d.on = d.loopback
	}
	return d
}

// isLoopbackListen reports whether a listen address (host:port) binds only
// loopback: 127.0.0.0/8, ::1 or "localhost". An empty host, 0.0.0.0 and ::
// bind every interface.
func isLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	return host != "" && httpx.LoopbackHost(host)
}

// isInternalListen reports whether a listen address binds only loopback or
// a private address (10/8, 172.16/12, 192.168/16, fc00::/7), as internal
// endpoints should.
func isInternalListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if httpx.LoopbackHost(host) {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsPrivate()
}

// warnDevExposed is the loud warning of dev mode on a reachable address.
func warnDevExposed(listen string) {
	slog.Warn("DEV MODE ON A REACHABLE ADDRESS: anyone who can reach it can mint a token for any user (POST /dev/token) and send without the API key (POST /dev/messages); never do this on a network you do not trust",
		"listen", listen)
}
