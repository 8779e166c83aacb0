package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Redis is a running redis-server.
type Redis struct {
	Addr string
	*Process
}

// StartRedis starts redis-server on a free loopback port, without persistence
// (a test that restarts it gets an empty server, like a Redis that lost its data).
// A missing redis-server fails the test rather than skipping it: .ci/run installs one.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found (apt-get install redis-server; .ci/run does): %v", err)
	}
	addr := FreePort(t, "127.0.0.1")
	return startRedisAt(t, bin, addr)
}

func startRedisAt(t testing.TB, bin, addr string) *Redis {
	t.Helper()
	host, port := splitHostPort(addr)
	p := Start(t, "redis-server "+addr, bin, nil,
		"--bind", host, "--port", port, "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--loglevel", "warning")
	if err := WaitTCP(addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return &Redis{Addr: addr, Process: p}
}

// Restart kills the server (SIGKILL) and starts a new empty one on the same address.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.Process.Kill()
	r.StartAgain(t)
}

// StartAgain starts a new empty server on the address of one that was killed.
func (r *Redis) StartAgain(t testing.TB) {
	t.Helper()
	bin, _ := exec.LookPath("redis-server")
	*r = *startRedisAt(t, bin, r.Addr)
}

// Mongo is a running FerretDB speaking the MongoDB wire protocol.
type Mongo struct {
	Addr string
	URI  string
	Dir  string // SQLite: its files
	PG   string // PostgreSQL: the database's URL
	*Process
}

var (
	ferretOnce sync.Once
	ferretBin  string
)

// FerretBinary builds the FerretDB test server (its own Go module under
// internal/testenv/ferretdb) once and caches it in .testbin.
func FerretBinary(t testing.TB) string {
	t.Helper()
	ferretOnce.Do(func() {
		dir := filepath.Join(RepoRoot(), "internal", "testenv", "ferretdb")
		out := filepath.Join(binDir(), "ferretdb")
		// FerretDB takes a minute to build from scratch; reuse the binary while
		// its sources are older than it.
		if fresh(out, filepath.Join(dir, "main.go"), filepath.Join(dir, "go.sum")) {
			ferretBin = out
			return
		}
		ferretBin = build(t, dir, ".", out)
	})
	if ferretBin == "" {
		t.Fatal("ferretdb was not built")
	}
	return ferretBin
}

// StartMongo starts FerretDB on a free port, storing in a database of its
// own on PostgreSQL, or in SQLite files in a temp dir (FerretBackend).
func StartMongo(t testing.TB) *Mongo {
	t.Helper()
	m := &Mongo{Addr: FreePort(t, "127.0.0.1")}
	if FerretBackend() == "sqlite" {
		m.Dir = t.TempDir()
	} else {
		m.PG = postgresDatabase(t)
	}
	m.start(t)
	return m
}

func (m *Mongo) start(t testing.TB) {
	t.Helper()
	args := []string{"-listen", m.Addr, "-dir", m.Dir}
	if m.PG != "" {
		args = []string{"-listen", m.Addr, "-postgresql-url", m.PG}
	}
	m.Process = Start(t, "ferretdb "+m.Addr, FerretBinary(t), nil, args...)
	if err := WaitTCP(m.Addr, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	m.URI = "mongodb://" + m.Addr + "/"
}

// StartAgain starts the server again, on the same address and data, after it was killed.
func (m *Mongo) StartAgain(t testing.TB) {
	t.Helper()
	m.start(t)
}

func splitHostPort(addr string) (string, string) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:]
		}
	}
	return addr, ""
}

// fresh reports whether out exists and is newer than every source.
func fresh(out string, sources ...string) bool {
	o, err := os.Stat(out)
	if err != nil {
		return false
	}
	for _, s := range sources {
		st, err := os.Stat(s)
		if err != nil || st.ModTime().After(o.ModTime()) {
			return false
		}
	}
	return true
}

// StartRedisCluster starts a 3-master Redis Cluster on loopback ports (no
// replicas, no persistence) with redis-cli --cluster create, and returns the
// node addresses once the cluster reports ok.
func StartRedisCluster(t testing.TB) []string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found: %v", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found: %v", err)
	}
	var addrs []string
	for range 3 {
		addr := FreePort(t, "127.0.0.1")
		host, port := splitHostPort(addr)
		dir := t.TempDir()
		Start(t, "redis cluster node "+addr, bin, nil,
			"--bind", host, "--port", port, "--save", "", "--appendonly", "no", "--dir", dir,
			"--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf", "--loglevel", "warning")
		if err := WaitTCP(addr, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// Every node must see the cluster ok, not only the first: a node that
	// has not heard of the slots yet answers CLUSTERDOWN.
	CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		for _, a := range addrs {
			host, port := splitHostPort(a)
			out, _ := exec.Command(cli, "-h", host, "-p", port, "cluster", "info").Output()
			if !strings.Contains(string(out), "cluster_state:ok") {
				return fmt.Errorf("redis cluster node %s not ok:\n%s", a, out)
			}
		}
		return nil
	})
	return addrs
}

// WSLibBinary builds bench/wslib (the WebSocket-library comparison server,
// its own Go module) into the test's temp dir.
func WSLibBinary(t testing.TB) string {
	t.Helper()
	return build(t, filepath.Join(RepoRoot(), "bench", "wslib"), ".", filepath.Join(t.TempDir(), "wslib"))
}

// CentrifugoBinary builds Centrifugo v6.9.1 from bench/centrifugo (its own
// Go module: the peer of `make bench-centrifugo`) into the test's temp dir.
// A first build downloads and compiles Centrifugo's dependencies (minutes).
func CentrifugoBinary(t testing.TB) string {
	t.Helper()
	return build(t, filepath.Join(RepoRoot(), "bench", "centrifugo"), "github.com/centrifugal/centrifugo/v6", filepath.Join(t.TempDir(), "centrifugo"))
}

// BenchBinary builds the load generator, herald-bench (bench/, its own Go
// module), into the test's temp dir: connect runs start worker processes of it.
func BenchBinary(t testing.TB) string {
	t.Helper()
	return build(t, filepath.Join(RepoRoot(), "bench"), "./cmd/herald-bench", filepath.Join(t.TempDir(), "herald-bench"))
}
