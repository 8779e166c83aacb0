package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/heraldpush/herald/internal/testenv"
)

// clockTicks is the kernel's USER_HZ, what /proc/<pid>/stat counts in
// (100 on every Linux this runs on).
const clockTicks = 100

// processCPU is a process's user + system CPU seconds so far (0 when it is
// gone).
func processCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

// serviceCPU is the CPU seconds each part of a local cluster has used:
// its herald services, Redis, FerretDB and the PostgreSQL processes under
// it (every process named postgres: the tests' server is the only one).
func serviceCPU(c *testenv.Cluster) map[string]float64 {
	out := map[string]float64{}
	add := func(name string, ps ...*testenv.Process) {
		for _, p := range ps {
			if p != nil && p.Cmd != nil && p.Cmd.Process != nil {
				out[name] += processCPU(p.Cmd.Process.Pid)
			}
		}
	}
	nodes := func(ns []*testenv.Node) []*testenv.Process {
		var ps []*testenv.Process
		for _, n := range ns {
			ps = append(ps, n.Process)
		}
		return ps
	}
	add("auth", c.Auth.Process)
	add("collect", nodes(c.Collect)...)
	add("dispatch", nodes(c.Dispatch)...)
	add("push", nodes(c.Push)...)
	add("redis", c.Redis.Process)
	add("ferretdb", c.Mongo.Process)
	procs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "postgres" {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out["postgres"] += processCPU(pid)
		}
	}
	return out
}

// cpuReport says what each part used between two readings, per unit of
// work (n of them, e.g. messages accepted).
func cpuReport(before, after map[string]float64, n int64, unit string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| service | CPU seconds | µs per %s |\n|---|---|---|\n", unit)
	total := 0.0
	for _, name := range []string{"collect", "dispatch", "push", "auth", "redis", "ferretdb", "postgres"} {
		d := after[name] - before[name]
		total += d
		fmt.Fprintf(&b, "| %s | %.2f | %.0f |\n", name, d, 1e6*d/float64(max(n, 1)))
	}
	fmt.Fprintf(&b, "| all | %.2f | %.0f |\n", total, 1e6*total/float64(max(n, 1)))
	return b.String()
}
