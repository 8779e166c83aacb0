package herald

import (
	"context"
	"time"
)

// A message's lifecycle after it is stored: it may expire (Message.Expires),
// and be superseded by a newer message of its stream with the same collapse
// key. Both decide what a replay and the history return, never what a
// connected device is sent live: a connection gets every message as it
// comes, and a message on its way to a socket when it expires may arrive.

// Recalls marks messages recalled.
type Recalls interface {
	// Recall marks message id recalled at at (a message recalled before
	// keeps its first time) and returns it; nil when none is stored.
	Recall(ctx context.Context, id string, at time.Time) (*Message, error)
}

// CollapseIndex knows each stream's newest seq per collapse key, written
// when a message with a key is stored.
type CollapseIndex interface {
	// NewestByKey returns, for each of keys used in stream (a user, or a
	// TopicKey), the seq of its newest message.
	NewestByKey(ctx context.Context, stream string, keys []string) (map[string]Seq, error)
}

// Superseded reports whether a newer message of d's stream has d's
// collapse key (newest: the stream's NewestByKey for the keys in question).
func (d *Delivery) Superseded(newest map[string]Seq) bool {
	return d.CollapseKey != "" && newest[d.CollapseKey] > d.Seq
}

// CollapseKeys returns the distinct collapse keys of ds, nil when none has one.
func CollapseKeys(ds []Delivery) []string {
	var keys []string
	seen := map[string]bool{}
	for i := range ds {
		if k := ds[i].CollapseKey; k != "" && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// MaxCollapseKey is the longest collapse key, in bytes.
const MaxCollapseKey = 64

// lastValueReach bounds how far back LastValue looks past expired messages.
const lastValueReach = 256

// LastValue returns stream key's newest message that has not expired at
// now (nil: none in the newest lastValueReach), last being its newest seq.
func LastValue(ctx context.Context, store Store, key string, last Seq, now time.Time) (*Delivery, error) {
	const page = 16
	for hi := last; hi > 0 && last-hi < lastValueReach; {
		lo := hi - min(hi, page)
		ds, err := store.Messages(ctx, key, lo, int(hi-lo))
		if err != nil {
			return nil, err
		}
		for i := len(ds) - 1; i >= 0; i-- {
			if ds[i].Seq <= hi && !ds[i].Expired(now) {
				return &ds[i], nil
			}
		}
		hi = lo
	}
	return nil, nil
}
