package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDevModeRule(t *testing.T) {
	for _, c := range []struct {
		listen     string
		dev, given bool
		on, warn   bool
	}{
		{"127.0.0.1:8080", true, false, true, false},        // the default: loopback, on
		{"127.0.0.5:8080", true, false, true, false},        // all of 127/8 is loopback
		{"[::1]:8080", true, false, true, false},            // so is ::1
		{"localhost:8080", true, false, true, false},        // and its name
		{"127.0.0.1:8080", false, true, false, false},       // --dev=false wins
		{"0.0.0.0:8080", true, false, false, false},         // every interface: off
		{":8080", true, false, false, false},                // the same, written short
		{"[::]:8080", true, false, false, false},            // IPv6 any
		{"10.1.2.3:8080", true, false, false, false},        // a private address is reachable too
		{"herald.internal:8080", true, false, false, false}, // a name may resolve anywhere
		{"0.0.0.0:8080", true, true, true, true},            // --dev given: on, and warned about
		{"0.0.0.0:8080", false, true, false, false},         // --dev=false given
	} {
		d := decideDev(c.listen, c.dev, c.given)
		if d.on != c.on || d.exposed() != c.warn {
			t.Errorf("listen %s dev=%v given=%v: on=%v exposed=%v, want %v %v", c.listen, c.dev, c.given, d.on, d.exposed(), c.on, c.warn)
		}
	}
}

func TestGivenTracksEverySource(t *testing.T) {
	for name, setup := range map[string]func(t *testing.T) []string{
		"flag": func(t *testing.T) []string { return []string{"--dev"} },
		"env":  func(t *testing.T) []string { t.Setenv("HERALD_DEV", "true"); return nil },
		"file": func(t *testing.T) []string {
			return []string{"--config", writeFile(t, "dev: true\n")}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dev := false
			f := newFlags("all", "doc")
			f.bool(&dev, "dev", "u")
			if err := f.parse(setup(t)); err != nil {
				t.Fatal(err)
			}
			if !dev || !f.given("dev") {
				t.Fatalf("dev=%v given=%v", dev, f.given("dev"))
			}
		})
	}
	dev := true
	f := newFlags("all", "doc")
	f.bool(&dev, "dev", "u")
	if err := f.parse(nil); err != nil || f.given("dev") {
		t.Fatalf("a default counts as given: %v", err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A generated secret file found readable by others is made owner-only.
func TestDevSecretIsOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	s, err := devSecret(dir, "api-key", 24)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "api-key")
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode %v", st.Mode().Perm())
	}
	os.Chmod(path, 0o644)
	again, err := devSecret(dir, "api-key", 24)
	if err != nil || again != s {
		t.Fatalf("%q %v", again, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("loose file left at %v", st.Mode().Perm())
	}
}
