package bench

import (
	"bufio"
	"cmp"
	"fmt"
	"os"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// sample is one message's latency and when it was sent, from the start of
// the sending.
type sample struct {
	sent, lat time.Duration
}

// writeOutputs writes the samples as CSV in the order they were sent (so that
// a stall shows as a run of slow messages at one moment) and a PNG histogram
// of the latencies when asked.
func writeOutputs(cfg Config, lat []time.Duration, samples []sample) error {
	if cfg.CSV != "" {
		f, err := os.Create(cfg.CSV)
		if err != nil {
			return err
		}
		slices.SortFunc(samples, func(a, b sample) int { return cmp.Compare(a.sent, b.sent) })
		w := bufio.NewWriter(f)
		fmt.Fprintln(w, "sent_s,latency_ms")
		for _, s := range samples {
			fmt.Fprintf(w, "%.6f,%.3f\n", s.sent.Seconds(), float64(s.lat)/1e6)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if cfg.Plot != "" && len(lat) > 0 {
		return plotLatency(cfg, lat)
	}
	return nil
}

// plotLatency draws the latency distribution (lat is sorted) up to p99.9, so
// one outlier does not flatten the picture; the title gives the percentiles.
func plotLatency(cfg Config, lat []time.Duration) error {
	cut := Percentile(lat, .999)
	vals := make(plotter.Values, 0, len(lat))
	for _, d := range lat {
		if d <= cut {
			vals = append(vals, float64(d)/1e6)
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("herald-bench %s: end-to-end latency (p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms)",
		cfg.Mode, float64(Percentile(lat, .5))/1e6, float64(Percentile(lat, .99))/1e6, float64(cut)/1e6)
	p.X.Label.Text = "latency (ms), up to p99.9"
	p.Y.Label.Text = "messages"
	h, err := plotter.NewHist(vals, 60)
	if err != nil {
		return err
	}
	p.Add(h)
	return p.Save(9*vg.Inch, 4.5*vg.Inch, cfg.Plot)
}
