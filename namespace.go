package herald

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Namespace holds the options of the topics named "<name>:<rest>" for a
// configured name (--namespaces). A topic whose part before its first ":"
// names no namespace (or that has no ":") keeps the defaults: no presence,
// the token's topics claim then the subscribe proxy decide who subscribes.
type Namespace struct {
	// Presence keeps who is subscribed, across the cluster
	// (GET /v1/topics/{topic}/presence and .../presence/stats).
	Presence bool `json:"presence"`
	// ClientPresence lets a subscriber ask for it with a presence frame
	// (needs Presence).
	ClientPresence bool `json:"client_presence"`
	// JoinLeave sends subscribers a join frame when a user's first
	// subscription begins anywhere in the cluster and a leave frame when
	// their last one ends (needs Presence).
	JoinLeave bool `json:"join_leave"`
	// MaxSubscribers bounds the topic's subscriptions on one push node;
	// past it a sub is refused (too_many). 0: no bound.
	MaxSubscribers int `json:"max_subscribers"`
	// Subscribe says who may subscribe: "claim" (the default: the token's
	// topics claim, then the subscribe proxy), "proxy" (the subscribe
	// proxy is asked whatever the claim says) or "any" (every connected
	// user: public topics).
	Subscribe string `json:"subscribe"`
	// LastValue keeps each topic's newest message at hand: GET
	// /v1/topics/{topic}/last, and a sub that asks for it ("last": true)
	// gets it before the live ones.
	LastValue bool `json:"last_value"`
}

// Namespaces are the configured namespaces by name.
type Namespaces map[string]Namespace

// Who may subscribe (Namespace.Subscribe).
const (
	SubscribeClaim = "claim"
	SubscribeProxy = "proxy"
	SubscribeAny   = "any"
)

// Of returns the namespace of topic and whether it has one.
func (ns Namespaces) Of(topic string) (Namespace, bool) {
	name, _, ok := strings.Cut(topic, ":")
	if !ok {
		return Namespace{}, false
	}
	n, ok := ns[name]
	return n, ok
}

// ParseNamespaces reads --namespaces: a JSON object of namespace names to
// their options (a YAML mapping in a --config file becomes the same). An
// unknown option, a bad name or an option that needs another is an error.
func ParseNamespaces(s string) (Namespaces, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("namespaces: a JSON object of name: options: %w", err)
	}
	ns := Namespaces{}
	for name, opts := range raw {
		if !ValidID(name) || strings.Contains(name, ":") {
			return nil, fmt.Errorf("namespace %q: a name is 1-128 bytes of A-Z a-z 0-9 _ - . @ (no \":\")", name)
		}
		var n Namespace
		dec := json.NewDecoder(strings.NewReader(string(opts)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&n); err != nil {
			return nil, fmt.Errorf("namespace %q: %w", name, err)
		}
		switch {
		case n.Subscribe == "":
			n.Subscribe = SubscribeClaim
		case n.Subscribe != SubscribeClaim && n.Subscribe != SubscribeProxy && n.Subscribe != SubscribeAny:
			return nil, fmt.Errorf("namespace %q: subscribe is claim, proxy or any, not %q", name, n.Subscribe)
		}
		if (n.ClientPresence || n.JoinLeave) && !n.Presence {
			return nil, fmt.Errorf("namespace %q: client_presence and join_leave need presence: true", name)
		}
		if n.MaxSubscribers < 0 {
			return nil, fmt.Errorf("namespace %q: max_subscribers is 0 (no bound) or more", name)
		}
		ns[name] = n
	}
	return ns, nil
}
