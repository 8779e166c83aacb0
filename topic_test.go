package herald

import "testing"

func TestTopicAllowed(t *testing.T) {
	cases := []struct {
		claims []string
		topic  string
		want   bool
	}{
		{nil, "news", false},
		{[]string{"news"}, "news", true},
		{[]string{"news"}, "news2", false},
		{[]string{"team:42:*"}, "team:42:chat", true},
		{[]string{"team:42:*"}, "team:4", false},
		{[]string{"team:42:*"}, "team:420:chat", false},
		{[]string{"*"}, "anything", true},
		{[]string{"a", "b*"}, "bcd", true},
	}
	for _, c := range cases {
		if got := TopicAllowed(c.claims, c.topic); got != c.want {
			t.Errorf("TopicAllowed(%q, %q) = %v", c.claims, c.topic, got)
		}
	}
	if topic, ok := IsTopicKey(TopicKey("news")); !ok || topic != "news" {
		t.Errorf("IsTopicKey(TopicKey(news)) = %q %v", topic, ok)
	}
	if _, ok := IsTopicKey("alice"); ok {
		t.Error("alice is not a topic key")
	}
	if ValidID(BroadcastKey) || ValidID(TopicKey("news")) {
		t.Error("topic keys must never be valid user IDs")
	}
}
