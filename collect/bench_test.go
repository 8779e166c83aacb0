package collect

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkValidate is the per-message cost of checking a send request.
func BenchmarkValidate(b *testing.B) {
	s := New(DefaultConfig(), nil, nil, nil, prometheus.NewRegistry())
	req := SendRequest{Users: []string{"alice", "bob"}, Payload: json.RawMessage(`{"text": "hello", "n": [1, 2, 3]}`), Topic: "news"}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Validate(&req, now); err != nil {
			b.Fatal(err)
		}
	}
}
