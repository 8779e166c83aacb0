package collect

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/heraldpush/herald"
)

// MaxIdempotencyKey is the longest Idempotency-Key accepted, in bytes.
const MaxIdempotencyKey = 255

// idempotencyKey returns the request's Idempotency-Key header, if any.
func idempotencyKey(r *http.Request) (string, bool, error) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 {
		return "", false, nil
	}
	k := vals[0]
	if len(vals) > 1 || len(k) == 0 || len(k) > MaxIdempotencyKey || !printable(k) {
		return "", false, herald.Errorf(herald.EInvalid, "Idempotency-Key: one header of 1-%d printable ASCII characters", MaxIdempotencyKey)
	}
	return k, true, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// idempotentID derives the message ID from the Idempotency-Key. Every try of
// one request gets the same ID, and the store is idempotent by ID, so a retry
// (even one sent to another collect instance after the first one died
// mid-request) returns the first answer and never stores or sends twice.
// Keys are remembered as long as the message is kept (--retention, 7 days by
// default).
func idempotentID(key string) string {
	sum := sha256.Sum256([]byte("herald-idempotency\x00" + key))
	return hex.EncodeToString(sum[:16])
}
