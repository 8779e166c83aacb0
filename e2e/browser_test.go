package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/pebble"
)

// TestBrowserDemo drives the demo page of a real `herald all` in headless
// Chromium (tests/browser, playwright-core), directly and through a proxy
// that refuses WebSocket upgrades (the page falls back to Server-Sent
// Events). Screenshots go to test-artifacts/ at the repository root.
func TestBrowserDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("needs chromium")
	}
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatal("/usr/bin/chromium missing: scripts/install-test-deps.sh installs Debian's chromium (make test runs it)")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	dir := filepath.Join(root, "tests", "browser")
	artifacts := filepath.Join(root, "test-artifacts")
	os.MkdirAll(artifacts, 0o755)
	data := t.TempDir()
	storePoison(t, data, "poisoned")
	n := startAll(t, data, testenv.FreePort(t, "127.0.0.1"), "--namespaces", presenceNamespaces,
		"--webpush-hosts", "127.0.0.1", "--allow-private-networks", "127.0.0.0/8") // the Web Push test's endpoint
	proxy := startWSRefusingProxy(t, n.api.Base)
	t.Cleanup(func() {
		if t.Failed() { // what the server saw of the pages' connections
			for _, l := range strings.Split(n.proc.Log.String(), "\n") {
				if strings.Contains(l, "connection") || strings.Contains(l, "WARN") || strings.Contains(l, "ERROR") {
					t.Log(l)
				}
			}
		}
	})
	runNode(t, dir, 3*time.Minute, "HERALD_URL="+n.api.Base, "HERALD_API_KEY="+n.api.Key, "ARTIFACTS="+artifacts, "POISON_USER=poisoned",
		"PROXY_URL="+proxy.URL(), "PROXY_CONTROL="+proxy.control)
}

// storePoison writes a message whose payload is not valid UTF-8 for user
// straight into the embedded store at dir, as an older version (or a
// restored backup) may have left one: the API refuses such payloads now.
func storePoison(t *testing.T, dir, user string) {
	t.Helper()
	st, err := pebble.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := &herald.Message{ID: "poison", Time: time.Now(), Payload: json.RawMessage("{\"text\":\"caf\xff\xfe\"}"), Users: []string{user}}
	if err := st.Append(context.Background(), []*herald.Message{m}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// runNode installs a Node package's pinned dev dependencies when missing and
// runs its tests, bounded in time.
func runNode(t *testing.T, dir string, limit time.Duration, env ...string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		install := exec.Command("npm", "install", "--no-audit", "--no-fund")
		install.Dir = dir
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("npm install in %s: %v\n%s", dir, err, out)
		}
	}
	cmd := exec.Command("npm", "test")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("npm test in %s did not finish in %s\n%s", dir, limit, out)
	}
	if err != nil {
		t.Fatalf("npm test in %s: %v\n%s", dir, err, out)
	}
	t.Logf("%s", out)
}
