package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
)

// TestJSClient runs the JavaScript SDK's own tests (clients/js, Node's test
// runner) against a real `herald all`. Node and npm come with the machine;
// npm install fetches the SDK's pinned dev dependencies (TypeScript, ws).
func TestJSClient(t *testing.T) {
	if testing.Short() {
		t.Skip("needs node and npm")
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "clients", "js")
	// Short keep-alive and grace: the SDK's refresh test has a 2 s token.
	// The room namespace is the presence test's; the push test's Web Push
	// endpoint is on loopback.
	n := startAll(t, t.TempDir(), testenv.FreePort(t, "127.0.0.1"), "--ping-interval", "1s", "--token-grace", "1s",
		"--namespaces", `{"room": {"presence": true, "client_presence": true, "join_leave": true}, "price": {"last_value": true}}`,
		"--webpush-hosts", "127.0.0.1", "--allow-private-networks", "127.0.0.0/8")
	runNode(t, dir, 2*time.Minute, "HERALD_URL="+n.api.Base, "HERALD_API_KEY="+n.api.Key)

	// The demo page embeds the compiled SDK: it must be the SDK as built now.
	for built, embedded := range map[string]string{"index.js": "herald-client.js", "herald-eventstream.js": "herald-eventstream.js"} {
		b, err := os.ReadFile(filepath.Join(dir, "dist", built))
		if err != nil {
			t.Fatal(err)
		}
		e, err := os.ReadFile(filepath.Join(dir, "..", "..", "web", "static", embedded))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(e) {
			t.Fatalf("web/static/%s differs from the SDK's build: run make web", embedded)
		}
	}

	// What npm would publish: the built entry points with their types, the
	// README and package.json; no sources, tests or scripts.
	pack := exec.Command("npm", "pack", "--dry-run", "--json")
	pack.Dir = dir
	out, err := pack.Output()
	if err != nil {
		t.Fatalf("npm pack: %v\n%s", err, out)
	}
	var packed []struct {
		Name  string
		Files []struct{ Path string }
	}
	if err := json.Unmarshal(out, &packed); err != nil || len(packed) != 1 {
		t.Fatalf("npm pack --json: %v\n%s", err, out)
	}
	var files []string
	for _, f := range packed[0].Files {
		files = append(files, f.Path)
	}
	want := []string{"README.md", "dist/herald-eventstream.d.ts", "dist/herald-eventstream.js", "dist/index.d.ts", "dist/index.js",
		"dist/sender.d.ts", "dist/sender.js", "package.json"}
	slices.Sort(files)
	if packed[0].Name != "@heraldpush/client" || !slices.Equal(files, want) {
		t.Fatalf("npm pack: %s with %v, want @heraldpush/client with %v", packed[0].Name, files, want)
	}
	size := exec.Command("node", "scripts/size.mjs")
	size.Dir = dir
	if out, err := size.CombinedOutput(); err != nil {
		t.Fatalf("size: %v\n%s", err, out)
	} else {
		t.Logf("bundle sizes:\n%s", out)
	}
}
