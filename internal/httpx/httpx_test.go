package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldpush/herald"
)

// buffered is a body already in memory, as the send lane gives it.
type buffered struct{ *strings.Reader }

func (b buffered) Bytes() []byte {
	rest := make([]byte, b.Len())
	b.Read(rest)
	return rest
}
func (buffered) Close() error { return nil }

// Both ways a body arrives (streamed by net/http, in memory from the send
// lane) decode alike: strict, with v1's name matching, within the limit.
func TestDecode(t *testing.T) {
	cases := []struct {
		body, ctype string
		code        string
		says        string // in the error
	}{
		{`{"a":1}`, "application/json", "", ""},
		{`{"a":1}`, "", "", ""},
		{"{\"A\":1} \r\n", "application/json", "", ""}, // v1 matches names without case; white space may follow
		{`{"a":1}`, "text/plain", herald.EUnsupported, "Content-Type"},
		{`{"a":1} {"a":2}`, "application/json", herald.EInvalid, "malformed JSON"},
		{`{"a":1,"b":2}`, "application/json", herald.EInvalid, `unknown field "b"`},
		{`{"a":"x"}`, "application/json", herald.EInvalid, "malformed JSON"},
		{`{"a":`, "application/json", herald.EInvalid, "malformed JSON"},
		{``, "application/json", herald.EInvalid, "malformed JSON"},
		{`{"a":` + strings.Repeat("1", 200) + `}`, "application/json", herald.ETooLarge, "over 100 bytes"},
	}
	for _, lane := range []bool{false, true} {
		for _, tc := range cases {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			if lane {
				r.Body = buffered{strings.NewReader(tc.body)}
			}
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			var v struct{ A int }
			err := Decode(httptest.NewRecorder(), r, 100, &v)
			if tc.code == "" && (err != nil || v.A != 1) || tc.code != "" && herald.ErrorCode(err) != tc.code {
				t.Errorf("lane %v, %q (%s): %v (a=%d), want %q", lane, tc.body, tc.ctype, err, v.A, tc.code)
			}
			if err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Errorf("lane %v, %q: error %q does not say %q", lane, tc.body, err, tc.says)
			}
		}
	}
}

func TestRequireScope(t *testing.T) {
	h := RequireScope(SingleKey("secret"), ScopeSend, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	for hdr, want := range map[string]int{"Bearer secret": 204, "bearer secret": 204, "Bearer wrong": 401, "": 401, "secret": 401} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", hdr)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%q: %d, want %d", hdr, w.Code, want)
		}
	}
	// An empty configured key is no key (no accidental open door).
	if _, err := NewKeys("", ""); err == nil {
		t.Error("empty key: accepted")
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer ")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Errorf("empty key: %d", w.Code)
	}
}

// ids is an Appender of n IDs, as a batch's 202.
type ids int

func (n ids) AppendJSON(b []byte) []byte {
	b = append(b, `{"ids":[`...)
	for i := range int(n) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `"01a2153b724b2795da010bef69a00bbe"`...)
	}
	return append(b, "]}"...)
}

// Answers share recycled buffers and Content-Length values: each answer
// keeps its own bytes and length, short or long, Appender or not.
func TestJSONAnswers(t *testing.T) {
	var recs []*httptest.ResponseRecorder
	var want []string
	for _, v := range []any{ids(1), ids(3000), map[string]int{"n": 1}, ids(0), ids(2)} {
		rec := httptest.NewRecorder()
		JSON(rec, http.StatusAccepted, v)
		recs = append(recs, rec)
		var body string
		if a, ok := v.(Appender); ok {
			body = string(a.AppendJSON(nil)) + "\n"
		} else {
			body = "{\"n\":1}\n"
		}
		want = append(want, body)
	}
	for i, rec := range recs {
		if got := rec.Body.String(); got != want[i] {
			t.Errorf("answer %d: body %q, want %q", i, got, want[i])
		}
		if got, want := rec.Header().Get("Content-Length"), strconv.Itoa(len(want[i])); got != want {
			t.Errorf("answer %d: Content-Length %s, want %s", i, got, want)
		}
		if rec.Code != http.StatusAccepted || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("answer %d: %d %q", i, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}

// discard is a ResponseWriter that keeps nothing, so that the benchmark
// counts only what JSON allocates.
type discard http.Header

func (d discard) Header() http.Header         { return http.Header(d) }
func (d discard) WriteHeader(int)             {}
func (d discard) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkJSONAppender is the 202 of a send: no allocation an answer.
func BenchmarkJSONAppender(b *testing.B) {
	w := discard(http.Header{})
	b.ReportAllocs()
	for b.Loop() {
		JSON(w, http.StatusAccepted, ids(1))
	}
}

// /readyz names a failing check without its error, which would show the
// public internal host names and addresses.
func TestReadyzHidesErrors(t *testing.T) {
	mux := http.NewServeMux()
	Health(mux, Check{Name: "store", Fn: func(context.Context) error {
		return errors.New("dial tcp 10.1.2.3:27017: connection refused")
	}})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 503 || strings.Contains(w.Body.String(), "10.1.2.3") || !strings.Contains(w.Body.String(), `"store":"failing"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
