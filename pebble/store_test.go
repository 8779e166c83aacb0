package pebble

import (
	"context"
	"testing"

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
