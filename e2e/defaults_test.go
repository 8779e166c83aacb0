package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// devPaths are every path dev mode adds: the demo page and its endpoints.
var devPaths = []struct{ method, path, body string }{
	{"GET", "/", ""},
	{"GET", "/app.js", ""},
	{"POST", "/dev/token", `{"user":"victim"}`},
	{"POST", "/dev/messages", `{"users":["victim"],"payload":"x"}`},
	{"POST", "/dev/topics/news/messages", `{"payload":"x"}`},
	{"POST", "/dev/broadcast", `{"payload":"x"}`},
}

// startAllAt starts `herald all` with args and waits for it on reach (the
// loopback address of its port; traffic stays on loopback even when it
// listens on every interface).
func startAllAt(t *testing.T, reach string, args ...string) *testenv.Process {
	t.Helper()
	p := testenv.Start(t, "herald all", testenv.HeraldBinary(t), nil, args...)
	if err := probe.WaitHTTP("http://"+reach+"/readyz", 15*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.Log.String())
	}
	return p
}

func devStatus(t *testing.T, base, method, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 404 {
		var e struct{ Error struct{ Code string } }
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Error.Code != "not_found" {
			t.Errorf("%s %s: 404 without a JSON error body", method, path)
		}
	}
	return resp.StatusCode
}

// Dev mode is on by default only on loopback: on every interface (as in a
// container) each /dev/ path and the demo page are 404, and the API works
// with its key. With --dev given it serves them and says so, loudly.
func TestDevModeOnlyOnLoopbackUnlessGiven(t *testing.T) {
	port := portOf(t, testenv.FreePort(t, "127.0.0.1"))
	reach := net.JoinHostPort("127.0.0.1", port)
	dir := t.TempDir()
	p := startAllAt(t, reach, "all", "--listen", "0.0.0.0:"+port, "--data-dir", dir)
	for _, c := range devPaths {
		if code := devStatus(t, "http://"+reach, c.method, c.path, c.body); code != 404 {
			t.Errorf("without --dev on 0.0.0.0: %s %s = %d, want 404", c.method, c.path, code)
		}
	}
	if !p.Log.Contains("Dev mode off") || p.Log.Contains("Demo page") {
		t.Errorf("the banner must say dev mode is off:\n%s", p.Log.String())
	}
	key, _ := os.ReadFile(filepath.Join(dir, "api-key"))
	api := probe.API{Base: "http://" + reach, Key: strings.TrimSpace(string(key))}
	if tok := api.Token(t, "alice"); tok == "" {
		t.Fatal("no token through the API")
	}
	p.Stop(20 * time.Second)

	port = portOf(t, testenv.FreePort(t, "127.0.0.1"))
	reach = net.JoinHostPort("127.0.0.1", port)
	p = startAllAt(t, reach, "all", "--listen", "0.0.0.0:"+port, "--data-dir", t.TempDir(), "--dev")
	for _, c := range devPaths {
		if code := devStatus(t, "http://"+reach, c.method, c.path, c.body); code/100 != 2 {
			t.Errorf("with --dev: %s %s = %d", c.method, c.path, code)
		}
	}
	if !p.Log.Contains("DEV MODE ON A REACHABLE ADDRESS") || !p.Log.Contains("WARNING: dev mode is on") {
		t.Errorf("--dev on 0.0.0.0 must warn in the log and on the banner:\n%s", p.Log.String())
	}
}

// The container's default command (the Dockerfile's ENTRYPOINT and CMD,
// read from the file, as `docker run herald` would run them) serves nothing
// under /dev/ and no demo page. No Docker engine is needed: the command line
// is run as a process, its port moved to a free one and its data directory to
// a temporary one.
func TestContainerDefaultCommandHasNoDevMode(t *testing.T) {
	args := dockerfileCommand(t, filepath.Join(testenv.RepoRoot(), "Dockerfile"))
	if len(args) == 0 || args[0] != "all" {
		t.Fatalf("the image's default command is %q; this test expects herald all", args)
	}
	port := portOf(t, testenv.FreePort(t, "127.0.0.1"))
	listenAt := -1
	for i, a := range args {
		switch {
		case a == "--dev" || strings.HasPrefix(a, "--dev="):
			t.Fatalf("the image's default command gives %s", a)
		case a == "--listen" && i+1 < len(args):
			host, _, err := net.SplitHostPort(args[i+1])
			if err != nil || host == "127.0.0.1" || host == "localhost" {
				t.Fatalf("the image listens on %q: a container must listen on every interface for -p to work", args[i+1])
			}
			args[i+1] = net.JoinHostPort(host, port)
			listenAt = i
		case a == "--data-dir" && i+1 < len(args):
			args[i+1] = t.TempDir()
		}
	}
	if listenAt < 0 {
		t.Fatalf("the image's command %q names no --listen", args)
	}
	reach := net.JoinHostPort("127.0.0.1", port)
	startAllAt(t, reach, args...)
	for _, c := range devPaths {
		if code := devStatus(t, "http://"+reach, c.method, c.path, c.body); code != 404 {
			t.Errorf("docker run herald: %s %s = %d, want 404", c.method, c.path, code)
		}
	}
}

// dockerfileCommand returns the arguments `docker run IMAGE` passes to the
// binary: the exec-form ENTRYPOINT's arguments after the binary, then CMD's.
func dockerfileCommand(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var entry, cmd []string
	re := regexp.MustCompile(`(?m)^(ENTRYPOINT|CMD)\s+(\[.*\])\s*$`)
	for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
		var v []string
		if err := json.Unmarshal([]byte(m[2]), &v); err != nil {
			t.Fatalf("%s %s is not the exec (JSON) form: %v", m[1], m[2], err)
		}
		if m[1] == "ENTRYPOINT" {
			entry = v
		} else {
			cmd = v
		}
	}
	if len(entry) != 1 || entry[0] != "/herald" {
		t.Fatalf("ENTRYPOINT %q: want [\"/herald\"]", entry)
	}
	return cmd
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}
