package httpx

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		host, origin string
		tls          bool
		want         bool
	}{
		{"example.com", "http://example.com", false, true},
		{"example.com:80", "http://example.com", false, true}, // default port filled in
		{"example.com", "http://example.com:80", false, true},
		{"EXAMPLE.com", "http://example.COM", false, true}, // hosts are case-insensitive
		{"example.com", "https://example.com", true, true},
		{"example.com", "https://example.com", false, false}, // scheme differs
		{"example.com", "http://example.com", true, false},
		{"example.com:8080", "http://example.com", false, false}, // port differs
		{"example.com", "http://evil.example", false, false},
		{"example.com", "http://example.com.evil.example", false, false},
		{"example.com", "null", false, false}, // an opaque origin
		{"example.com", "http://user@example.com", false, false},
		{"example.com", "http://example.com/path", false, false},
		{"[::1]:8080", "http://[::1]:8080", false, true},
		{"example.com", "ftp://example.com", false, false},
		{"", "http://example.com", false, false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = c.host
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := SameOrigin(r, c.origin, ""); got != c.want {
			t.Errorf("Host %q tls=%v Origin %q: %v, want %v", c.host, c.tls, c.origin, got, c.want)
		}
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST:8080": true, "127.0.0.1": true, "127.9.9.9:80": true,
		"[::1]:8080": true, "::1": true, "[::ffff:127.0.0.1]:80": true,
		"": false, "0.0.0.0:80": false, "10.0.0.1": false, "evil.example": false,
		"localhost.evil.example": false, "[::]:80": false,
	} {
		if got := LoopbackHost(host); got != want {
			t.Errorf("LoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
