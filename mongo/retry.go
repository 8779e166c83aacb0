package mongo

import (
	"context"
	"errors"
	"log/slog"
	"time"

	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/heraldpush/herald"
)

// appendBackoff is the wait before each further try of a failed Append: three
// tries within about half a second. The driver already retries a retryable
// write once; these cover what outlasts that (a lock held a moment too long,
// a primary stepping down) without keeping the senders waiting for long. A
// longer outage is the senders' to retry: collect answers 503.
var appendBackoff = []time.Duration{100 * time.Millisecond, 400 * time.Millisecond}

// errSeqContention: the seq counters of a batch's users kept colliding with
// another writer's.
var errSeqContention = errors.New("seq conflicts did not settle")

// appendRetrying runs append, and again after a transient failure. A try
// may fail half-way, with some payloads, counters and inbox entries written;
// the next one finishes that work as it finishes a client's retried request,
// except that a message the earlier try stored is not reported as Dup. An
// abandoned seq (a counter raised for entries never inserted) is a hole that
// push nodes close (Gap).
func (s *Store) appendRetrying(ctx context.Context, msgs []*herald.Message) error {
	ours := make(map[string]bool, len(msgs))
	err := s.append(ctx, msgs, ours)
	for _, wait := range appendBackoff {
		if err == nil || !transient(err) {
			break
		}
		slog.Warn("mongodb: write failed, trying again", "messages", len(msgs), "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
		err = s.append(ctx, msgs, ours)
	}
	return err
}

// notePayloads adds to ours the messages that an insertMany of their payloads
// stored: all when it succeeded, those without a write error when it failed
// item by item, and all when there was no answer (any of them may have
// landed; should one of those be a client's retry, it is then not reported as
// Dup, which only drops a response header).
func notePayloads(msgs []*herald.Message, err error, ours map[string]bool) {
	var bwe driver.BulkWriteException
	if err != nil && errors.As(err, &bwe) {
		failed := make(map[int]bool, len(bwe.WriteErrors))
		for _, we := range bwe.WriteErrors {
			failed[we.Index] = true
		}
		for i, m := range msgs {
			if !failed[i] {
				ours[m.ID] = true
			}
		}
		return
	}
	for _, m := range msgs {
		ours[m.ID] = true
	}
}

// transientCodes are server error codes after which the same write may well
// succeed a moment later: the driver's retryable-write codes (elections,
// shutdowns, network trouble between mongos and shards), write conflicts and
// lock timeouts, an unsatisfied write concern (its write is repeated
// harmlessly: inserts by _id, counters leave at worst a hole), and
// InternalError, which is how FerretDB reports its SQLite back end's
// "database is locked" (SQLITE_BUSY) under concurrent writes.
var transientCodes = []int{
	1,     // InternalError
	6,     // HostUnreachable
	7,     // HostNotFound
	24,    // LockTimeout
	64,    // WriteConcernFailed
	89,    // NetworkTimeout
	91,    // ShutdownInProgress
	112,   // WriteConflict
	189,   // PrimarySteppedDown
	262,   // ExceededTimeLimit
	9001,  // SocketException
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
}

// transient reports whether a failed write may succeed if tried again soon.
// Anything else (a document too large, a refused login, a bad index) fails
// the same way every time and goes straight back to collect.
func transient(err error) bool {
	// No server to send to for the whole selection timeout (5 s): the
	// database is down or unreachable, and a try half a second later would
	// only keep the sender waiting another 5 s for the same 503.
	var noServer topology.ServerSelectionError
	if errors.Is(err, context.Canceled) || errors.As(err, &noServer) {
		return false
	}
	if errors.Is(err, errSeqContention) || driver.IsNetworkError(err) || driver.IsTimeout(err) {
		return true
	}
	var se driver.ServerError
	if !errors.As(err, &se) {
		return false
	}
	if se.HasErrorLabel("RetryableWriteError") || se.HasErrorLabel("TransientTransactionError") {
		return true
	}
	for _, c := range transientCodes {
		if se.HasErrorCode(c) {
			return true
		}
	}
	return false
}

// faultAt returns the error tests asked step to fail with (Store.fault).
func (s *Store) faultAt(step string) error {
	if s.fault == nil {
		return nil
	}
	return s.fault(step)
}
