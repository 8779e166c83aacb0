package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/heraldpush/herald/internal/testenv"
)

// The Python SDK's tests (clients/python/tests), with Debian's python3 and
// python3-websockets (scripts/install-test-deps.sh), against a real herald
// all: the sender's calls and retries, the webhook verifier, and the
// asyncio client's order, resume, acks and topics.
func TestPythonSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("needs python3")
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "clients", "python")
	n := startAll(t, t.TempDir(), testenv.FreePort(t, "127.0.0.1"))
	cmd := exec.Command("/usr/bin/python3", "-m", "unittest", "discover", "-s", "tests", "-t", ".", "-v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HERALD_URL="+n.api.Base, "HERALD_API_KEY="+n.api.Key, "PYTHONPATH="+dir, "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python tests: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
