package httpx

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

func code(err error) string {
	var he *herald.Error
	if errors.As(err, &he) {
		return he.Code
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// Named keys with scopes; a changed file is picked up (rotation without a
// restart); a broken file keeps the keys in force.
func TestKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.yaml")
	write := func(body string, mod time.Time) {
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(file, mod, mod)
	}
	write(`keys:
  - {name: shop, key: shop-key-0123456789, scopes: [send, read]}
  - {name: ops, key: ops-key-0123456789, scopes: [admin]}
`, time.Now())
	k, err := NewKeys("the-single-key", file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, scope, want string }{
		{"shop-key-0123456789", ScopeSend, "ok"},
		{"shop-key-0123456789", ScopeRead, "ok"},
		{"shop-key-0123456789", ScopeAdmin, herald.EForbidden},
		{"ops-key-0123456789", ScopeAdmin, "ok"},
		{"ops-key-0123456789", ScopeSend, herald.EForbidden},
		{"the-single-key", ScopeAdmin, "ok"},
		{"wrong", ScopeSend, herald.EUnauthorized},
		{"", ScopeSend, herald.EUnauthorized},
	} {
		if _, err := k.Check(tc.key, tc.scope); code(err) != tc.want {
			t.Errorf("%s/%s: %v, want %s", tc.key, tc.scope, err, tc.want)
		}
	}

	// Rotation: shop's key is replaced.
	write(`keys:
  - {name: shop, key: shop-key-NEW-456789, scopes: [send]}
`, time.Now().Add(time.Minute))
	k.file.Every = 0 // look at the file now
	if _, err := k.Check("shop-key-NEW-456789", ScopeSend); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if _, err := k.Check("shop-key-0123456789", ScopeSend); code(err) != herald.EUnauthorized {
		t.Fatalf("retired key: %v", err)
	}

	// A broken file keeps what is in force.
	write("keys: [ {name: x", time.Now().Add(2*time.Minute))
	k.file.Every = 0 // look at the file now
	if _, err := k.Check("shop-key-NEW-456789", ScopeSend); err != nil {
		t.Fatalf("after a broken file: %v", err)
	}

	for name, body := range map[string]string{
		"short key":     "keys: [{name: a, key: short, scopes: [send]}]",
		"unknown scope": "keys: [{name: a, key: long-enough-key-123, scopes: [root]}]",
		"no name":       "keys: [{key: long-enough-key-123, scopes: [send]}]",
	} {
		write(body, time.Now())
		if _, err := NewKeys("", file); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewKeys("", ""); err == nil {
		t.Error("no key at all: accepted")
	}
}

// A key with a rate gets a burst of one second's worth, then 429s, and
// refills; keys without a rate are not limited.
func TestKeyRate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.yaml")
	os.WriteFile(file, []byte("keys:\n  - {name: slow, key: slow-key-0123456789, scopes: [send], rate: 5}\n"), 0o600)
	k, err := NewKeys("free-key", file)
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for range 20 {
		if _, err := k.Check("slow-key-0123456789", ScopeSend); err == nil {
			ok++
		} else if code(err) != herald.ETooMany {
			t.Fatalf("over the rate: %v", err)
		}
	}
	if ok != 5 {
		t.Fatalf("%d of 20 allowed at once, want the burst of 5", ok)
	}
	for range 100 {
		if _, err := k.Check("free-key", ScopeSend); err != nil {
			t.Fatalf("unlimited key: %v", err)
		}
	}
	time.Sleep(250 * time.Millisecond) // refills ~1.25
	if _, err := k.Check("slow-key-0123456789", ScopeSend); err != nil {
		t.Fatalf("after the refill: %v", err)
	}
}

// BenchmarkKeysCheck checks a send request's API key.
func BenchmarkKeysCheck(b *testing.B) {
	const single = "hk_0123456789abcdef0123456789abcdef0123456789abcdef"
	k, err := NewKeys(single, "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Check(single, ScopeSend); err != nil {
			b.Fatal(err)
		}
	}
}
