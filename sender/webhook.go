package sender

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// VerifyWebhook reports whether a receipts or connection webhook request
// is Herald's, signed with secret: X-Herald-Signature is "sha256=" and the
// hex HMAC-SHA256 of the X-Herald-Timestamp header, ".", and the raw body.
// A timestamp more than 5 minutes from now is refused, so that a captured
// request cannot be replayed later. Pass the body as read, before any JSON
// decoding.
func VerifyWebhook(secret, timestamp, signature string, body []byte, now time.Time) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	hexSig, ok := strings.CutPrefix(signature, "sha256=")
	if err != nil || !ok {
		return false
	}
	if d := now.Unix() - ts; d > 300 || d < -300 {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "."))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
