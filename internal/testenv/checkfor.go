package testenv

import (
	"testing"
	"time"
)

// CheckFor calls fn every `every` until it returns nil, and fails the test
// with fn's last error if it has not within total: the one way tests wait for
// a condition (nats-server's checkFor), rather than sleeping and hoping.
func CheckFor(t testing.TB, total, every time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", total, err)
		}
		time.Sleep(every)
	}
}
