package pebble

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// BenchmarkAppend100 is one group commit of 100 messages to random users:
// one Pebble batch and one fsync. Reported per message.
func BenchmarkAppend100(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	payload := json.RawMessage(`{"text":"hello from Herald"}`)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		batch := make([]*herald.Message, 100)
		for i := range batch {
			n++
			batch[i] = &herald.Message{ID: fmt.Sprintf("%032x", n), Time: time.Now(), Payload: payload,
				Users: []string{fmt.Sprintf("u%d", n*7919%10000)}}
		}
		if err := s.Append(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/msg")
}
