package bench

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/collect"
)

// The hand-rolled sender speaks HTTP/1.1 to Go's own server: keep-alive,
// the status, a server that closes, a body of any size.
func TestSenderAgainstNetHTTP(t *testing.T) {
	var conns atomic.Int32
	var bodies []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "headers", 400)
			return
		}
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, r.URL.Path+" "+string(b))
		switch string(b) {
		case "close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(202)
		case "big":
			w.WriteHeader(202)
			w.Write(make([]byte, 10000))
		case "bad":
			http.Error(w, `{"error":"nope"}`, 400)
		default:
			w.WriteHeader(202)
			w.Write([]byte(`{"id":"x"}`))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	s, err := newSender(srv.URL, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for i, c := range []struct {
		body string
		ok   bool
	}{{"a", true}, {"big", true}, {"bad", false}, {"b", true}, {"close", true}, {"c", true}} {
		if got := s.post("/p"+strconv.Itoa(i), []byte(c.body)); got != c.ok {
			t.Errorf("%s: ok %v, want %v", c.body, got, c.ok)
		}
	}
	if len(bodies) != 6 || bodies[5] != "/p5 c" {
		t.Errorf("server saw %q", bodies)
	}
	if n := conns.Load(); n != 2 { // one until the server closed it, then one more
		t.Errorf("%d connections, want 2", n)
	}
}

// Over TLS too (an https target).
func TestSenderOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	s, err := newSender(srv.URL, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	s.tls.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	if !s.post("/x", []byte("{}")) || !s.post("/y", []byte("{}")) {
		t.Fatal("post over TLS failed")
	}
}

// Every body the load generator builds is one the API decodes.
func TestBuildRequestBodies(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	users := []string{"bench-u0", "bench-u1", "bench-u2", "bench-u3"}
	cfg := DefaultConfig()
	b, path := buildRequest(nil, rnd, users, cfg, 1, time.Now())
	var one collect.SendRequest
	if err := json.Unmarshal(b, &one); err != nil || path != "/v1/messages" || len(one.Users) != 1 {
		t.Fatalf("single %s %s: %v", path, b, err)
	}
	b, _ = buildRequest(b[:0], rnd, users, cfg, 3, time.Now())
	if err := json.Unmarshal(b, &one); err != nil || len(one.Users) != 3 || one.Users[0] == one.Users[1] {
		t.Fatalf("multicast %s: %v", b, err)
	}
	cfg.Batch = 5
	b, path = buildRequest(b[:0], rnd, users, cfg, 1, time.Now())
	var batch collect.BatchRequest
	if err := json.Unmarshal(b, &batch); err != nil || path != "/v1/messages/batch" || len(batch.Messages) != 5 {
		t.Fatalf("batch %s %s: %v", path, b, err)
	}
	cfg.Batch, cfg.Mode = 0, "topic"
	b, path = buildRequest(b[:0], rnd, users, cfg, 1, time.Now())
	var topic struct{ Payload struct{ T int64 } }
	if err := json.Unmarshal(b, &topic); err != nil || path != "/v1/topics/bench/messages" || topic.Payload.T == 0 {
		t.Fatalf("topic %s %s: %v", path, b, err)
	}
	if _, sent, ok := parseMsg([]byte(`{"type":"msg","id":"x","seq":7,"payload":` + string(Config{}.appendPayload(nil, time.Unix(0, 42))) + `}`)); !ok || sent != 42 {
		t.Fatalf("parseMsg of the payload: %v %d", ok, sent)
	}
}
