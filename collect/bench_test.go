package collect

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald/internal/httpx"
)

// BenchmarkValidate is the per-message cost of checking a send request.
func BenchmarkValidate(b *testing.B) {
	s := New(DefaultConfig(), Deps{Registry: prometheus.NewRegistry()})
	req := SendRequest{Users: []string{"alice", "bob"}, Payload: json.RawMessage(`{"text": "hello", "n": [1, 2, 3]}`), Topic: "news"}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Validate(&req, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSend is a send body decoded into a fresh SendRequest, as
// each request is.
func BenchmarkDecodeSend(b *testing.B) {
	const send = `{"users":["u1"],"payload":{"t":1790000000000000000,"text":"hello from Herald"}}`
	r := httptest.NewRequest("POST", "/v1/messages", nil)
	w := httptest.NewRecorder()
	var body strings.Reader
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(send)
		r.Body, r.ContentLength = io.NopCloser(&body), int64(len(send))
		var req SendRequest
		if err := httpx.Decode(w, r, 1<<20, &req); err != nil {
			b.Fatal(err)
		}
	}
}
