package mongo

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/storetest"
	"github.com/heraldpush/herald/internal/testenv"
)

var dbn atomic.Int64

func TestStore(t *testing.T) {
	srv := testenv.StartMongo(t)
	storetest.Run(t, func(t *testing.T) herald.Store {
		s, err := Open(context.Background(), Options{URI: srv.URI, Database: fmt.Sprintf("herald_test_%d", dbn.Add(1)), Retention: 7 * 24 * time.Hour, Indexes: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	})
}

// The reads a sharded cluster gets (each naming the inbox's shard key), run
// against FerretDB, which is no mongos: the same conformance suite passes.
func TestStoreShardedReads(t *testing.T) {
	srv := testenv.StartMongo(t)
	storetest.Run(t, func(t *testing.T) herald.Store {
		s, err := Open(context.Background(), Options{URI: srv.URI, Database: fmt.Sprintf("herald_sharded_%d", dbn.Add(1)), Retention: 7 * 24 * time.Hour, Indexes: true})
		if err != nil {
			t.Fatal(err)
		}
		if s.sharded {
			t.Fatal("FerretDB taken for a mongos")
		}
		s.sharded = true
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	})
}

func TestUnreachableFailsFastNamingTheAddress(t *testing.T) {
	addr := testenv.FreePort(t, "127.0.0.1") // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := Open(ctx, Options{URI: "mongodb://" + addr + "/", Database: "x"})
	if err == nil {
		t.Fatal("Open of an address with no server succeeded")
	}
	if want := addr; !contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
}

func contains(s, sub string) bool { return len(sub) == 0 || (len(s) >= len(sub) && index(s, sub) >= 0) }

func index(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// A collect that died half-way through a write left the payload and some inbox
// entries; the retry with the same ID finishes the job without duplicates.
func TestRetryFinishesAHalfWrittenMessage(t *testing.T) {
	srv := testenv.StartMongo(t)
	ctx := context.Background()
	s, err := Open(ctx, Options{URI: srv.URI, Database: "half", Indexes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	now := time.Now().Truncate(time.Millisecond)
	if _, err := s.messages.InsertOne(ctx, bson.D{{Key: "_id", Value: "m1"}, {Key: "t", Value: now}, {Key: "p", Value: "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.counters.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}, {Key: "s", Value: int64(1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.inbox.InsertOne(ctx, bson.D{{Key: "_id", Value: inboxID("a", 1)}, {Key: "u", Value: "a"}, {Key: "s", Value: int64(1)}, {Key: "m", Value: "m1"}, {Key: "t", Value: now}}); err != nil {
		t.Fatal(err)
	}
	m := &herald.Message{ID: "m1", Time: now, Payload: []byte("1"), Users: []string{"a", "b"}}
	if err := s.Append(ctx, []*herald.Message{m}); err != nil {
		t.Fatal(err)
	}
	if !m.Dup || m.Seqs[0] != 1 || m.Seqs[1] != 1 {
		t.Fatalf("dup %v seqs %v; want dup, a keeps 1, b gets 1", m.Dup, m.Seqs)
	}
	for _, u := range []string{"a", "b"} {
		if got, _ := s.Messages(ctx, u, 0, 10); len(got) != 1 || got[0].ID != "m1" {
			t.Fatalf("%s has %v", u, got)
		}
	}
}

// A flush of acks for hundreds of devices that acked before (each statement
// an update of an existing document) must not jam the server. FerretDB v1
// held a pooled connection per single-document update statement until the
// command ended, so one such flush of more statements than its pool (100)
// waited on itself until the caller gave up (upsertByID).
func TestLargeAckFlushOfKnownDevices(t *testing.T) {
	srv := testenv.StartMongo(t)
	s, err := Open(context.Background(), Options{URI: srv.URI, Database: "acks", Indexes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	acks := func(seq herald.Seq) []herald.Ack {
		out := make([]herald.Ack, 300)
		for i := range out {
			out[i] = herald.Ack{User: fmt.Sprintf("u%d", i), Device: "d", Seq: seq}
		}
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, seq := range []herald.Seq{1, 2, 3} {
		start := time.Now()
		if err := s.SaveAcks(ctx, acks(seq)); err != nil {
			t.Fatalf("flush of 300 acks at seq %d: %v (after %s)", seq, err, time.Since(start))
		}
		t.Logf("300 acks at seq %d: %s", seq, time.Since(start).Round(time.Millisecond))
	}
	if got, err := s.AckedSeq(ctx, "u299", "d"); err != nil || got != 3 {
		t.Fatalf("AckedSeq = %d, %v; want 3", got, err)
	}
	receipts := make([]herald.AckAt, 300)
	for i := range receipts {
		receipts[i] = herald.AckAt{User: fmt.Sprintf("u%d", i), Device: "d", Seq: 1, At: time.Now()}
	}
	for range 2 { // the second flush finds every document stored
		if err := s.SaveAcked(ctx, receipts); err != nil {
			t.Fatalf("receipt acks: %v", err)
		}
	}
}

// An older version's acks and receipts, under _ids joined with NUL, are
// still read: the ack under the higher of the two forms, one receipt per
// device (its first delivery). Only SQLite takes a NUL in a string (the
// PostgreSQL back end refuses it, which is why the separator changed), so
// this runs on the SQLite back end (make test runs this package on both).
func TestReadsIDsOfAnOlderVersion(t *testing.T) {
	if testenv.FerretBackend() != "sqlite" {
		t.Skip("the NUL-separated _ids of older versions can be written to FerretDB's SQLite back end only (HERALD_TEST_FERRETDB=sqlite)")
	}
	srv := testenv.StartMongo(t)
	ctx := context.Background()
	s, err := Open(ctx, Options{URI: srv.URI, Database: fmt.Sprintf("herald_legacy_%d", dbn.Add(1)), Retention: 7 * 24 * time.Hour, Indexes: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if _, err := s.acks.InsertOne(ctx, bson.D{{Key: "_id", Value: "ann\x00phone"}, {Key: "u", Value: "ann"}, {Key: "d", Value: "phone"}, {Key: "s", Value: int64(40)}}); err != nil {
		t.Fatal(err)
	}
	if seq, err := s.AckedSeq(ctx, "ann", "phone"); err != nil || seq != 40 {
		t.Fatalf("acked seq under the old _id: %d %v", seq, err)
	}
	if err := s.SaveAcks(ctx, []herald.Ack{{User: "ann", Device: "phone", Seq: 42}}); err != nil {
		t.Fatal(err)
	}
	if seq, err := s.AckedSeq(ctx, "ann", "phone"); err != nil || seq != 42 {
		t.Fatalf("acked seq after a new ack: %d %v", seq, err)
	}

	first := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	if _, err := s.receipts.InsertOne(ctx, bson.D{{Key: "_id", Value: "m1\x00ann\x00phone"}, {Key: "m", Value: "m1"}, {Key: "u", Value: "ann"},
		{Key: "d", Value: "phone"}, {Key: "s", Value: int64(7)}, {Key: "dl", Value: first}, {Key: "t", Value: first}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveDelivered(ctx, []herald.Receipt{{MsgID: "m1", User: "ann", Device: "phone", Seq: 7, Delivered: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Receipts(ctx, "m1")
	if err != nil || len(rs) != 1 || !rs[0].Delivered.Equal(first) {
		t.Fatalf("receipts under both forms: %+v %v, want one delivered at %v", rs, err, first)
	}
}
