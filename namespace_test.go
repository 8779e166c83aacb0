package herald

import (
	"strings"
	"testing"
)

func TestParseNamespaces(t *testing.T) {
	ns, err := ParseNamespaces(`{"chat": {"max_subscribers": 500}, "public": {"subscribe": "any"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := ns.Of("chat:room-1"); !ok || n.MaxSubscribers != 500 || n.Subscribe != SubscribeClaim {
		t.Fatalf("chat: %+v %v", n, ok)
	}
	if n, ok := ns.Of("public:lobby:x"); !ok || n.Subscribe != SubscribeAny {
		t.Fatalf("public: %+v %v", n, ok)
	}
	for _, topic := range []string{"chat", "news", "other:chat"} {
		if _, ok := ns.Of(topic); ok {
			t.Errorf("%q has a namespace", topic)
		}
	}
	if ns, err := ParseNamespaces(" "); err != nil || ns != nil {
		t.Fatalf("empty: %v %v", ns, err)
	}
	for in, want := range map[string]string{
		`[]`:                                  "JSON object",
		`{"a:b": {}}`:                         "no \":\"",
		`{"chat": {"presense": true}}`:        "unknown field",
		`{"chat": {"subscribe": "everyone"}}`: "claim, proxy or any",
		`{"chat": {"max_subscribers": -1}}`:   "0 (no bound)",
		`{"chat": {"client_presence": true}}`: "need presence: true",
		`{"chat": {"join_leave": true}}`:      "need presence: true",
	} {
		if _, err := ParseNamespaces(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}
