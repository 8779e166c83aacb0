package herald

import "strings"

// Topics ride on the per-user machinery. A topic's messages are stored once,
// under the pseudo-user TopicKey(topic) ("#news"), with that key's seqs as the
// topic's seqs; a push node with subscribers of a topic registers a route for
// the key, so dispatch finds the nodes that need a topic message with the same
// lookup it uses for users. '#' is not allowed in user IDs, so a key never
// names a user. Broadcast is the topic every connection is on: BroadcastKey.

// TopicPrefix starts the pseudo-user key of a topic.
const TopicPrefix = "#"

// Broadcast is the name of the broadcast stream in frames and keys.
const Broadcast = "*"

// BroadcastKey is the pseudo-user that broadcast messages are stored under.
const BroadcastKey = TopicPrefix + Broadcast

// TopicKey returns the pseudo-user key a topic's messages are stored and
// routed under.
func TopicKey(topic string) string { return TopicPrefix + topic }

// IsTopicKey reports whether a recipient is a topic (or broadcast) key, and
// returns the topic's name.
func IsTopicKey(user string) (topic string, ok bool) {
	if strings.HasPrefix(user, TopicPrefix) {
		return user[len(TopicPrefix):], true
	}
	return "", false
}

// ValidTopic reports whether s is a valid topic name: the characters of
// ValidID (":" and "." make hierarchies: "team:42", "news.sport").
func ValidTopic(s string) bool { return ValidID(s) }

// TopicAllowed reports whether a token's topics claim allows topic. Each
// entry is a topic name, or a prefix ending in "*" ("team:42:*" allows every
// topic that starts with "team:42:"; "*" allows every topic).
func TopicAllowed(claims []string, topic string) bool {
	for _, c := range claims {
		if p, ok := strings.CutSuffix(c, "*"); ok {
			if strings.HasPrefix(topic, p) {
				return true
			}
		} else if c == topic {
			return true
		}
	}
	return false
}
