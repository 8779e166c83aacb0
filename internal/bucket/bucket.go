// Package bucket is the token bucket behind Herald's rate limits (client
// frames per connection, new connections per address, API calls per key):
// a burst of up to one second's allowance, refilled continuously. The zero
// Bucket is full; it is 32 bytes, small enough for one per connection.
package bucket

import "time"

// Bucket is one limited thing's allowance. Not safe for concurrent use.
type Bucket struct {
	tokens float64
	last   time.Time
}

// Allow takes a token at now if one is left; perSec <= 0 means no limit.
func (b *Bucket) Allow(now time.Time, perSec float64) bool {
	if perSec <= 0 {
		return true
	}
	if b.last.IsZero() {
		b.tokens = perSec
	} else {
		b.tokens = min(perSec, b.tokens+now.Sub(b.last).Seconds()*perSec)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Last is when the bucket was last used (zero: never).
func (b *Bucket) Last() time.Time { return b.last }
