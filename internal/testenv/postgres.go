package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// FerretDB stores in PostgreSQL by default: its SQLite back end takes one
// write lock for the whole database, which capped a local cluster near
// 250 store operations a second (docs/design/ferretdb-postgresql.md).
// HERALD_TEST_FERRETDB=sqlite selects SQLite, for a machine without
// PostgreSQL.
//
// One PostgreSQL server serves a test process (a package's tests): started
// at the first StartMongo, as the postgres user when the tests run as root
// (PostgreSQL refuses root), in a temporary directory, on a free loopback
// port, with fsync and synchronous commits on. Each StartMongo gets a
// database of its own, dropped after its test. The server is told to stop
// when the test process ends (its parent-death signal); a later test
// process removes the directories of servers whose process is gone.

// FerretBackend is the store FerretDB runs on in the tests: "postgresql"
// or "sqlite".
func FerretBackend() string {
	if os.Getenv("HERALD_TEST_FERRETDB") == "sqlite" {
		return "sqlite"
	}
	return "postgresql"
}

var (
	pgOnce sync.Once
	pgAddr string
	pgErr  error
	pgDBs  atomic.Int64
)

// postgresDatabase creates an empty database for t on the test process's
// PostgreSQL server (started on first use) and returns its URL; the
// database is dropped when t ends, after the FerretDB using it (cleanups
// run last-registered first, so register this before starting FerretDB).
func postgresDatabase(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() { pgAddr, pgErr = startPostgres(t) })
	if pgErr != nil {
		t.Fatalf("PostgreSQL for FerretDB: %v (install Debian's postgresql, `make test-deps`, or set HERALD_TEST_FERRETDB=sqlite)", pgErr)
	}
	name := fmt.Sprintf("herald_%d", pgDBs.Add(1))
	if err := psql(pgAddr, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { psql(pgAddr, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	return "postgres://postgres@" + pgAddr + "/" + name
}

// postgresBinDir finds the newest PostgreSQL server installed from
// Debian's packages, or one on the PATH.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i], nil
		}
	}
	p, err := exec.LookPath("postgres")
	if err != nil {
		return "", fmt.Errorf("no PostgreSQL server (postgres) found")
	}
	return filepath.Dir(p), nil
}

func startPostgres(t testing.TB) (string, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return "", err
	}
	removeStalePostgres()
	root, err := os.MkdirTemp("", "herald-pg-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(root, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", err
	}
	data := filepath.Join(root, "data")
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("running as root, PostgreSQL needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(root, uid, gid); err != nil {
			return "", err
		}
	}
	// --no-sync: initdb's own files are thrown away with the directory;
	// the server itself runs with fsync on.
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v: %s", err, out)
	}
	addr := FreePort(t, "127.0.0.1")
	_, port := splitHostPort(addr)
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", port, "-h", "127.0.0.1", "-k", root,
		"-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "max_connections=500",
		"-c", "dynamic_shared_memory_type=mmap", "-c", "logging_collector=off")
	log, err := os.Create(filepath.Join(root, "log"))
	if err != nil {
		return "", err
	}
	srv.Stdout, srv.Stderr = log, log
	// SIGQUIT when the test process ends: an immediate shutdown, which
	// still releases the server's shared memory.
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal follows the thread that started the
		// server: keep this goroutine on it for as long as the server runs.
		runtime.LockOSThread()
		err := srv.Start()
		started <- err
		if err == nil {
			srv.Wait()
		}
	}()
	if err := <-started; err != nil {
		return "", fmt.Errorf("start postgres: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := psql(addr, "SELECT 1")
		if err == nil {
			return addr, nil
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(root, "log"))
			return "", fmt.Errorf("postgres did not answer within 30 s: %v; its log: %s", err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// psql runs one statement as the postgres user.
func psql(addr, sql string) error {
	host, port := splitHostPort(addr)
	out, err := exec.Command("psql", "-h", host, "-p", port, "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAtc", sql).CombinedOutput()
	if err != nil {
		return fmt.Errorf("psql %q: %v: %s", sql, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeStalePostgres removes the directories of test servers whose test
// process is gone.
func removeStalePostgres() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "herald-pg-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue
		}
		os.RemoveAll(d)
	}
}
