//go:build unix

package bench

import "syscall"

// ProcessCPU is this process's CPU time (user and system) in seconds, or -1
// where it is not known: the load generator's own, and bench/floor's.
func ProcessCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
