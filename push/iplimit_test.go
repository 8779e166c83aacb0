package push

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// The client address: the peer, or behind a trusted proxy the nearest
// untrusted X-Forwarded-For entry (what a client writes itself is ignored).
func TestClientIP(t *testing.T) {
	l, err := newIPLimits([]string{"10.0.0.0/8", "192.168.1.7"}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ remote, xff, want string }{
		{"203.0.113.5:4000", "", "203.0.113.5"},
		{"203.0.113.5:4000", "198.51.100.1", "203.0.113.5"}, // untrusted peer: its header is ignored
		{"10.1.2.3:4000", "198.51.100.1", "198.51.100.1"},
		{"10.1.2.3:4000", "1.2.3.4, 198.51.100.1, 10.9.9.9", "198.51.100.1"}, // forged left entry skipped
		{"192.168.1.7:4000", "198.51.100.2", "198.51.100.2"},
		{"10.1.2.3:4000", "", "10.1.2.3"},
	} {
		r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := l.clientIP(r); got != tc.want {
			t.Errorf("%s + %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
	if _, err := newIPLimits([]string{"not-an-address"}, 0, 0); err == nil {
		t.Error("a bad trusted proxy was accepted")
	}
}

// Per-address limits on a live node: the count frees up when connections
// close, and the rate refuses a burst with 429.
func TestIPLimits(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxIPConns = 3 })
	var open []*probe.WS
	for i := range 3 {
		open = append(open, probe.MustDialWS(t, f.ws, f.token(t, "ip"+string(rune('a'+i))), "", nil))
	}
	if got := dialStatus(t, f.ws, f.token(t, "ipd"), ""); got != 429 {
		t.Fatalf("4th connection from one address: %d, want 429", got)
	}
	open[0].Conn.Close()
	testenv.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if dialStatus(t, f.ws, f.token(t, "ipd"), "") != 101 {
			return errors.New("the closed connection's place was not freed")
		}
		return nil
	})

	g := newFixture(t, func(c *Config) { c.MaxIPRate = 5 })
	ok := 0
	for i := range 12 {
		if dialStatus(t, g.ws, g.token(t, "r"+string(rune('a'+i))), "") == 101 {
			ok++
		}
	}
	if ok < 5 || ok > 6 {
		t.Fatalf("%d of 12 quick connections accepted, want the burst of 5", ok)
	}
}
