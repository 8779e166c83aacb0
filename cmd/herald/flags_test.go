package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
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

func TestConfigFilePrecedence(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/herald.yaml"
	os.WriteFile(path, []byte("listen: from-file\nroute-ttl: 3m\nredis-addrs: [a:1, b:2]\nmax-users: 7\n"), 0o600)
	listen, ttl, addrs, users := "default", time.Second, []string{"d"}, 1
	f := newFlags("x", "doc")
	f.str(&listen, "listen", "u")
	f.dur(&ttl, "route-ttl", "u")
	f.list(&addrs, "redis-addrs", "u")
	f.int(&users, "max-users", "u")
	t.Setenv("HERALD_ROUTE_TTL", "9m") // env beats the file
	if err := f.parse([]string{"--config", path, "--max-users", "9"}); err != nil {
		t.Fatal(err)
	}
	if listen != "from-file" || ttl != 9*time.Minute || strings.Join(addrs, "|") != "a:1|b:2" || users != 9 {
		t.Fatalf("listen=%s ttl=%s addrs=%v users=%d", listen, ttl, addrs, users)
	}
	os.WriteFile(path, []byte("lisen: typo\n"), 0o600)
	g := newFlags("x", "doc")
	g.str(&listen, "listen", "u")
	if err := g.parse([]string{"--config=" + path}); err == nil || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("unknown key: %v", err)
	}
}

// Every example config file in deploy/config parses for its command.
func TestExampleConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/config/*.yaml")
	if len(files) < 5 {
		t.Fatalf("found %d example configs", len(files))
	}
	for _, path := range files {
		cmd := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(cmd, func(t *testing.T) {
			run, ok := commands[cmd]
			if !ok {
				t.Fatalf("no command %q", cmd)
			}
			if err := run(context.Background(), []string{"--config", path, "--help"}); !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("herald %s --config %s: %v", cmd, path, err)
			}
		})
	}
}

// --namespaces: a YAML mapping in a config file, a JSON object on the
// command line; a bad option fails the start.
func TestNamespacesFlag(t *testing.T) {
	path := t.TempDir() + "/herald.yaml"
	os.WriteFile(path, []byte("namespaces:\n  chat:\n    max_subscribers: 100\n  public:\n    subscribe: any\n"), 0o600)
	var ns herald.Namespaces
	f := newFlags("x", "doc")
	f.namespaces(&ns, "namespaces", "u")
	if err := f.parse([]string{"--config", path}); err != nil {
		t.Fatal(err)
	}
	if n, ok := ns.Of("chat:1"); !ok || n.MaxSubscribers != 100 {
		t.Fatalf("chat from the file: %+v", ns)
	}
	if n, _ := ns.Of("public:x"); n.Subscribe != herald.SubscribeAny {
		t.Fatalf("public from the file: %+v", ns)
	}
	g := newFlags("x", "doc")
	g.namespaces(&ns, "namespaces", "u")
	if err := g.parse([]string{"--namespaces", `{"chat": {"subscribe": "all"}}`}); err == nil || !strings.Contains(err.Error(), "claim, proxy or any") {
		t.Fatalf("a bad subscribe option: %v", err)
	}
}
