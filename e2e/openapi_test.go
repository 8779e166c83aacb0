package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// spec is docs/openapi.yaml, decoded as plain maps.
type spec struct {
	doc map[string]any
}

func loadSpec(t *testing.T) spec {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	return spec{doc: doc}
}

func get(m any, keys ...string) any {
	for _, k := range keys {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

// resolve follows a local $ref.
func (s spec) resolve(v any) any {
	for {
		ref, ok := get(v, "$ref").(string)
		if !ok {
			return v
		}
		v = get(s.doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
	}
}

// pathItem finds the spec entry of a concrete path (templated paths match).
// A literal path wins over a template that also matches
// (/v1/messages/batch over /v1/messages/{id}), as in Go's ServeMux.
func (s spec) pathItem(path string) (any, bool) {
	paths := s.doc["paths"].(map[string]any)
	if item, ok := paths[path]; ok {
		return item, true
	}
	for tmpl, item := range paths {
		segs := strings.Split(tmpl, "/")
		for i, seg := range segs {
			if strings.HasPrefix(seg, "{") {
				segs[i] = "[^/]+"
			} else {
				segs[i] = regexp.QuoteMeta(seg)
			}
		}
		if regexp.MustCompile("^" + strings.Join(segs, "/") + "$").MatchString(path) {
			return item, true
		}
	}
	return nil, false
}

// validate checks v against a schema subset: type, required, properties,
// items, enum, pattern, minimum/maximum, min/maxItems. It returns the problems.
func (s spec) validate(schema, v any, at string) []string {
	schema = s.resolve(schema)
	sm, _ := schema.(map[string]any)
	if len(sm) == 0 || (len(sm) == 1 && sm["description"] != nil) {
		return nil // any value
	}
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, at+": "+fmt.Sprintf(f, a...)) }
	switch sm["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			bad("want an object, got %T", v)
			return errs
		}
		for _, r := range asList(sm["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				bad("missing required %q", r)
			}
		}
		props, _ := sm["properties"].(map[string]any)
		for k, pv := range obj {
			if ps, ok := props[k]; ok {
				errs = append(errs, s.validate(ps, pv, at+"."+k)...)
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			bad("want an array, got %T", v)
			return errs
		}
		for i, it := range arr {
			errs = append(errs, s.validate(sm["items"], it, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			bad("want a string, got %T", v)
			return errs
		}
		if p, ok := sm["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			bad("%q does not match %s", str, p)
		}
		if enum := asList(sm["enum"]); enum != nil {
			found := false
			for _, e := range enum {
				found = found || e == str
			}
			if !found {
				bad("%q is not one of %v", str, enum)
			}
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok || (sm["type"] == "integer" && n != float64(int64(n))) {
			bad("want %s, got %v", sm["type"], v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("want a boolean, got %T", v)
		}
	}
	return errs
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// check sends a request and validates the answer against the spec.
func (s spec) check(t *testing.T, api probe.API, method, path string, body any, wantStatus int) {
	t.Helper()
	route := strings.SplitN(path, "?", 2)[0]
	item, ok := s.pathItem(route)
	if !ok {
		t.Errorf("%s is not in docs/openapi.yaml", route)
		return
	}
	status, raw := api.Do(t, method, path, body)
	if status != wantStatus {
		t.Errorf("%s %s: status %d, want %d (%s)", method, path, status, wantStatus, raw)
	}
	op := get(item, strings.ToLower(method))
	if op == nil && status == http.StatusMethodNotAllowed {
		for _, other := range item.(map[string]any) {
			if get(other, "responses", "405") != nil {
				op = other // a wrong method: its 405 is documented on the right one
			}
		}
	}
	if op == nil {
		t.Errorf("%s %s is not in docs/openapi.yaml", method, route)
		return
	}
	resp := s.resolve(get(op, "responses", strconv.Itoa(status)))
	if resp == nil {
		t.Errorf("%s %s: status %d is not documented", method, route, status)
		return
	}
	schema := get(resp, "content", "application/json", "schema")
	if schema == nil {
		return
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Errorf("%s %s: body is not JSON: %s", method, path, raw)
		return
	}
	for _, e := range s.validate(schema, v, method+" "+route) {
		t.Error(e)
	}
}

// TestOpenAPI checks real requests and answers of a running herald all
// against docs/openapi.yaml: every path and status is documented, and every
// JSON answer has the documented shape.
func TestOpenAPI(t *testing.T) {
	s := loadSpec(t)
	// The validator must bite: a wrong answer fails it.
	wrong := map[string]any{"id": "not-hex", "extra": 1}
	if len(s.validate(map[string]any{"$ref": "#/components/schemas/SendResponse"}, wrong, "self-check")) == 0 ||
		len(s.validate(map[string]any{"$ref": "#/components/schemas/MessagesResponse"}, map[string]any{"user": "a"}, "self-check")) == 0 {
		t.Fatal("the schema check accepts answers it should refuse")
	}
	n := startAll(t, t.TempDir(), testenv.FreePort(t, "127.0.0.1"), "--namespaces", presenceNamespaces)
	api, anon := n.api, probe.API{Base: n.api.Base}
	tok := api.Token(t, "alice")
	ws := probe.MustDialWS(t, n.ws, tok, "phone", nil)
	api.Send(t, []string{"alice"}, map[string]string{"text": "hi"})
	ws.Msgs(1, 5e9)

	s.check(t, api, "POST", "/v1/tokens", map[string]any{"user": "bob", "ttl_seconds": 60}, 200)
	s.check(t, api, "POST", "/v1/tokens", map[string]any{"user": ""}, 400)
	s.check(t, anon, "POST", "/v1/tokens", map[string]any{"user": "bob"}, 401)
	s.check(t, anon, "POST", "/v1/verify", map[string]any{"token": tok}, 200)
	s.check(t, anon, "POST", "/v1/verify", map[string]any{"token": "x"}, 401)
	s.check(t, api, "POST", "/v1/messages", map[string]any{"users": []string{"alice"}, "payload": 1, "topic": "t"}, 202)
	s.check(t, api, "POST", "/v1/messages", map[string]any{"users": []string{}}, 400)
	s.check(t, anon, "POST", "/v1/messages", map[string]any{"users": []string{"a"}, "payload": 1}, 401)
	s.check(t, api, "GET", "/v1/messages", nil, 405)
	s.check(t, api, "POST", "/v1/messages/batch", map[string]any{"messages": []any{map[string]any{"users": []string{"alice"}, "payload": 2}}}, 202)
	s.check(t, api, "POST", "/v1/messages/batch", map[string]any{"messages": []any{}}, 400)
	s.check(t, api, "GET", "/v1/users/alice/messages?since=0&limit=10", nil, 200)
	s.check(t, api, "GET", "/v1/users/alice/messages?limit=0", nil, 400)
	s.check(t, api, "GET", "/v1/users/alice/presence", nil, 200)
	s.check(t, api, "PUT", "/v1/users/alice/devices/phone/push", map[string]any{"provider": "fcm", "token": "fcm-token-1"}, 200)
	s.check(t, api, "PUT", "/v1/users/alice/devices/phone/push", map[string]any{"provider": "apns", "token": "abc"}, 400)
	s.check(t, api, "GET", "/v1/users/alice/devices/phone/push", nil, 200)
	s.check(t, api, "GET", "/v1/users/alice/push", nil, 200)
	s.check(t, anon, "GET", "/v1/push/vapid-key", nil, 200)
	s.check(t, api, "DELETE", "/v1/users/alice/devices/phone/push", nil, 204)
	s.check(t, api, "GET", "/v1/users/alice/devices/phone/push", nil, 404)
	s.check(t, api, "POST", "/v1/tokens", map[string]any{"user": "bob", "topics": []string{"news", "team:*"}}, 200)
	s.check(t, api, "POST", "/v1/tokens", map[string]any{"user": "bob", "topics": []string{"bad topic"}}, 400)
	s.check(t, api, "POST", "/v1/topics/news/messages", map[string]any{"payload": map[string]int{"n": 1}}, 202)
	s.check(t, api, "POST", "/v1/topics/bad%20topic/messages", map[string]any{"payload": 1}, 400)
	s.check(t, api, "PUT", "/v1/topics/news/messages", map[string]any{"payload": 1}, 405)
	s.check(t, api, "GET", "/v1/topics/news/messages?since=0", nil, 200)
	s.check(t, api, "POST", "/v1/broadcast", map[string]any{"payload": "all"}, 202)
	s.check(t, api, "POST", "/v1/broadcast", map[string]any{}, 400)
	s.check(t, anon, "POST", "/v1/broadcast", map[string]any{"payload": 1}, 401)
	s.check(t, api, "GET", "/v1/topics/*/messages", nil, 200)
	id := api.Send(t, []string{"alice"}, "receipt")
	s.check(t, api, "GET", "/v1/messages/"+id, nil, 200)
	s.check(t, api, "GET", "/v1/messages/0000000000000000000000000000dead", nil, 404)
	s.check(t, anon, "GET", "/v1/messages/"+id, nil, 401)
	s.check(t, api, "GET", "/v1/admin/nodes", nil, 200)
	s.check(t, api, "GET", "/v1/admin/online?limit=10", nil, 200)
	s.check(t, api, "GET", "/v1/admin/errors", nil, 200)
	s.check(t, anon, "GET", "/v1/admin/nodes", nil, 401)
	s.check(t, anon, "GET", "/ws?token=bad", nil, 401)
	s.check(t, anon, "GET", "/sse?token=bad", nil, 401)
	s.check(t, api, "GET", "/v1/topics/chat:x/presence?limit=10", nil, 200)
	s.check(t, api, "GET", "/v1/topics/chat:x/presence?limit=0", nil, 400)
	s.check(t, api, "GET", "/v1/topics/news/presence", nil, 404)
	s.check(t, api, "GET", "/v1/topics/chat:x/presence/stats", nil, 200)
	s.check(t, anon, "GET", "/v1/topics/chat:x/presence/stats", nil, 401)
	s.check(t, anon, "POST", "/sse/frames?conn=x", map[string]any{"type": "ping"}, 401)
	user := probe.API{Base: api.Base, Key: api.Token(t, "alice")}
	s.check(t, user, "POST", "/sse/frames?conn=local-1-1", map[string]any{"type": "ping"}, 404)
	s.check(t, anon, "GET", "/healthz", nil, 200)
	s.check(t, anon, "GET", "/readyz", nil, 200)
	s.check(t, anon, "POST", "/dev/token", map[string]any{"user": "carol"}, 200)
	s.check(t, anon, "POST", "/dev/messages", map[string]any{"users": []string{"carol"}, "payload": 3}, 202)
	s.check(t, anon, "POST", "/dev/topics/news/messages", map[string]any{"payload": 4}, 202)
	s.check(t, anon, "POST", "/dev/broadcast", map[string]any{"payload": 5}, 202)

	// Every documented path is exercised above or by another test.
	for path := range s.doc["paths"].(map[string]any) {
		if path == "/metrics" {
			resp, err := http.Get(n.api.Base + "/metrics")
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("/metrics: %v", err)
			} else {
				resp.Body.Close()
			}
		}
	}
}
