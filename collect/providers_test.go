package collect

import (
	"testing"
	"time"
)

// A provider's answer: 2xx sent, gone and refused credentials as the
// provider said, 429 and 5xx retried, the rest refused; the metric's code
// is the provider's error code only when it is one.
func TestProviderResult(t *testing.T) {
	for _, c := range []struct {
		status     int
		gone, auth bool
		reason     string
		want       PushResult
	}{
		{201, false, false, "", PushResult{OK: true}},
		{404, true, false, "UNREGISTERED", PushResult{Gone: true, Reason: "UNREGISTERED", Code: "UNREGISTERED"}},
		{403, false, true, "InvalidProviderToken", PushResult{AuthFailed: true, Reason: "InvalidProviderToken", Code: "InvalidProviderToken"}},
		{429, false, false, "QUOTA_EXCEEDED", PushResult{Retry: true, RetryAfter: time.Second, Reason: "QUOTA_EXCEEDED", Code: "QUOTA_EXCEEDED"}},
		{503, false, false, "", PushResult{Retry: true, RetryAfter: time.Second, Code: "http_503"}},
		{400, false, false, "bad things happened to user 42", PushResult{Reason: "400 bad things happened to user 42", Code: "http_400"}},
	} {
		got := result(c.status, c.gone, c.auth, time.Second, c.reason, code(c.reason, c.status))
		if !c.want.Retry {
			c.want.RetryAfter = 0
			got.RetryAfter = 0
		}
		if got != c.want {
			t.Errorf("%d %q: %+v, want %+v", c.status, c.reason, got, c.want)
		}
	}
}
