package watched

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReloadKeepsTheLastGoodValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v")
	write := func(s string, at time.Time) {
		os.WriteFile(path, []byte(s), 0o600)
		os.Chtimes(path, at, at)
	}
	write("one", time.Now())
	loads := 0
	f, err := Load("test value", time.Minute, func() (string, error) {
		loads++
		b, err := os.ReadFile(path)
		if strings.HasPrefix(string(b), "bad") {
			return "", errors.New("does not parse")
		}
		return string(b), err
	}, path)
	if err != nil || f.Get() != "one" {
		t.Fatalf("Load: %v %q", err, f.Get())
	}
	clock := time.Now()
	f.Now = func() time.Time { return clock }
	write("two", clock.Add(time.Second))
	if got := f.Get(); got != "one" {
		t.Fatalf("looked before Every passed: %q", got)
	}
	clock = clock.Add(2 * time.Minute)
	if got := f.Get(); got != "two" {
		t.Fatalf("after a change: %q", got)
	}
	n := loads
	clock = clock.Add(2 * time.Minute)
	if f.Get(); loads != n {
		t.Fatal("loaded again with no change")
	}
	write("bad", clock.Add(time.Second))
	clock = clock.Add(2 * time.Minute)
	if got := f.Get(); got != "two" {
		t.Fatalf("a change that does not load: %q", got)
	}
	write("three", clock.Add(2*time.Second))
	clock = clock.Add(2 * time.Minute)
	if got := f.Get(); got != "three" {
		t.Fatalf("the next good change: %q", got)
	}
	if _, err := Load("missing", time.Second, func() (int, error) { return 1, nil }, filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("a missing file loaded")
	}
}
