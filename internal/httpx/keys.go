package httpx

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/bucket"
	"github.com/heraldpush/herald/internal/watched"
)

// API key scopes: what a key may do (docs/security.md, "API keys").
const (
	ScopeSend  = "send"  // POST /v1/messages, /v1/messages/batch
	ScopeRead  = "read"  // GET a user's history and presence
	ScopeAdmin = "admin" // minting tokens, disconnecting users, /v1/admin/*
)

var allScopes = []string{ScopeSend, ScopeRead, ScopeAdmin}

// Keys is the set of API keys a service accepts: the --api-key (named
// "default", every scope) and the named keys of --api-keys-file, each with
// its scopes. The file is read again when it changes (looked at every few
// seconds), so a key is rotated without a restart: add the new key, move
// the callers over, remove the old one.
type Keys struct {
	fixed []key                // without a file: the --api-key
	file  *watched.File[[]key] // with --api-keys-file: the --api-key and the file's keys

	bmu     sync.Mutex
	buckets map[string]*bucket.Bucket // by key name, so a reload of the file does not refill them
}

type key struct {
	name   string
	sum    [32]byte
	scopes []string
	rate   float64 // requests a second, burst of one second's worth; 0: no limit
}

// apiRefused counts refused API calls by key and reason (wrong key, scope,
// rate); NewRegistry registers it.
var apiRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "herald_api_refused_total",
	Help: "API calls refused, by key name (empty: no valid key) and reason: unauthorized, forbidden (scope), rate.",
}, []string{"key", "reason"})

// keysFile is the --api-keys-file format.
type keysFile struct {
	Keys []struct {
		Name   string   `yaml:"name"`
		Key    string   `yaml:"key"`
		Scopes []string `yaml:"scopes"`
		Rate   float64  `yaml:"rate"` // requests a second; 0 or absent: no limit
	} `yaml:"keys"`
}

const keysFileCheckEvery = 2 * time.Second

// NewKeys returns the key set of single (may be empty) and file (may be
// empty); at least one key is needed.
func NewKeys(single, file string) (*Keys, error) {
	k := &Keys{buckets: map[string]*bucket.Bucket{}}
	var err error
	if file == "" {
		k.fixed, err = loadKeys(single, "")
	} else {
		k.file, err = watched.Load("API keys file", keysFileCheckEvery, func() ([]key, error) { return loadKeys(single, file) }, file)
	}
	if err != nil {
		return nil, err
	}
	if len(k.list()) == 0 {
		return nil, fmt.Errorf("no API key: set --api-key or --api-keys-file")
	}
	if file != "" {
		warnIfShared(file)
	}
	return k, nil
}

// warnIfShared logs a warning when a file of secrets can be read by users
// other than its owner (a Kubernetes secret volume mounts files 0644 unless
// its defaultMode says otherwise). It only warns: refusing would stop a
// deployment whose filesystem or mount cannot express 0600.
func warnIfShared(path string) {
	st, err := os.Stat(path)
	if err == nil && st.Mode().Perm()&0o077 != 0 {
		slog.Warn("secrets file is readable by other users of this machine; chmod 600 it (or defaultMode: 0400 on a Kubernetes secret volume)",
			"file", path, "mode", st.Mode().Perm().String())
	}
}

// SingleKey is a key set of one key with every scope (tests, herald all).
func SingleKey(k string) *Keys {
	ks, err := NewKeys(k, "")
	if err != nil {
		panic(err)
	}
	return ks
}

// list returns the keys in force (the file's read again when it changed).
func (k *Keys) list() []key {
	if k.file != nil {
		return k.file.Get()
	}
	return k.fixed
}

// loadKeys reads the keys of single and file.
func loadKeys(single, file string) ([]key, error) {
	var keys []key
	if single != "" {
		keys = append(keys, key{name: "default", sum: sha256.Sum256([]byte(single)), scopes: allScopes})
	}
	if file == "" {
		return keys, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("api keys file: %w", err)
	}
	var f keysFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("api keys file %s: %w", file, err)
	}
	for i, e := range f.Keys {
		if e.Name == "" || len(e.Key) < 16 {
			return nil, fmt.Errorf("api keys file %s: key %d needs a name and a key of at least 16 bytes", file, i)
		}
		for _, s := range e.Scopes {
			if !slices.Contains(allScopes, s) {
				return nil, fmt.Errorf("api keys file %s: key %q: unknown scope %q (send, read, admin)", file, e.Name, s)
			}
		}
		if e.Rate < 0 {
			return nil, fmt.Errorf("api keys file %s: key %q: negative rate", file, e.Name)
		}
		keys = append(keys, key{name: e.Name, sum: sha256.Sum256([]byte(e.Key)), scopes: e.Scopes, rate: e.Rate})
	}
	return keys, nil
}

// Check returns the name of the key presented, ErrUnauthorized-coded for
// none or a wrong one, EForbidden for a key without scope. Every key is
// compared, each in constant time, so neither the key nor which key
// matched can be learned from timing.
func (k *Keys) Check(presented, scope string) (string, error) {
	// Copied to the stack first: a key is longer than the 32 bytes that a
	// conversion keeps off the heap, and this runs for every request.
	var buf [256]byte
	sum := sha256.Sum256(append(buf[:0], presented...))
	keys := k.list()
	var match *key
	for i := range keys {
		if subtle.ConstantTimeCompare(sum[:], keys[i].sum[:]) == 1 && presented != "" {
			match = &keys[i]
		}
	}
	switch {
	case match == nil:
		apiRefused.WithLabelValues("", "unauthorized").Inc()
		return "", herald.Errorf(herald.EUnauthorized, "missing or wrong API key")
	case !slices.Contains(match.scopes, scope):
		apiRefused.WithLabelValues(match.name, "forbidden").Inc()
		return match.name, herald.Errorf(herald.EForbidden, "API key %q lacks the %q scope", match.name, scope)
	case match.rate > 0 && !k.allow(match.name, match.rate, time.Now()):
		apiRefused.WithLabelValues(match.name, "rate").Inc()
		return match.name, herald.Errorf(herald.ETooMany, "API key %q is over its rate of %g requests a second; retry after a second", match.name, match.rate)
	}
	return match.name, nil
}

// allow takes a token from the key's bucket.
func (k *Keys) allow(name string, rate float64, now time.Time) bool {
	k.bmu.Lock()
	defer k.bmu.Unlock()
	b := k.buckets[name]
	if b == nil {
		b = &bucket.Bucket{}
		k.buckets[name] = b
	}
	return b.Allow(now, rate)
}

// RequireScope wraps next so that it runs only with "Authorization: Bearer
// <key>" of a key that has scope.
func RequireScope(keys *Keys, scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Admit(keys, scope, w, r) {
			next.ServeHTTP(w, r)
		}
	})
}

// Admit checks r's API key for scope from its headers alone; false means it
// has answered with the refusal (401, 403, or 429 with Retry-After). The
// send lane calls it before reading a body.
func Admit(keys *Keys, scope string, w http.ResponseWriter, r *http.Request) bool {
	if _, err := keys.Check(BearerToken(r), scope); err != nil {
		var he *herald.Error
		if errors.As(err, &he) && he.Code == herald.ETooMany {
			w.Header().Set("Retry-After", "1")
		}
		Error(w, r, err)
		return false
	}
	return true
}
