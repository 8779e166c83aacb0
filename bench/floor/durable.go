package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ringSize is the durable log's file: written in full once before the run,
// then overwritten from its start each time the writes reach its end.
const ringSize = 64 << 20

// durableLog is the least durable store (--durable): every request's body
// written to one file, and one write and one fdatasync for all the requests
// that arrived while the last one ran (group commit), each answered only
// after its bytes are on disk, as collect answers 202. No index, no records,
// no recovery: what a durable 202 costs on this machine and nothing else,
// the floor under a storing server's figures.
//
// The writes overwrite blocks the file already has (a ring), so an
// fdatasync flushes only data: on ext4 a write that grows the file also
// commits the new size to the journal, which made each sync dearer (a
// storing server could do the same; Pebble's recycled logs do, after the
// first).
type durableLog struct {
	f        *os.File
	interval time.Duration // as collect's --commit-interval: spaces the writes' starts
	kick     chan struct{}
	off      int64 // where the next write goes; only run touches it

	mu  sync.Mutex
	cur *group

	writes atomic.Int64
}

// group is the bodies that will share one write and one fdatasync.
type group struct {
	buf  []byte
	done chan struct{}
	err  error
}

func openDurableLog(dir string, interval time.Duration) (*durableLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("durable log: %w", err)
	}
	f, err := os.CreateTemp(dir, "floor-*.log")
	if err != nil {
		return nil, fmt.Errorf("durable log: %w", err)
	}
	zero := make([]byte, 1<<20)
	for range ringSize / len(zero) {
		if _, err = f.Write(zero); err != nil {
			break
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("durable log: fill %s: %w", f.Name(), err)
	}
	l := &durableLog{f: f, interval: interval, kick: make(chan struct{}, 1), cur: &group{done: make(chan struct{})}}
	go l.run()
	return l, nil
}

// append returns once body is on disk.
func (l *durableLog) append(body []byte) error {
	l.mu.Lock()
	g := l.cur
	g.buf = append(g.buf, body...)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default: // a kick is pending: the writer will take this group too
	}
	<-g.done
	return g.err
}

func (l *durableLog) run() {
	var last time.Time
	for range l.kick {
		if wait := time.Until(last.Add(l.interval)); wait > 0 {
			time.Sleep(wait)
		}
		l.mu.Lock()
		g := l.cur
		if len(g.buf) == 0 { // taken by the write before this kick's
			l.mu.Unlock()
			continue
		}
		l.cur = &group{buf: make([]byte, 0, cap(g.buf)), done: make(chan struct{})}
		l.mu.Unlock()
		last = time.Now()
		if l.off+int64(len(g.buf)) > ringSize {
			l.off = 0
		}
		_, err := l.f.WriteAt(g.buf, l.off)
		l.off += int64(len(g.buf))
		if err == nil {
			err = syscall.Fdatasync(int(l.f.Fd())) // as Pebble syncs its log
		}
		l.writes.Add(1)
		g.err = err
		close(g.done)
	}
}

// close removes the file; requests still waiting are not the floor's concern
// (the window has ended).
func (l *durableLog) close() {
	l.f.Close()
	os.Remove(l.f.Name())
}
