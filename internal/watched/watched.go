// Package watched holds values loaded from files and loads them again when
// the files change: certificates, public keys, API key lists, which are
// rotated by replacing a file, without a restart.
package watched

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// File is a value loaded from one or more files. Get looks at the files'
// modification times at most every Every and, when one changed, loads the
// value again. A changed file that does not load (a certificate written
// before its key, a half-saved YAML file) is logged and the old value kept
// until the next look: a rotation can only ever replace a good value with a
// good value.
type File[T any] struct {
	what  string // for the logs: "TLS certificate", "API keys file"
	paths []string
	load  func() (T, error)

	// Every bounds how often the files are looked at; 0 looks on every Get.
	Every time.Duration
	// Now is the clock (tests move it).
	Now func() time.Time

	val     atomic.Pointer[T]
	checked atomic.Int64 // Unix ns of the last look: Get's fast path reads only this and val
	mu      sync.Mutex   // one look at a time
	mods    []time.Time
}

// Load loads the value once (an error here is an error at start) and
// returns it watched.
func Load[T any](what string, every time.Duration, load func() (T, error), paths ...string) (*File[T], error) {
	f := &File[T]{what: what, paths: paths, load: load, Every: every, Now: time.Now}
	mods, err := f.modTimes()
	if err != nil {
		return nil, err
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	f.val.Store(&v)
	f.mods = mods
	f.checked.Store(f.Now().UnixNano())
	return f, nil
}

func (f *File[T]) modTimes() ([]time.Time, error) {
	m := make([]time.Time, len(f.paths))
	for i, p := range f.paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.what, err)
		}
		m[i] = st.ModTime()
	}
	return m, nil
}

// Get returns the value, loading it again first when a look is due and a
// file changed.
func (f *File[T]) Get() T {
	now := f.Now()
	if now.UnixNano()-f.checked.Load() < int64(f.Every) {
		return *f.val.Load()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.UnixNano()-f.checked.Load() < int64(f.Every) {
		return *f.val.Load() // another Get looked meanwhile
	}
	f.checked.Store(now.UnixNano())
	mods, err := f.modTimes()
	if err != nil || slices.EqualFunc(mods, f.mods, time.Time.Equal) {
		return *f.val.Load() // a missing file is a change not finished yet
	}
	v, err := f.load()
	if err != nil {
		slog.Warn(f.what+" changed but does not load; keeping the one in force", "files", f.paths, "err", err)
		return *f.val.Load()
	}
	f.val.Store(&v)
	f.mods = mods
	slog.Info(f.what+" reloaded", "files", f.paths)
	return v
}
