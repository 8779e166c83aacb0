// Package deploy holds the deployment files (Dockerfile at the root, compose,
// nginx, Kubernetes, Grafana). No Docker engine or cluster runs in CI, so this
// test checks what can be checked here: every file parses, and every herald
// command line in them names flags the binary accepts.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald/internal/testenv"
)

func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

// checkArgs runs `herald <args> --help`: it fails on any unknown flag. Each
// HERALD_* environment variable given must be one the command reads, and
// each container port must be one the command listens on.
func checkArgs(t *testing.T, where string, args []string, env []string, ports []int) {
	t.Helper()
	for _, a := range args {
		if a == "--dev" || strings.HasPrefix(a, "--dev=") || a == "all" {
			t.Errorf("%s: herald %s: a deployment runs the cluster services with no dev mode", where, strings.Join(args, " "))
		}
	}
	for _, e := range env {
		if e == "HERALD_DEV" {
			t.Errorf("%s: sets HERALD_DEV", where)
		}
	}
	if args[0] == "push" && !slices.Contains(args, "--metrics-listen") {
		t.Errorf("%s: a push node faces the internet: its /metrics belongs on --metrics-listen", where)
	}
	out, err := exec.Command(testenv.HeraldBinary(t), append(args, "--help")...).CombinedOutput()
	if err != nil {
		t.Errorf("%s: herald %s: %v\n%s", where, strings.Join(args, " "), err, out)
		return
	}
	for _, e := range env {
		if strings.HasPrefix(e, "HERALD_") && !strings.Contains(string(out), "("+e+",") {
			t.Errorf("%s: herald %s does not read %s", where, args[0], e)
		}
	}
	joined := strings.Join(args, " ")
	for _, p := range ports {
		if !strings.Contains(joined, fmt.Sprintf(":%d", p)) {
			t.Errorf("%s: port %d is not one herald %s listens on (%s)", where, p, args[0], joined)
		}
	}
}

// checkShared checks that environment variables shared by every herald
// container (the compose anchor, the Kubernetes ConfigMap) are each read by
// at least one herald command: a misspelt one would be silently ignored.
func checkShared(t *testing.T, where string, env []string) {
	t.Helper()
	var all strings.Builder
	for _, cmd := range []string{"auth", "collect", "dispatch", "push", "all"} {
		out, _ := exec.Command(testenv.HeraldBinary(t), cmd, "--help").CombinedOutput()
		all.Write(out)
	}
	for _, e := range env {
		if !strings.Contains(all.String(), "("+e+",") {
			t.Errorf("%s: no herald command reads %s", where, e)
		}
	}
}

func keys(m any) []string {
	var out []string
	if mm, ok := m.(map[string]any); ok {
		for k := range mm {
			out = append(out, k)
		}
	}
	return out
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestCompose(t *testing.T) {
	docs := yamlDocs(t, "docker-compose.yml")
	services := docs[0]["services"].(map[string]any)
	for _, want := range []string{"redis", "mongo", "auth", "collect-1", "collect-2", "dispatch-1", "dispatch-2", "push-1", "push-2", "nginx"} {
		if services[want] == nil {
			t.Errorf("compose lacks %s", want)
		}
	}
	checkShared(t, "compose x-herald", keys(docs[0]["x-herald"].(map[string]any)["environment"]))
	herald := 0
	for name, s := range services {
		svc := s.(map[string]any)
		if svc["image"] != "herald:local" { // the herald services, through the x-herald anchor
			continue
		}
		herald++
		var ports []int
		if ps, ok := svc["ports"].([]any); ok {
			for _, p := range ps {
				parts := strings.Split(p.(string), ":") // [host-address:]host-port:container-port
				n, _ := strconv.Atoi(parts[len(parts)-1])
				ports = append(ports, n)
			}
		}
		checkArgs(t, "compose "+name, strs(svc["command"]), nil, ports)
	}
	if herald != 7 {
		t.Errorf("%d herald services in compose, want 7 (1 auth, 2 collect, 2 dispatch, 2 push)", herald)
	}
}

func TestKubernetes(t *testing.T) {
	files, _ := filepath.Glob("k8s/*.yaml")
	kinds := map[string]int{}
	var configEnv []string
	for _, f := range files {
		for _, d := range yamlDocs(t, f) {
			if d["kind"] == "ConfigMap" {
				configEnv = append(configEnv, keys(d["data"])...)
			}
		}
	}
	checkShared(t, "k8s ConfigMap", configEnv)
	for _, f := range files {
		for _, d := range yamlDocs(t, f) {
			kind, _ := d["kind"].(string)
			meta, _ := d["metadata"].(map[string]any)
			if kind == "" || d["apiVersion"] == nil || meta["name"] == nil {
				t.Errorf("%s: a document without kind, apiVersion or metadata.name", f)
			}
			kinds[kind]++
			if kind != "Deployment" && kind != "StatefulSet" {
				continue
			}
			spec := d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			for _, c := range spec["containers"].([]any) {
				cm := c.(map[string]any)
				if img, _ := cm["image"].(string); !strings.HasPrefix(img, "herald:") {
					t.Errorf("%s: image %q is not herald's", f, img)
				}
				var env []string
				if list, ok := cm["env"].([]any); ok {
					for _, e := range list {
						env = append(env, e.(map[string]any)["name"].(string))
					}
				}
				var ports []int
				if list, ok := cm["ports"].([]any); ok {
					for _, p := range list {
						ports = append(ports, p.(map[string]any)["containerPort"].(int))
					}
				}
				checkArgs(t, f+" "+meta["name"].(string), strs(cm["args"]), env, ports)
			}
		}
	}
	if kinds["Deployment"] < 3 || kinds["StatefulSet"] < 1 || kinds["Service"] < 4 {
		t.Errorf("manifests: %v", kinds)
	}
}

func TestGrafana(t *testing.T) {
	raw, err := os.ReadFile("grafana/herald.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Panels) < 6 {
		t.Fatalf("%d panels", len(d.Panels))
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, "herald_") && !strings.Contains(tg.Expr, "process_") {
				t.Errorf("panel %q queries %q", p.Title, tg.Expr)
			}
		}
	}
}

func TestNginxAndDockerfile(t *testing.T) {
	conf, _ := os.ReadFile("nginx.conf")
	for _, want := range []string{"proxy_set_header Upgrade", "proxy_http_version 1.1", "push-1:8080", "push-2:8080", "return 404"} {
		if !bytes.Contains(conf, []byte(want)) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	df, _ := os.ReadFile("../Dockerfile")
	for _, want := range []string{"AS build", "CGO_ENABLED=0", "distroless/static", "ENTRYPOINT"} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
