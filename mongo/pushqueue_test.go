package mongo

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv"
)

// An instance that died between claiming a push and moving its lease left
// a claim that names the lease the push still has: once that claim is
// older than a lease, another instance takes the push over, rather than
// leave it until the claim is swept an hour later. A fresh claim is not
// taken over.
func TestClaimOfADeadInstanceIsTakenOver(t *testing.T) {
	srv := testenv.StartMongo(t)
	ctx := context.Background()
	s, err := Open(ctx, Options{URI: srv.URI, Database: fmt.Sprintf("herald_test_%d", dbn.Add(1)), Retention: time.Hour, Indexes: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(ctx) })
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := herald.PendingPush{MsgID: "m1", User: "ann", Seq: 1, Mode: herald.PushAlways, Notification: herald.Notification{Title: "x"}, Due: now.Add(-time.Minute)}
	if err := s.QueuePushes(ctx, []herald.PendingPush{p}); err != nil {
		t.Fatal(err)
	}
	var doc queueDoc
	if err := s.queue.FindOne(ctx, bson.D{{Key: "_id", Value: ackID("m1", "ann")}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	claim := ackID("m1", "ann") + idSep + fmt.Sprint(doc.Lease.UnixMilli())
	// A claim made just now by an instance that has not moved the lease yet.
	if _, err := s.claims.InsertOne(ctx, bson.D{{Key: "_id", Value: claim}, {Key: "t", Value: now.Add(-time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimPushes(ctx, now, time.Minute, 10); err != nil || len(got) != 0 {
		t.Fatalf("a fresh claim was taken over: %+v %v", got, err)
	}
	// Two minutes later it is a dead instance's.
	got, err := s.ClaimPushes(ctx, now.Add(2*time.Minute), time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].User != "ann" {
		t.Fatalf("a dead instance's claim: %+v %v", got, err)
	}
	if again, err := s.ClaimPushes(ctx, now.Add(2*time.Minute), time.Minute, 10); err != nil || len(again) != 0 {
		t.Fatalf("claimed twice: %+v %v", again, err)
	}
}
