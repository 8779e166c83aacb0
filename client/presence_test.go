package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// Presence through the SDK, in both encodings: OnPresence hears a user
// join and leave a topic, Presence lists who is subscribed, and a topic
// the client is not subscribed to is refused with a PresenceError.
func TestClientPresence(t *testing.T) {
	dir, addr := t.TempDir(), testenv.FreePort(t, "127.0.0.1")
	_, api := startAll(t, dir, addr, "--namespaces", `{"room": {"presence": true, "client_presence": true, "join_leave": true}}`)
	for _, enc := range []client.Encoding{client.JSON, client.Protobuf} {
		t.Run(string(enc), func(t *testing.T) {
			room := "room:" + string(enc)
			var mu sync.Mutex
			var changes []string
			watcher := runClient(t, api, addr, "watcher-"+string(enc), enc, room, func(p client.PresenceChange) {
				mu.Lock()
				defer mu.Unlock()
				kind := "leave"
				if p.Join {
					kind = "join"
				}
				changes = append(changes, fmt.Sprintf("%s %s %s/%s", kind, p.Topic, p.User, p.Device))
			})
			seen := func(want string) {
				t.Helper()
				waitFor(t, want, func() bool { mu.Lock(); defer mu.Unlock(); return slices.Contains(changes, want) })
			}
			seen("join " + room + " watcher-" + string(enc) + "/")
			stopBob := runClient(t, api, addr, "bob", enc, room, nil)
			seen("join " + room + " bob/bob-device")

			var users []string
			waitFor(t, "both users in the answer", func() bool {
				u, more, err := watcher.Presence(t.Context(), room)
				slices.Sort(u)
				users = u
				return err == nil && !more && slices.Equal(u, []string{"bob", "watcher-" + string(enc)})
			})
			_, _, err := watcher.Presence(t.Context(), "room:elsewhere")
			var pe *client.PresenceError
			if !errors.As(err, &pe) || pe.Code != "forbidden" {
				t.Fatalf("presence of a topic not subscribed: %v (users were %v)", err, users)
			}

			stopBob.stop()
			seen("leave " + room + " bob/bob-device") // the device of the user's last connection
		})
	}
}

type running struct {
	*client.Client
	stop func()
}

// runClient runs a client of user subscribed to topic until the test ends
// (or stop), once it is connected.
func runClient(t *testing.T, api probe.API, addr, user string, enc client.Encoding, topic string, onPresence func(client.PresenceChange)) running {
	t.Helper()
	connected := make(chan struct{}, 1)
	c, err := client.New(client.Options{
		URL:    "ws://" + addr,
		Device: map[bool]string{true: "bob-device"}[user == "bob"],
		TokenFunc: func(ctx context.Context) (string, error) {
			return api.TokenTopicsCtx(ctx, user, "room:*")
		},
		Topics:      []string{topic},
		Encoding:    enc,
		OnPresence:  onPresence,
		OnConnected: func(client.Hello) { connected <- struct{}{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	select {
	case <-connected:
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not connect", user)
	}
	return running{c, stop}
}
