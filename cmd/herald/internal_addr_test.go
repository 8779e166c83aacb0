package main

import (
	"net"
	"testing"
)

func TestResolveInternal(t *testing.T) {
	if got, err := resolveInternal(":9080"); err != nil || got != ":9080" {
		t.Fatalf(":9080 -> %q %v", got, err)
	}
	got, err := resolveInternal("private:9080")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(got)
	ip := net.ParseIP(host)
	if port != "9080" || ip == nil || !(ip.IsPrivate() || ip.IsLoopback() || ip.To4()[0] == 100) {
		t.Fatalf("private:9080 -> %q, not a private or loopback address", got)
	}
	// It can be listened on.
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", host, err)
	}
	ln.Close()
}

// push's default --auth-urls names the same address as auth's default --listen.
func TestResolveInternalURLMatchesListener(t *testing.T) {
	addr, err := resolveInternal("private:8081")
	if err != nil {
		t.Fatal(err)
	}
	got, err := resolveInternalURL("http://private:8081")
	if err != nil || got != "http://"+addr {
		t.Fatalf("http://private:8081 -> %q %v, want http://%s", got, err, addr)
	}
	for _, u := range []string{"http://auth:8081", "https://10.0.0.5:8081/base", "http://private/x"} {
		if got, err := resolveInternalURL(u); err != nil || got != u {
			t.Errorf("%s -> %q %v, want it unchanged", u, got, err)
		}
	}
}
