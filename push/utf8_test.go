package push

import (
	"context"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// A payload stored with invalid UTF-8 (by an older version, or restored from
// a backup) goes out with each invalid byte replaced by U+FFFD, replayed and
// live alike, and is counted: a text frame that is not UTF-8 makes a browser
// drop the connection, and it would get the same message on every resume.
func TestStoredInvalidUTF8IsRepairedOnTheWay(t *testing.T) {
	f := newFixture(t, nil)
	bad := func(id string) *herald.Message {
		m := &herald.Message{ID: id, Time: time.Now(), Payload: json.RawMessage("{\"t\":\"caf\xff\xfe\"}"), Users: []string{"alice"}}
		if err := f.store.Append(context.Background(), []*herald.Message{m}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := repairedPayloads.Load()
	bad("stored")
	c := probe.MustDialWS(t, f.ws, f.token(t, "alice"), "phone", nil)
	f.svc.Deliver(context.Background(), []*herald.Message{bad("live")})
	for _, m := range c.Msgs(2, 5*time.Second) {
		if !utf8.Valid(m.Payload) || string(m.Payload) != "{\"t\":\"caf\uFFFD\uFFFD\"}" {
			t.Fatalf("payload %q", m.Payload)
		}
	}
	if got := repairedPayloads.Load() - before; got < 2 {
		t.Fatalf("repairs counted: %d", got)
	}
}
