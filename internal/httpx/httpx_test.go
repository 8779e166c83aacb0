package httpx

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldpush/herald"
)

func TestDecode(t *testing.T) {
	cases := []struct {
		body, ctype string
		code        string
	}{
		{`{"a":1}`, "application/json", ""},
		{`{"a":1}`, "", ""},
		{`{"a":1}`, "text/plain", herald.EUnsupported},
		{`{"a":1} {"a":2}`, "application/json", herald.EInvalid},
		{`{"a":1,"b":2}`, "application/json", herald.EInvalid},
		{`{"a":"x"}`, "application/json", herald.EInvalid},
		{`{"a":` + strings.Repeat("1", 200) + `}`, "application/json", herald.ETooLarge},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		if tc.ctype != "" {
			r.Header.Set("Content-Type", tc.ctype)
		}
		var v struct{ A int }
		err := Decode(httptest.NewRecorder(), r, 100, &v)
		if tc.code == "" && err != nil || tc.code != "" && herald.ErrorCode(err) != tc.code {
			t.Errorf("%s (%s): %v, want %q", tc.body, tc.ctype, err, tc.code)
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
