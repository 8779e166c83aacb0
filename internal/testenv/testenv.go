// Package testenv starts the real components Herald's tests talk to: redis-server,
// FerretDB (a MongoDB-wire server, with SQLite storage) and the herald binary
// itself (one process, or a cluster of them), each as a child process on a
// free loopback port, stopped by t.Cleanup; and it waits on conditions
// (CheckFor) instead of sleeping.
//
// Its subpackages do the rest of a test's work: probe talks to Herald as a
// client and as the application, traffic puts sustained load on it and
// judges what arrived, certs makes TLS certificates.
//
// Nothing here is a fake: the Redis router is tested against redis-server and the
// MongoDB store against FerretDB through the official driver.
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// handedOut is every address FreePort has returned in this process.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// FreePort returns a free TCP port on host (a 127.0.0.x address), never one
// it returned before in this test process: the kernel may give a port it
// just gave (and FreePort closed) to the next bind, and a node handed the
// same port for two listeners failed to start ("address already in use").
func FreePort(t testing.TB, host string) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	var held []net.Listener // repeats stay bound, so the next bind gets another
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range 100 {
		l, err := net.Listen("tcp", host+":0")
		if err != nil {
			t.Fatalf("find a free port on %s: %v", host, err)
		}
		held = append(held, l)
		if addr := l.Addr().String(); !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
	t.Fatalf("find a free port on %s: 100 binds gave ports handed out already", host)
	return ""
}

// WaitTCP waits until addr accepts TCP connections, up to timeout.
func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %s: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// binDir is where built helper binaries are cached between test runs, so a
// second `make test` does not rebuild FerretDB.
func binDir() string {
	if d := os.Getenv("HERALD_TEST_BIN"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), ".testbin")
}

var buildMu sync.Mutex

// build runs `go build -o out pkg` in dir once per process (go's build cache
// makes repeats across processes cheap). Concurrent test packages each build;
// they write to distinct temp names and rename, so they never see half a file.
func build(t testing.TB, dir, pkg, out string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := fmt.Sprintf("%s.tmp%d", out, os.Getpid())
	cmd := exec.Command("go", "build", "-o", tmp, pkg)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, stderr.String())
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	heraldOnce sync.Once
	heraldBin  string
)

// HeraldBinary builds ./cmd/herald once per test process and returns its path.
func HeraldBinary(t testing.TB) string {
	t.Helper()
	heraldOnce.Do(func() {
		pruneHeraldBinaries()
		heraldBin = build(t, RepoRoot(), "./cmd/herald", filepath.Join(binDir(), fmt.Sprintf("herald-%d", os.Getpid())))
	})
	if heraldBin == "" {
		t.Fatal("herald binary was not built")
	}
	return heraldBin
}

// pruneHeraldBinaries removes the binaries of test processes that have
// exited: each process builds its own (test packages run at once, and one
// must not replace a binary another is starting), and a test process has no
// hook to remove it at exit, so without this every run left 60 MB behind.
func pruneHeraldBinaries() {
	old, _ := filepath.Glob(filepath.Join(binDir(), "herald-*"))
	for _, f := range old {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(f), "herald-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH { // that process is gone
			os.Remove(f)
		}
	}
}

// Process is a child process started by a test.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Log  *SyncBuffer
	done chan struct{} // closed when the process has exited and been reaped
}

// Start starts bin with args and env, logging its output into a buffer that is
// printed if the test fails. The process is SIGKILLed at cleanup if still running.
func Start(t testing.TB, name, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: name, Log: &SyncBuffer{}}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout = p.Log
	p.Cmd.Stderr = p.Log
	// Own process group, so a SIGKILL of the test's children never reaches the test.
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p.done = make(chan struct{})
	go func() { p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.Cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, p.Log.String())
		}
	})
	return p
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error { return p.Cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to exit.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %s", p.Name, timeout)
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() {
	p.Cmd.Process.Kill()
	<-p.done
}

// Pause freezes the process (SIGSTOP), as a long GC pause or a stalled VM would.
func (p *Process) Pause() error { return p.Signal(syscall.SIGSTOP) }

// Resume lets a paused process run again (SIGCONT).
func (p *Process) Resume() error { return p.Signal(syscall.SIGCONT) }

// Stop sends SIGTERM and waits up to timeout for the process to exit.
func (p *Process) Stop(timeout time.Duration) error {
	p.Signal(syscall.SIGTERM)
	return p.Wait(timeout)
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Contains reports whether the output so far contains sub.
func (s *SyncBuffer) Contains(sub string) bool { return strings.Contains(s.String(), sub) }
