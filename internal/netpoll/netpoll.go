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

// Handler receives what a watched connection's peer sends.
type Handler struct {
	// Peek, when set, is called on the poller's own goroutine with the
	// bytes of a read, before Data would be: it must be quick and must not
	// block (every idle connection waits on that goroutine), and returns
	// true when it has handled all of them. An idle push connection sends
	// little but pongs, and noting one there costs no goroutine.
	Peek func(b []byte) bool
	// Data is called on a goroutine of its own with the bytes of a read
	// that Peek did not take (valid only during the call), and with the
	// read's error (io.EOF when the peer has closed its side). Calls never
	// overlap, and come in the order of the reads. False stops the watch,
	// as does an error whatever Data returns.
	Data func(b []byte, err error) bool
}

// Watch calls h whenever conn has data or has been closed by the peer.
// Call the returned stop before closing conn; once stop returns, no read
// of conn's descriptor is under way and no new call starts.
//
// A connection without a file descriptor of its own (a *tls.Conn, a
// net.Pipe) gets a goroutine that reads in a loop, blocking as usual, and
// calls Data: readiness of a TLS connection's socket says nothing of the
// plaintext its buffer already holds. So does one whose SyscallConn
// refuses (a connection with bytes read ahead still to be read).
func Watch(conn net.Conn, h Handler) (stop func(), err error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return loop(conn, h), nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return loop(conn, h), nil
	}
	return watch(conn, raw, h)
}

// waitErrors counts failed waits for readiness (epoll_wait), each retried.
var waitErrors atomic.Uint64

// WaitErrors is how many waits for readiness have failed (and were tried
// again) in this process: herald_netpoll_wait_errors_total.
func WaitErrors() uint64 { return waitErrors.Load() }

// readBufSize is one read's buffer: client frames are acks and pings, a
// few dozen bytes; a bigger frame arrives over several reads.
const readBufSize = 4096

// loop is the goroutine-per-connection fallback.
func loop(conn net.Conn, h Handler) func() {
	var stopped atomic.Bool
	go func() {
		b := make([]byte, readBufSize)
		for !stopped.Load() {
			n, err := conn.Read(b)
			if !h.Data(b[:n], err) || err != nil {
				return
			}
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
