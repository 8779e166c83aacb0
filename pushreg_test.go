package herald

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// testSubscription is a browser's subscription with real keys.
func testSubscription(t *testing.T) *WebPushSubscription {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return &WebPushSubscription{Endpoint: "https://fcm.googleapis.com/fcm/send/abc",
		Keys: WebPushKeys{P256dh: base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), Auth: base64.RawURLEncoding.EncodeToString(auth)}}
}

func TestPushRegistrationValidate(t *testing.T) {
	sub := testSubscription(t)
	apnsToken := strings.Repeat("AB", 32)
	for _, c := range []struct {
		name string
		r    PushRegistration
		ok   bool
	}{
		{"fcm", PushRegistration{Provider: ProviderFCM, Token: "dGVzdA:APA91b-x_y"}, true},
		{"fcm without a token", PushRegistration{Provider: ProviderFCM}, false},
		{"fcm token with a space", PushRegistration{Provider: ProviderFCM, Token: "a b"}, false},
		{"fcm with an apns field", PushRegistration{Provider: ProviderFCM, Token: "t", Topic: "com.example.app"}, false},
		{"apns", PushRegistration{Provider: ProviderAPNs, Token: apnsToken, Topic: "com.example.app"}, true},
		{"apns sandbox", PushRegistration{Provider: ProviderAPNs, Token: apnsToken, Topic: "com.example.app.voip", Environment: "sandbox"}, true},
		{"apns short token", PushRegistration{Provider: ProviderAPNs, Token: "abcd", Topic: "com.example.app"}, false},
		{"apns without a topic", PushRegistration{Provider: ProviderAPNs, Token: apnsToken}, false},
		{"apns with a subscription", PushRegistration{Provider: ProviderAPNs, Token: apnsToken, Topic: "com.example.app", Subscription: sub}, false},
		{"webpush with a token", PushRegistration{Provider: ProviderWebPush, Subscription: sub, Token: "t"}, false},
		{"apns bad environment", PushRegistration{Provider: ProviderAPNs, Token: apnsToken, Topic: "com.example.app", Environment: "dev"}, false},
		{"webpush", PushRegistration{Provider: ProviderWebPush, Subscription: sub}, true},
		{"webpush without one", PushRegistration{Provider: ProviderWebPush}, false},
		{"webpush over http", PushRegistration{Provider: ProviderWebPush, Subscription: &WebPushSubscription{Endpoint: "http://fcm.googleapis.com/x", Keys: sub.Keys}}, false},
		{"webpush with credentials", PushRegistration{Provider: ProviderWebPush, Subscription: &WebPushSubscription{Endpoint: "https://u:p@fcm.googleapis.com/x", Keys: sub.Keys}}, false},
		{"webpush key not on the curve", PushRegistration{Provider: ProviderWebPush, Subscription: &WebPushSubscription{Endpoint: sub.Endpoint,
			Keys: WebPushKeys{P256dh: base64.RawURLEncoding.EncodeToString(append([]byte{4}, make([]byte, 64)...)), Auth: sub.Keys.Auth}}}, false},
		{"webpush short auth", PushRegistration{Provider: ProviderWebPush, Subscription: &WebPushSubscription{Endpoint: sub.Endpoint,
			Keys: WebPushKeys{P256dh: sub.Keys.P256dh, Auth: "AAAA"}}}, false},
		{"unknown provider", PushRegistration{Provider: "sms", Token: "t"}, false},
		{"topics", PushRegistration{Provider: ProviderFCM, Token: "t", Topics: []string{"news", "team:42"}}, true},
		{"a topic that is not a name", PushRegistration{Provider: ProviderFCM, Token: "t", Topics: []string{"news", "a b"}}, false},
		{"too many topics", PushRegistration{Provider: ProviderFCM, Token: "t", Topics: slices.Repeat([]string{"x"}, MaxPushTopics+1)}, false},
	} {
		c.r.User, c.r.Device = "ann", "phone"
		err := c.r.Validate()
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
		if err != nil && ErrorCode(err) != EInvalid {
			t.Errorf("%s: code %s", c.name, ErrorCode(err))
		}
	}
	r := PushRegistration{User: "ann", Device: "ipad", Provider: ProviderAPNs, Token: apnsToken, Topic: "com.example.app"}
	if r.Validate(); r.Token != strings.ToLower(apnsToken) || r.Environment != "production" {
		t.Fatalf("apns normalised: %+v", r)
	}
	r = PushRegistration{User: "ann", Device: "phone", Provider: ProviderFCM, Token: "t", Topics: []string{"sport", "news", "sport"}}
	if err := r.Validate(); err != nil || fmt.Sprint(r.Topics) != "[news sport]" {
		t.Fatalf("topics sorted, each once: %v %v", r.Topics, err)
	}
}
