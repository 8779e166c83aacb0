package logbuf

import (
	"io"
	"log/slog"
	"testing"
)

func TestRecordsWarningsNewestFirst(t *testing.T) {
	l := slog.New(Wrap(slog.NewTextHandler(io.Discard, nil)))
	l.Info("not kept")
	l.Warn("first", "node", "push-1")
	l.With("conn", "c1").Error("second")
	got := Recent()
	if len(got) < 2 || got[0].Message != "second" || got[0].Attrs["conn"] != "c1" || got[1].Attrs["node"] != "push-1" {
		t.Fatalf("Recent = %+v", got)
	}
	for range 2 * size {
		l.Warn("flood")
	}
	if n := len(Recent()); n != size {
		t.Fatalf("%d entries kept, want %d", n, size)
	}
}
