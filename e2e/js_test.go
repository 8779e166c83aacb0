package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	n := startAll(t, t.TempDir(), testenv.FreePort(t, "127.0.0.1"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws")); err != nil {
		install := exec.Command("npm", "install", "--no-audit", "--no-fund")
		install.Dir = dir
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("npm install: %v\n%s", err, out)
		}
	}
	cmd := exec.Command("npm", "test")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HERALD_URL="+n.api.Base, "HERALD_API_KEY="+n.api.Key)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatal("npm test did not finish in 2 minutes")
	}
	if err != nil {
		t.Fatalf("npm test: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
