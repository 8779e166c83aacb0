package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// Push registrations: one per device, replaced by a new one, listed by
// user in device order, each provider's fields kept, deleted once.
func testRegistrations(t *testing.T, s herald.Store) {
	rs, ok := s.(herald.PushRegistrations)
	if !ok {
		t.Skip("this store keeps no push registrations")
	}
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	sub := &herald.WebPushSubscription{Endpoint: "https://push.example/abc", Keys: herald.WebPushKeys{P256dh: "BKey", Auth: "auth"}}
	put := []herald.PushRegistration{
		{User: "ann", Device: "web", Provider: herald.ProviderWebPush, Subscription: sub, Updated: now},
		{User: "ann", Device: "phone", Provider: herald.ProviderFCM, Token: "fcm-1", Updated: now},
		{User: "ann", Device: "ipad", Provider: herald.ProviderAPNs, Token: "ab12", Topic: "com.example.app", Environment: "sandbox", Updated: now},
		{User: "ann", Device: "phone", Provider: herald.ProviderFCM, Token: "fcm-2", Updated: now.Add(time.Second)}, // replaces fcm-1
		{User: "annie", Device: "phone", Provider: herald.ProviderFCM, Token: "other", Updated: now},
	}
	for _, r := range put {
		if err := rs.PutRegistration(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := rs.Registrations(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Device != "ipad" || got[1].Device != "phone" || got[2].Device != "web" {
		t.Fatalf("ann's registrations: %+v", got)
	}
	if g := got[0]; g.Provider != herald.ProviderAPNs || g.Token != "ab12" || g.Topic != "com.example.app" || g.Environment != "sandbox" || !g.Updated.Equal(now) {
		t.Fatalf("apns registration: %+v", g)
	}
	if g := got[1]; g.Token != "fcm-2" || !g.Updated.Equal(now.Add(time.Second)) {
		t.Fatalf("the phone's registration was not replaced: %+v", g)
	}
	if g := got[2]; g.Subscription == nil || *g.Subscription != *sub {
		t.Fatalf("webpush registration: %+v", g)
	}
	if ok, err := rs.DeleteRegistration(ctx, "ann", "phone"); err != nil || !ok {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if ok, err := rs.DeleteRegistration(ctx, "ann", "phone"); err != nil || ok {
		t.Fatalf("delete again: %v %v", ok, err)
	}
	if got, _ := rs.Registrations(ctx, "ann"); len(got) != 2 {
		t.Fatalf("after the delete: %+v", got)
	}
	if got, _ := rs.Registrations(ctx, "nobody"); len(got) != 0 {
		t.Fatalf("a user without any: %+v", got)
	}
}
