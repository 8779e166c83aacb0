package bench

import (
	"context"
	"fmt"
	"time"
)

// cpuWindow measures the CPU that the measured servers (summed from their
// /metrics) and this load generator spend over the sending. On two cores
// shared by both, a message rate means little without what it cost each
// side: the comparison with Centrifugo in docs/design/performance-log.md turned on it
// (the same CPU a message, but one server left a quarter of the machine
// idle).
type cpuWindow struct {
	server, self float64 // CPU seconds at the start; server 0 when no /metrics answered, self < 0 when unknown
	at           time.Time
}

func startCPU(ctx context.Context, metrics []string) cpuWindow {
	return cpuWindow{server: scrapeAll(ctx, metrics).cpu, self: ProcessCPU(), at: time.Now()}
}

// line says what the window cost, in cores and per unit (a message, or for
// multicast a delivery), n units sent.
func (w cpuWindow) line(ctx context.Context, metrics []string, n float64, unit string) string {
	secs := time.Since(w.at).Seconds()
	end := scrapeAll(ctx, metrics).cpu
	self := ProcessCPU()
	part := func(cpu float64) string {
		if n <= 0 {
			return fmt.Sprintf("%.2f cores", cpu/secs)
		}
		return fmt.Sprintf("%.2f cores, %.0f µs a %s", cpu/secs, cpu/n*1e6, unit)
	}
	server := "no /metrics"
	if w.server > 0 && end > 0 {
		server = part(end - w.server)
	}
	gen := "unknown here"
	if w.self >= 0 {
		gen = part(self - w.self)
	}
	return fmt.Sprintf("  cpu      while sending: server %s; load generator %s\n", server, gen)
}
