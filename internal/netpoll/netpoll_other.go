//go:build !linux

package netpoll

import "syscall"

// watch falls back to a goroutine per connection: onReadable blocks in its
// read until there is data.
func watch(_ syscall.RawConn, fn func() bool) (func(), error) {
	return loop(fn), nil
}
