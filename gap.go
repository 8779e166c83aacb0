package herald

import "context"

// SeqState is what one seq of a stream holds (GapCloser).
type SeqState int

const (
	// SeqPending: nothing yet; a write that took the seq may still be in flight.
	SeqPending SeqState = iota
	// SeqStored: a message.
	SeqStored
	// SeqDead: nothing, for good (a write that failed or died after taking
	// the seq, a seq closed by Gap, a message removed by retention).
	SeqDead
)

// GapCloser is a Store whose streams can show a hole for a while: with
// several collect instances, seq N+1 can be stored before N, and a writer
// that dies between taking N and storing it leaves N empty for good. A push
// node that meets a hole asks, instead of moving past it blind: a message
// stored late behind a hole that a reader had already passed was lost to
// that device (its next resume starts after it).
//
// The embedded store does not need it: one writer, and a batch's seqs are
// taken and stored in one commit, so its streams have no holes in flight.
type GapCloser interface {
	// Gap reports what user's seq holds, and the message when it is stored.
	// With close, a seq that holds nothing yet is first marked dead, for
	// good and for every reader: a write still holding it then takes
	// another seq, so its message comes later under that seq instead of
	// behind readers that have moved on.
	Gap(ctx context.Context, user string, seq Seq, close bool) (Delivery, SeqState, error)
}
