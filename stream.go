package herald

import (
	"crypto/rand"
	"encoding/hex"
)

// StreamPos is a position in a stream (a user's inbox, a topic): a seq, and
// the epoch of the stream it counts in. The epoch is an ID the store makes
// when the stream's first seq is allocated and keeps with it: a store that is
// wiped (or a stream whose counter is lost) starts again at seq 1 under a new
// epoch, and a client that remembers a seq of the old one can tell that its
// position means nothing now, rather than drop every new message as a repeat.
// (A store restored from a backup keeps its epoch; its seqs go back, which a
// client sees as the server's seq below its own.) The epoch is "" for a
// stream stored by a version of Herald that did not keep one.
type StreamPos struct {
	Seq   Seq
	Epoch string
}

// NewEpoch returns a new stream epoch: 16 hex digits, random.
func NewEpoch() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
