// Package netpoll tells when an idle connection has something to read, so
// that a push node needs no goroutine (and no goroutine stack, 4-8 KiB) per
// idle WebSocket connection: at 200,000 connections a node, stacks alone
// would be over a GiB. On Linux one goroutine waits in epoll for every
// watched connection; elsewhere each connection gets a goroutine that reads
// (correct, just not lean).
package netpoll

import (
	"net"
	"sync/atomic"
	"syscall"
)

// Watch calls onReadable, on a goroutine of its own, whenever conn has data
// to read or has been closed by the peer. Calls never overlap. onReadable
// should read once (conn.Read returns at once when called on readiness) and
// return true to keep watching, false to stop. Call the returned stop before
// closing conn; after stop returns no new call starts.
//
// A connection without a file descriptor of its own (a *tls.Conn, a
// net.Pipe) gets a goroutine that calls onReadable in a loop, its reads
// blocking as usual: readiness of a TLS connection's socket says nothing of
// the plaintext its buffer already holds.
func Watch(conn net.Conn, onReadable func() bool) (stop func(), err error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return loop(onReadable), nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return watch(raw, onReadable)
}

// loop is the goroutine-per-connection fallback.
func loop(fn func() bool) func() {
	var stopped atomic.Bool
	go func() {
		for !stopped.Load() && fn() {
		}
	}()
	return func() { stopped.Store(true) }
}

// TryWrite writes b to raw's socket if the socket takes some of it at once,
// without waiting: the cheap path for a tiny control frame (a ping) written
// from a loop that must not block on one slow client. It returns how many
// bytes were written (0 when the socket buffer is full).
func TryWrite(raw syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	// Control, not Write: RawConn.Write would honour a write deadline left
	// from an earlier write, long expired. Control only holds the
	// descriptor open for the call.
	err := raw.Control(func(fd uintptr) {
		n, werr = syscall.Write(int(fd), b)
	})
	if err != nil {
		return 0, err
	}
	if werr == syscall.EAGAIN || werr == syscall.EINTR {
		return 0, nil
	}
	return max(n, 0), werr
}
