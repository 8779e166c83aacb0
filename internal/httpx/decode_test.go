package httpx

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldpush/herald"
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

func TestDecodeRefusesInvalidUTF8NamingTheField(t *testing.T) {
	for body, field := range map[string]string{
		"{\"users\":[\"a\"],\"payload\":\"caf\xff\"}":                         "payload",
		"{\"messages\":[{\"payload\":1},{\"payload\":{\"t\":[0,\"\xfe\"]}}]}": "messages[1].payload.t[1]",
		"{\"r\xff\":1}": "r\uFFFD",
		"\xff":          "body",
	} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		var v any
		err := Decode(httptest.NewRecorder(), r, 1<<20, &v)
		if err == nil || herald.ErrorCode(err) != herald.EInvalid || !strings.HasPrefix(herald.ErrorMessage(err), field+": not valid UTF-8") {
			t.Errorf("%q: %v, want a 400 naming %s", body, err, field)
		}
	}
}
