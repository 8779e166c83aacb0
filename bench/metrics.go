package bench

import (
	"bufio"
	"context"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serverStats are the figures read from a node's /metrics.
type serverStats struct {
	rss         float64 // bytes
	cpu         float64 // seconds
	connections float64
}

func scrape(ctx context.Context, url string) (serverStats, map[string]string, error) {
	var st serverStats
	labels := map[string]string{}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, labels, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if info, ok := strings.CutPrefix(name, "herald_build_info{"); ok {
			maps.Copy(labels, metricLabels(info))
			continue
		}
		if info, ok := strings.CutPrefix(name, "centrifugo_node_build{"); ok {
			// --peer centrifugo: its version; its history is in memory.
			if v, ok := metricLabels(info)["version"]; ok {
				labels["version"], labels["store"] = v, "memory (Centrifugo)"
			}
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			st.rss = v
		case "process_cpu_seconds_total":
			st.cpu = v
		case "herald_connections", "centrifugo_node_num_clients":
			st.connections = v
		}
	}
	return st, labels, sc.Err()
}

// metricLabels parses the labels of a metric line, after its "{":
// k1="v1",k2="v2"}.
func metricLabels(info string) map[string]string {
	labels := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(info, "}"), ",") {
		k, v, _ := strings.Cut(kv, "=")
		labels[k] = strings.Trim(v, `"`)
	}
	return labels
}

// scrapeAll sums the figures of every node.
func scrapeAll(ctx context.Context, urls []string) serverStats {
	var sum serverStats
	for _, u := range urls {
		st, _, err := scrape(ctx, u)
		if err == nil {
			sum.rss += st.rss
			sum.cpu += st.cpu
			sum.connections += st.connections
		}
	}
	return sum
}

type buildInfo struct{ version, store string }

func scrapeInfo(ctx context.Context, urls []string) buildInfo {
	info := buildInfo{version: "?", store: "?"}
	for _, u := range urls {
		if _, l, err := scrape(ctx, u); err == nil && l["version"] != "" {
			return buildInfo{version: l["version"], store: l["store"]}
		}
	}
	return info
}
