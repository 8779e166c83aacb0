package httpx

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness check: nil when the dependency it names can be used.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Health adds /healthz (the process runs) and /readyz (every check passes)
// to mux. A failing check is named but its error is not shown: the health
// endpoints sit on the public listener, and an error names internal hosts
// and addresses; it goes to the log instead.
func Health(mux *http.ServeMux, checks ...Check) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		out := map[string]string{}
		ok := true
		for _, c := range checks {
			if err := c.Fn(ctx); err != nil {
				slog.Warn("readiness check failing", "check", c.Name, "err", err)
				out[c.Name] = "failing"
				ok = false
			} else {
				out[c.Name] = "ok"
			}
		}
		code := http.StatusOK
		status := "ready"
		if !ok {
			code, status = http.StatusServiceUnavailable, "not ready"
		}
		JSON(w, code, map[string]any{"status": status, "checks": out})
	})
}

// Metrics adds /metrics (Prometheus, from reg) to mux.
func Metrics(mux *http.ServeMux, reg *prometheus.Registry) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors (RSS, open files), which every service exports.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), apiRefused)
	return reg
}

// BuildInfo exports herald_build_info{version, role, store} = 1, so that
// dashboards and `herald bench` can tell what they are looking at.
func BuildInfo(reg prometheus.Registerer, version, role, store string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "herald_build_info",
		Help:        "Always 1; the labels say which build, service and store this process runs.",
		ConstLabels: prometheus.Labels{"version": version, "role": role, "store": store},
	})
	g.Set(1)
	reg.MustRegister(g)
}
