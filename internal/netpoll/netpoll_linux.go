package netpoll

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller is the process's one epoll instance. Connections are registered
// level-triggered and one-shot: an event disarms the connection until its
// reader has run and re-armed it, so two readers never run at once, and data
// left unread fires again.
type poller struct {
	epfd   int
	mu     sync.Mutex
	byID   map[uint64]*watcher
	nextID atomic.Uint64
}

type watcher struct {
	p       *poller
	id      uint64
	fd      int
	fn      func() bool
	busy    atomic.Bool
	mu      sync.Mutex // orders re-arm against stop
	stopped bool
}

var (
	once    sync.Once
	shared  *poller
	initErr error
)

func get() (*poller, error) {
	once.Do(func() {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			initErr = fmt.Errorf("netpoll: epoll_create1: %w", err)
			return
		}
		shared = &poller{epfd: epfd, byID: map[uint64]*watcher{}}
		go shared.loop()
	})
	return shared, initErr
}

const events = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

func watch(raw syscall.RawConn, fn func() bool) (func(), error) {
	p, err := get()
	if err != nil {
		return nil, err
	}
	w := &watcher{p: p, id: p.nextID.Add(1), fn: fn, fd: -1}
	// The fd stays valid while the connection is open, and the connection
	// is closed only after stop: stop removes it from epoll first, so a
	// reused fd number never reaches this watcher.
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

func (w *watcher) run() {
	more := w.fn()
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
	for {
		n, err := unix.EpollWait(p.epfd, evs, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			panic(fmt.Sprintf("netpoll: epoll_wait: %v", err))
		}
		p.mu.Lock()
		for i := range evs[:n] {
			id := uint64(uint32(evs[i].Fd)) | uint64(uint32(evs[i].Pad))<<32
			w := p.byID[id]
			if w != nil && w.busy.CompareAndSwap(false, true) {
				go w.run()
			}
		}
		p.mu.Unlock()
	}
}
