package push

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heraldpush/herald/internal/testenv/probe"
)

// The webhook and subscribe-proxy URLs reach only public addresses unless
// --allow-private-networks lists the network: a loopback or private URL is
// refused at start with a message naming the setting.
func TestOutboundURLsMustBePublicUnlessAllowed(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  func(*Config)
		want string // "" = accepted
	}{
		{"webhook on loopback", func(c *Config) { c.WebhookURL, c.WebhookSecret = "http://127.0.0.1:9000/hook", "0123456789abcdef" }, "--allow-private-networks"},
		{"proxy on a private address", func(c *Config) { c.SubProxyURL = "http://10.1.2.3/allow" }, "--subscribe-proxy-url"},
		{"proxy at the metadata address", func(c *Config) { c.SubProxyURL = "http://169.254.169.254/" }, "not a public address"},
		{"proxy named localhost", func(c *Config) { c.SubProxyURL = "http://localhost:9000/" }, "resolves to"},
		{"allowed network", func(c *Config) {
			c.SubProxyURL, c.PrivateNetworks = "http://10.1.2.3/allow", []string{"10.0.0.0/8"}
		}, ""},
		{"public", func(c *Config) { c.SubProxyURL = "https://8.8.8.8/allow" }, ""},
		{"bad network", func(c *Config) { c.PrivateNetworks = []string{"10.0.0.0/33"} }, "--allow-private-networks"},
		{"not http", func(c *Config) { c.SubProxyURL = "file:///etc/passwd" }, "http or https"},
	} {
		cfg := DefaultConfig()
		c.cfg(&cfg)
		err := CheckConfig(cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.want)
		}
	}
}

// Checked at connect time too (a name may be rebound after start): a proxy
// whose address is not allowed is never reached, and the client is told
// "unavailable".
func TestSubscribeProxyNeverReachesARefusedAddress(t *testing.T) {
	var hits atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer proxy.Close()
	f := newFixture(t, func(c *Config) { c.SubProxyURL = proxy.URL }) // no PrivateNetworks
	c := probe.MustDialWS(t, f.ws, f.token(t, "u"), "", nil)
	if got := c.Subscribe([]string{"x"}, nil); got["x"].Code != "unavailable" {
		t.Fatalf("answer %+v", got["x"])
	}
	if hits.Load() != 0 {
		t.Fatalf("the proxy on loopback was asked %d times", hits.Load())
	}
}
