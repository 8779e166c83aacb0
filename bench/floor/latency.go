package main

import (
	"bytes"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/heraldpush/herald/bench"
)

// latencies collects the send-to-receive times of the messages read in the
// window.
type latencies struct {
	mu    sync.Mutex
	on    bool
	since int64 // unix nanoseconds
	ds    []time.Duration
}

func (l *latencies) start() {
	l.mu.Lock()
	l.on, l.since = true, time.Now().UnixNano()
	l.mu.Unlock()
}

// note records the message msg read at now: its "t" is its send time.
func (l *latencies) note(now int64, msg []byte) {
	i := bytes.Index(msg, []byte(`"t":`))
	if i < 0 {
		return
	}
	rest := msg[i+4:]
	j := bytes.IndexByte(rest, ',')
	if j < 0 {
		return
	}
	sent, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	if l.on && sent >= l.since {
		l.ds = append(l.ds, time.Duration(now-sent))
	}
	l.mu.Unlock()
}

// percentiles returns p50, p90, p99, p99.9 and max in milliseconds, computed
// as `herald-bench` computes them, or nil when nothing was recorded.
func (l *latencies) percentiles() []float64 {
	l.mu.Lock()
	ds := slices.Clone(l.ds)
	l.mu.Unlock()
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	var out []float64
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		out = append(out, float64(bench.Percentile(ds, q))/1e6)
	}
	return out
}
