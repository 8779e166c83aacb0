package lane

import (
	"net/http"
	"testing"
)

// BenchmarkAppendAnswer writes a send's 202 as the lane does: the headers
// httpx.JSON sets, sorted as net/http writes them.
func BenchmarkAppendAnswer(b *testing.B) {
	w := &response{h: http.Header{}}
	var out []byte
	body := []byte(`{"id":"01JEXAMPLE0000000000000000"}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		w.h["Content-Type"] = []string{"application/json"}
		w.h["Cache-Control"] = []string{"no-store"}
		w.h["Content-Length"] = []string{"39"}
		w.status = http.StatusAccepted
		w.body = append(w.body, body...)
		out = w.appendTo(out[:0], false)
	}
}
