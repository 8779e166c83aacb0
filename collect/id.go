package collect

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// newID returns a message ID: 48 bits of millisecond time then 80 random bits,
// hex encoded. IDs sort by time, need no coordination between collect
// instances, and collide with negligible probability.
func newID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}
