package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestFlagPrecedence(t *testing.T) {
	listen, ttl, addrs := "default", time.Second, []string{"d"}
	f := newFlags("x", "doc")
	f.str(&listen, "listen", "u")
	f.dur(&ttl, "route-ttl", "u")
	f.list(&addrs, "redis-addrs", "u")
	t.Setenv("HERALD_LISTEN", "from-env")
	t.Setenv("HERALD_ROUTE_TTL", "5m")
	t.Setenv("HERALD_REDIS_ADDRS", "a:1, b:2")
	if err := f.parse([]string{"--listen", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	if listen != "from-flag" || ttl != 5*time.Minute || strings.Join(addrs, "|") != "a:1|b:2" {
		t.Fatalf("listen=%s ttl=%s addrs=%v", listen, ttl, addrs)
	}
}

func TestBadEnvNamesTheVariable(t *testing.T) {
	ttl := time.Second
	f := newFlags("x", "doc")
	f.dur(&ttl, "route-ttl", "u")
	t.Setenv("HERALD_ROUTE_TTL", "soon")
	if err := f.parse(nil); err == nil || !strings.Contains(err.Error(), "HERALD_ROUTE_TTL") {
		t.Fatalf("err = %v", err)
	}
}

func TestHelpListsFlagsEnvAndDefaults(t *testing.T) {
	listen := ":8080"
	f := newFlags("push", "doc")
	f.str(&listen, "listen", "HTTP address")
	var b bytes.Buffer
	f.usage(&b)
	for _, want := range []string{"--listen", "HERALD_LISTEN", "default :8080", "HTTP address"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, b.String())
		}
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for name := range commands {
		if code := run([]string{name, "--help"}); code != 0 {
			t.Errorf("herald %s --help exited %d", name, code)
		}
	}
}
