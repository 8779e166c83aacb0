package auth

import (
	"context"
	"testing"
	"time"
)

// FuzzVerify: no token crashes the parser, and nothing but a token signed
// with the secret is accepted.
func FuzzVerify(f *testing.F) {
	j, _ := NewJWT(secret)
	// A fixed mint time (in 2030, so the token is valid now): the fuzz
	// workers run this function again, and each must mint the same token.
	j.now = func() time.Time { return time.Unix(1_900_000_000, 0) }
	good, _ := j.Mint("alice", time.Hour)
	for _, s := range []string{good, "", "a.b.c", good + "x", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", good[:len(good)-2]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := j.Verify(context.Background(), token)
		if err == nil && token != good {
			// Only a token this secret signed can pass; the fuzzer cannot forge one.
			t.Fatalf("accepted %q as %+v", token, id)
		}
	})
}
