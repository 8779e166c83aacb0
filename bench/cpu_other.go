//go:build !unix

package bench

// selfCPU is unknown off Unix (cpu_unix.go).
func selfCPU() float64 { return -1 }
