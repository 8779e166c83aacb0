package netpoll

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pollers are the process's epoll instances, one per 4 Ps (1 to 8): each
// reads its connections on one goroutine, so on a node with many cores and
// busy clients one goroutine's reads must not be the limit, while a small
// node keeps one (every poller blocked in epoll_wait is a thread to wake,
// and one reads a few hundred thousand times a second). A connection stays
// with the poller it was given.
//
// Each poller's connections are registered
// level-triggered and one-shot: an event disarms the connection until what
// it read has been handled and it is re-armed, so two handlers never run at
// once, and data left unread fires again.
//
// The poller reads a ready connection itself, on its own goroutine, and
// offers the bytes to Peek there: a pong (most of what an idle connection
// sends) is then handled without starting a goroutine, which a profile of
// 18,000 idle connections showed as a good part of the cost of each pong.
// Anything else goes, copied, to Data on a goroutine of its own.
type poller struct {
	epfd int
	mu   sync.Mutex
	byID map[uint64]*watcher
	wait func(epfd int, events []unix.EpollEvent, msec int) (int, error) // unix.EpollWait
}

type watcher struct {
	p       *poller
	id      uint64
	fd      int
	h       Handler
	busy    atomic.Bool
	mu      sync.Mutex // held over a read of fd and over re-arm, against stop
	stopped bool
}

var (
	once    sync.Once
	pollers []*poller
	nextID  atomic.Uint64
	initErr error
)

func get(id uint64) (*poller, error) {
	once.Do(func() {
		for range min(max(runtime.GOMAXPROCS(0)/4, 1), 8) {
			epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
			if err != nil {
				initErr = fmt.Errorf("netpoll: epoll_create1: %w", err)
				return
			}
			p := &poller{epfd: epfd, byID: map[uint64]*watcher{}, wait: unix.EpollWait}
			pollers = append(pollers, p)
			go p.loop()
		}
	})
	if len(pollers) == 0 {
		return nil, initErr
	}
	return pollers[id%uint64(len(pollers))], nil
}

const events = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

func watch(_ net.Conn, raw syscall.RawConn, h Handler) (func(), error) {
	id := nextID.Add(1)
	p, err := get(id)
	if err != nil {
		return nil, err
	}
	return p.add(id, raw, h)
}

// add watches the connection of raw on p, under id.
func (p *poller) add(id uint64, raw syscall.RawConn, h Handler) (func(), error) {
	w := &watcher{p: p, id: id, h: h, fd: -1}
	// The fd stays valid while the connection is open, and the connection
	// is closed only after stop: stop removes it from epoll first, and waits
	// for a read under way, so a reused fd number is never read or reaches
	// this watcher.
	if cerr := raw.Control(func(fd uintptr) { w.fd = int(fd) }); cerr != nil {
		return nil, cerr
	}
	p.mu.Lock()
	p.byID[w.id] = w
	p.mu.Unlock()
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, w.fd, w.event()); err != nil {
		p.mu.Lock()
		delete(p.byID, w.id)
		p.mu.Unlock()
		return nil, fmt.Errorf("netpoll: epoll_ctl add: %w", err)
	}
	return w.stop, nil
}

// event carries the watcher's id, never reused, rather than the fd, which
// the kernel reuses as soon as a connection closes: an event already read
// from epoll for a closed connection then finds no watcher.
func (w *watcher) event() *unix.EpollEvent {
	return &unix.EpollEvent{Events: events, Fd: int32(uint32(w.id)), Pad: int32(uint32(w.id >> 32))}
}

func (w *watcher) stop() {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		_ = unix.EpollCtl(w.p.epfd, unix.EPOLL_CTL_DEL, w.fd, nil)
	}
	w.mu.Unlock()
	w.p.mu.Lock()
	delete(w.p.byID, w.id)
	w.p.mu.Unlock()
}

// read reads once from the ready connection into buf (the poller's), on
// the poller's goroutine, and hands the bytes to Peek, else to Data.
func (w *watcher) read(buf []byte) {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		w.busy.Store(false)
		return
	}
	// The socket is non-blocking (the runtime made it so), so this never
	// waits; under w.mu, so that stop, and the close after it, wait for it.
	n, err := syscall.Read(w.fd, buf)
	w.mu.Unlock()
	n = max(n, 0)
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		w.done(true) // nothing to read after all
		return
	case err == nil && n == 0:
		err = io.EOF
	case err == nil && w.h.Peek != nil && w.h.Peek(buf[:n]):
		w.done(true)
		return
	}
	var b []byte
	if n > 0 {
		b = append([]byte(nil), buf[:n]...)
	}
	go func() {
		more := w.h.Data(b, err)
		w.done(more && err == nil) // after an error the socket stays readable: the watch ends
	}()
}

// done ends one round: the watcher is re-armed for the next readiness, or
// taken out of epoll when the handler is through with it.
func (w *watcher) done(more bool) {
	w.busy.Store(false)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if !more {
		w.stopped = true
		_ = unix.EpollCtl(w.p.epfd, unix.EPOLL_CTL_DEL, w.fd, nil)
		return
	}
	_ = unix.EpollCtl(w.p.epfd, unix.EPOLL_CTL_MOD, w.fd, w.event())
}

func (p *poller) loop() {
	evs := make([]unix.EpollEvent, 256)
	ready := make([]*watcher, 0, len(evs))
	buf := make([]byte, readBufSize)
	var delay time.Duration
	for {
		n, err := p.wait(p.epfd, evs, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			// Every idle connection of the node waits on this loop: it
			// must not end, and a panic took the node down with it. An
			// error here (EFAULT, EINVAL: a bug, or the kernel out of
			// something) is logged, counted, and tried again after a
			// growing pause, so a lasting one neither spins nor floods the log.
			delay = min(max(2*delay, time.Millisecond), time.Second)
			waitErrors.Add(1)
			slog.Error("netpoll: epoll_wait failed; retrying", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		ready = ready[:0]
		p.mu.Lock()
		for i := range evs[:n] {
			id := uint64(uint32(evs[i].Fd)) | uint64(uint32(evs[i].Pad))<<32
			w := p.byID[id]
			if w != nil && w.busy.CompareAndSwap(false, true) {
				ready = append(ready, w)
			}
		}
		p.mu.Unlock()
		for _, w := range ready {
			w.read(buf)
		}
		clear(ready) // no watcher kept alive by this slice until the next round
	}
}
