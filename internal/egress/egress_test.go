package egress

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPolicyRefusesWhatIsNotPublic(t *testing.T) {
	p := NewPolicy(nil)
	for _, a := range []string{
		"127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1",
		"169.254.169.254", // cloud metadata
		"100.64.0.1", "0.0.0.0", "::", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1",
	} {
		if err := p.Allowed(netip.MustParseAddr(a)); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want refused", a, err)
		}
	}
	for _, a := range []string{"8.8.8.8", "2001:4860:4860::8888", "93.184.216.34"} {
		if err := p.Allowed(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s: %v, want allowed", a, err)
		}
	}
	allow, err := ParseAllow([]string{"127.0.0.1", "10.0.0.0/8", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	p = NewPolicy(allow)
	for _, a := range []string{"127.0.0.1", "10.9.8.7", "fd00::5"} {
		if err := p.Allowed(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s allowed by the setting: %v", a, err)
		}
	}
	if err := p.Allowed(netip.MustParseAddr("127.0.0.2")); err == nil {
		t.Error("127.0.0.2 is not 127.0.0.1/32")
	}
	if _, err := ParseAllow([]string{"ten.0.0.0/8"}); err == nil {
		t.Error("a bad CIDR parsed")
	}
}

// The check runs at connect time: a URL naming a loopback server by address
// or by name is refused without a request reaching it, and allowed once its
// network is listed.
func TestClientRefusesLoopbackUnlessAllowed(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, u := range []string{srv.URL, byName} {
		_, err := NewPolicy(nil).Client(5 * time.Second).Get(u)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want refused", u, err)
		}
	}
	if hits != 0 {
		t.Fatalf("%d requests reached the server", hits)
	}
	allow, _ := ParseAllow([]string{"127.0.0.0/8", "::1"})
	resp, err := NewPolicy(allow).Client(5 * time.Second).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hits != 1 {
		t.Fatalf("hits %d", hits)
	}
}

// A redirect is the answer, not followed: an allowed endpoint cannot send the
// request on to another address.
func TestClientFollowsNoRedirect(t *testing.T) {
	inner := 0
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner++ }))
	defer target.Close()
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer srv.Close()
	allow, _ := ParseAllow([]string{"127.0.0.0/8"})
	resp, err := NewPolicy(allow).Client(5*time.Second).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || inner != 0 {
		t.Fatalf("status %d, redirect target hit %d times", resp.StatusCode, inner)
	}
}

func TestCheckURL(t *testing.T) {
	p := NewPolicy(nil)
	ctx := context.Background()
	for raw, ok := range map[string]bool{
		"https://8.8.8.8/hook":           true,
		"http://127.0.0.1:9000/hook":     false,
		"http://[::1]/hook":              false,
		"http://169.254.169.254/latest/": false,
		"http://localhost:9000/hook":     false, // resolves to loopback now
		"ftp://8.8.8.8/":                 false,
		"https:///nohost":                false,
	} {
		if err := p.CheckURL(ctx, raw); (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("https://user:pw@hooks.example/h?token=s3cret#x"); got != "https://hooks.example/h" {
		t.Fatal(got)
	}
	_, err := NewPolicy(nil).Client(time.Second).Get("http://127.0.0.1:1/h?token=s3cret")
	if err == nil || strings.Contains(Cause(err).Error(), "s3cret") {
		t.Fatalf("cause %v", Cause(err))
	}
}
