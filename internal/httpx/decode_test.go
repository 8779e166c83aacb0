package httpx

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// body is a reusable request body.
type body struct{ strings.Reader }

func (*body) Close() error { return nil }

// BenchmarkDecode decodes a send request's body as net/http gives it.
func BenchmarkDecode(b *testing.B) {
	const send = `{"users":["u1"],"payload":{"t":1790000000000000000}}`
	var v struct {
		Users   []string
		Payload json.RawMessage
	}
	r := httptest.NewRequest("POST", "/", nil)
	w := httptest.NewRecorder()
	var rd body
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(send)
		r.Body, r.ContentLength = &rd, int64(len(send))
		if err := Decode(w, r, 1<<20, &v); err != nil {
			b.Fatal(err)
		}
	}
}
