package routertest

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// RunOnline is the conformance suite of a herald.UserOnline; open returns
// a fresh one.
func RunOnline(t *testing.T, open func(t *testing.T) herald.UserOnline) {
	ctx := context.Background()
	check := func(t *testing.T, what string, got bool, err error, want bool) {
		t.Helper()
		if err != nil || got != want {
			t.Fatalf("%s: %v %v, want %v", what, got, err, want)
		}
	}
	t.Run("FirstAndLast", func(t *testing.T) {
		o := open(t)
		got, err := o.Opened(ctx, a, "u")
		check(t, "first connection", got, err, true)
		got, err = o.Opened(ctx, a, "u")
		check(t, "second", got, err, false)
		got, err = o.Opened(ctx, b, "u")
		check(t, "third, on another node", got, err, false)
		for i := range 2 {
			got, err = o.Closed(ctx, a, "u", time.Minute)
			check(t, fmt.Sprint("close ", i), got, err, false)
		}
		got, err = o.Closed(ctx, b, "u", time.Minute)
		check(t, "the last close", got, err, true)
		got, err = o.ConfirmOffline(ctx, "u")
		check(t, "offline confirmed", got, err, true)
		got, err = o.ConfirmOffline(ctx, "u")
		check(t, "confirmed once", got, err, false)
	})
	t.Run("ReloadWithinTheGrace", func(t *testing.T) {
		o := open(t)
		o.Opened(ctx, a, "u")
		got, err := o.Closed(ctx, a, "u", time.Minute)
		check(t, "last close", got, err, true)
		got, err = o.Opened(ctx, a, "u")
		check(t, "back within the grace", got, err, false)
		got, err = o.ConfirmOffline(ctx, "u")
		check(t, "the pending offline", got, err, false)
	})
	t.Run("DeadNodeReaped", func(t *testing.T) {
		o := open(t)
		o.Opened(ctx, b, "u2")
		o.Opened(ctx, b, "u2")
		o.Opened(ctx, b, "u3")
		o.Opened(ctx, a, "u3")
		holders(t, "before the reap", o.OnlineHolders, a, b)
		users, err := o.ReapOnline(ctx, b, time.Minute)
		holders(t, "after the reap", o.OnlineHolders, a)
		sort.Strings(users)
		if err != nil || fmt.Sprint(users) != "[u2]" {
			t.Fatalf("reaped: %v %v, want u2 (u3 is still on a)", users, err)
		}
		if users, _ := o.ReapOnline(ctx, b, time.Minute); len(users) != 0 {
			t.Fatalf("reaped twice: %v", users)
		}
		got, err := o.ConfirmOffline(ctx, "u2")
		check(t, "u2 offline", got, err, true)
		got, err = o.Closed(ctx, a, "u3", time.Minute)
		check(t, "u3's last", got, err, true)
	})
}
