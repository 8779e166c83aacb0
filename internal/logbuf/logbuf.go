// Package logbuf keeps the process's most recent warnings and errors in
// memory, so the admin API can show them without a log pipeline.
package logbuf

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Entry is one recorded log line.
type Entry struct {
	Time    time.Time         `json:"time"`
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

// size bounds the ring.
const size = 100

var (
	mu   sync.Mutex
	ring []Entry
)

// Recent returns the recorded entries, newest first.
func Recent() []Entry {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Entry, len(ring))
	for i, e := range ring {
		out[len(ring)-1-i] = e
	}
	return out
}

// Handler records WARN and above, then passes every record on to next.
type Handler struct {
	next  slog.Handler
	attrs []slog.Attr
}

// Wrap returns a Handler around next.
func Wrap(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		e := Entry{Time: r.Time, Level: r.Level.String(), Message: r.Message, Attrs: map[string]string{}}
		for _, a := range h.attrs {
			e.Attrs[a.Key] = a.Value.String()
		}
		r.Attrs(func(a slog.Attr) bool {
			e.Attrs[a.Key] = a.Value.String()
			return true
		})
		mu.Lock()
		ring = append(ring, e)
		if len(ring) > size {
			ring = ring[len(ring)-size:]
		}
		mu.Unlock()
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(as), attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), attrs: h.attrs}
}
