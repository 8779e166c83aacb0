//go:build !unix

package bench

// ProcessCPU is unknown off Unix (cpu_unix.go).
func ProcessCPU() float64 { return -1 }
