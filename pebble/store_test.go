package pebble

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) herald.Store {
		s, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		return s
	})
}

func TestReopenKeepsMessages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := &herald.Message{ID: "m1", Payload: []byte(`1`), Users: []string{"a"}}
	if err := s.Append(ctx, []*herald.Message{m}); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if got, err := s.Messages(ctx, "a", 0, 10); err != nil || len(got) != 1 || got[0].ID != "m1" {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, err := Open(dir); err == nil {
		t.Fatal("a second Open of the same directory must fail, not hang")
	}
}

// TestSeqsContinueAfterSweepAndReopen: the last seq is read from the inbox
// on a cold cache, so retention removing a user's every entry must not let a
// reopened store hand out seq 1 again.
func TestSeqsContinueAfterSweepAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	var batch []*herald.Message
	for i := range 3 {
		batch = append(batch, &herald.Message{ID: fmt.Sprintf("old%d", i), Time: old, Payload: []byte(`1`), Users: []string{"a", "b"}})
	}
	if err := s.Append(ctx, batch); err != nil {
		t.Fatal(err)
	}
	keep := &herald.Message{ID: "keep", Time: time.Now(), Payload: []byte(`2`), Users: []string{"b"}}
	if err := s.Append(ctx, []*herald.Message{keep}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(ctx, time.Now().Add(-time.Hour)); err != nil || n != 3 {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
	s.Close(ctx)
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for user, want := range map[string]herald.Seq{"a": 3, "b": 4, "nobody": 0} {
		if n, err := s.LastSeq(ctx, user); err != nil || n.Seq != want {
			t.Errorf("LastSeq(%s) after reopen = %d, %v; want %d", user, n.Seq, err, want)
		}
	}
	next := &herald.Message{ID: "next", Time: time.Now(), Payload: []byte(`3`), Users: []string{"a", "b"}}
	if err := s.Append(ctx, []*herald.Message{next}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(next.Seqs) != "[4 5]" {
		t.Fatalf("seqs after sweep and reopen = %v, want [4 5]", next.Seqs)
	}
}
