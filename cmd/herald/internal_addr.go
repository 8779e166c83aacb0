package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// privateHost is the host part of a default internal address: the first
// private address of this host. Internal listeners (push and dispatch gRPC,
// the auth service) default to it rather than to every interface, so a
// node with a public interface does not offer them there unless told to
// (":9080" binds everything; the cluster secret guards them either way).
const privateHost = "private"

// resolveInternal turns "private:PORT" into the host's first private IPv4
// address (10/8, 172.16/12, 192.168/16, 100.64/10), else its first IPv6
// unique local address, else loopback; other addresses are returned as
// they are.
func resolveInternal(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if !strings.EqualFold(host, privateHost) {
		return addr, nil
	}
	ifaces, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("list interface addresses: %w", err)
	}
	var ula net.IP
	for _, a := range ifaces {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() {
			continue
		}
		ip := ipn.IP
		if ip4 := ip.To4(); ip4 != nil && (ip4.IsPrivate() || (ip4[0] == 100 && ip4[1]&0xc0 == 64)) {
			return net.JoinHostPort(ip4.String(), port), nil
		}
		if ip.To4() == nil && ip.IsPrivate() && ula == nil {
			ula = ip
		}
	}
	if ula != nil {
		return net.JoinHostPort(ula.String(), port), nil
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

// resolveInternalURL resolves a "private" host in a base URL, so push's
// default --auth-urls (http://private:8081) reaches the auth service's default
// listener (private:8081) on the same host.
func resolveInternalURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if !strings.EqualFold(u.Hostname(), privateHost) || u.Port() == "" {
		return raw, nil
	}
	if u.Host, err = resolveInternal(u.Host); err != nil {
		return "", err
	}
	return u.String(), nil
}
