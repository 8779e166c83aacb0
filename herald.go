// Package herald holds Herald's domain: the types that travel through the system
// (Message, Delivery, Node) and the interfaces the four services meet at
// (Authenticator, Store, Router, Dispatcher, Forwarder).
//
// The services live in their own packages (auth, collect, dispatch, push) and depend
// only on these interfaces; the implementations (redis, mongo, memory, pebble, rpc)
// are chosen in cmd/herald. That is what lets `herald all` run the same services on
// embedded defaults and a cluster run them on Redis and MongoDB.
//
// A message's hops, named the same way in the code and in docs/architecture.md:
//
//   - the lane (internal/lane): collect reads a plain send request without
//     net/http (anything else goes to net/http), checks the key, decodes;
//   - the committer (collect/committer.go): every request that queued while
//     the last write ran goes into the next one, one durable write (one
//     fsync; MongoDB write concern majority), and only then its 202;
//   - the dispatch queue (collect): committed batches wait here for dispatch.
//     When it is full a batch is dropped and counted, not waited for: it is
//     stored, and each push node's catch-up replays it to the connections
//     that missed it, so ingest never blocks on delivery;
//   - dispatch's per-node calls (dispatch, rpc): the recipients' nodes looked
//     up in the Router in one round trip, dead nodes skipped, one call per
//     push node with its share of the batch;
//   - the hub (push/hub.go): the node's user -> connections binding;
//   - the session's writer (push/session_writer.go): the frame, encoded once,
//     queued on each of the user's sessions and written by its writer
//     through the session's transport (WebSocket: push/transport_ws.go),
//     after the replay from the Store that a new session starts with.
//
// A connection's own hops come before: the token (Authenticator), the hub,
// and the route (Router: user -> node, kept alive by the node's heartbeat).
package herald

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Seq is a per-user sequence number. Every message a user receives gets the next
// seq of that user; seqs are strictly increasing per user and start at 1.
type Seq = uint64

// MaxIDLen is the longest user or device ID accepted, in bytes.
const MaxIDLen = 128

// ValidID reports whether s is a valid user or device ID: 1 to 128 bytes of
// ASCII letters, digits and the characters "_ - . @ :". The set is small on
// purpose: IDs end up in Redis keys, MongoDB keys, URLs and log lines, and none
// of these characters needs escaping in any of them.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_' || c == '-' || c == '.' || c == '@' || c == ':':
		default:
			return false
		}
	}
	return true
}

// AppendJSONString appends s as a JSON string, as json.Marshal writes it.
// An ID (ValidID) needs no escaping and is copied as it is, which is what
// the frames, stored records and answers sent for every message mostly
// hold; anything else goes through json.Marshal.
func AppendJSONString(b []byte, s string) []byte {
	if ValidID(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// Message is one message accepted by collect, addressed to one or more users.
// The payload is stored once; each recipient gets its own seq.
type Message struct {
	ID   string    // unique, assigned by collect
	Time time.Time // acceptance time (millisecond precision)
	// Topic is the sender's optional free-form label on a message to users;
	// on a topic message (Users is [TopicKey(topic)]) it is the topic.
	Topic   string
	Payload json.RawMessage // any JSON value, kept byte for byte as sent
	Users   []string        // recipients, no duplicates
	Seqs    []Seq           // Seqs[i] is Users[i]'s seq; assigned by Store.Append
	Dup     bool            // set by Store.Append: a message with this ID was stored before
	// NewID says ID was minted at random for this message (no
	// Idempotency-Key), so it cannot be stored already: a store may skip its
	// "stored before?" read. False (the safe default) means check.
	NewID bool
	// Kind is empty for a message. KindDisconnect is an order, never
	// stored, that travels the same path: close the Users' connections on
	// every node (Payload: a DisconnectOrder).
	Kind string
	// Notification and Push say what to push to recipients' devices that
	// do not get the message (collect queues them; stores keep neither
	// with the message).
	Notification *Notification
	Push         string
	// Expires is when the message stops being delivered: after it, it is
	// neither replayed nor in the history (zero: it lives for the
	// retention). CollapseKey makes it supersede, in replays, the older
	// messages of its stream with the same key.
	Expires     time.Time
	CollapseKey string
	// DeliverAt, when set, is when a scheduled message is to be
	// delivered: it waits in the store's Schedule until then, and gets
	// its seqs (and its Time) when it goes.
	DeliverAt time.Time
	// Recalled is when the message was recalled (zero: it was not): it is
	// then passed over as an expired one is.
	Recalled time.Time
}

// KindDisconnect orders push nodes to close a user's connections.
const KindDisconnect = "disconnect"

// KindRecall tells push nodes that the message (its ID, Users and Seqs)
// was recalled, for the connections that asked to hear of it.
const KindRecall = "recall"

// DisconnectOrder is the Payload of a KindDisconnect message: the close
// reason, and the one device to close (empty: all the user's).
type DisconnectOrder struct {
	Reason string `json:"reason"`
	Device string `json:"device,omitempty"`
}

// ParseDisconnectOrder reads an order's payload: a DisconnectOrder, or the
// bare reason string that nodes sent before orders named a device.
func ParseDisconnectOrder(payload []byte) DisconnectOrder {
	var o DisconnectOrder
	if json.Unmarshal(payload, &o) != nil {
		o = DisconnectOrder{}
		json.Unmarshal(payload, &o.Reason)
	}
	return o
}

// Delivery is a message as one user sees it: the message with that user's seq.
type Delivery struct {
	ID          string
	User        string
	Seq         Seq
	Time        time.Time
	Topic       string
	Payload     json.RawMessage
	Expires     time.Time // zero: none
	CollapseKey string
	Recalled    bool
}

// For returns the Delivery of m to the i-th recipient.
func (m *Message) For(i int) Delivery {
	return Delivery{ID: m.ID, User: m.Users[i], Seq: m.Seqs[i], Time: m.Time, Topic: m.Topic, Payload: m.Payload,
		Expires: m.Expires, CollapseKey: m.CollapseKey, Recalled: !m.Recalled.IsZero()}
}

// Expired reports whether the delivery's message had expired at now, or
// was recalled: either way it is no longer anyone's.
func (d *Delivery) Expired(now time.Time) bool {
	return d.Recalled || !d.Expires.IsZero() && !now.Before(d.Expires)
}

// Ack is a device's cumulative acknowledgement: it has processed every message
// up to and including Seq.
type Ack struct {
	User   string
	Device string
	Seq    Seq
}

// Store keeps messages durably. Implementations: pebble (embedded) and mongo.
type Store interface {
	// Append assigns each message's Seqs and stores the messages durably: when it
	// returns nil, the messages survive a crash of the process and of the machine
	// (fsync, or write concern majority with journaling).
	//
	// Append is idempotent by message ID: a message whose ID is already stored
	// (a retry with the same Idempotency-Key, even after a crash half-way through
	// the first write) is not stored again; it gets Dup set and the Seqs it was
	// first given, and recipients it had not reached yet are added.
	Append(ctx context.Context, msgs []*Message) error
	// Messages returns up to limit of user's messages with seq > after, in seq order.
	Messages(ctx context.Context, user string, after Seq, limit int) ([]Delivery, error)
	// LastSeq returns the position of the user's newest message: its seq (0
	// if none) and the stream's epoch.
	LastSeq(ctx context.Context, user string) (StreamPos, error)
	// LastSeqs returns, in one round trip, an upper bound of each user's newest
	// seq: at least the newest stored, possibly one still being written. Users
	// without messages are absent. Push nodes use it to catch up connections
	// that missed a live message.
	LastSeqs(ctx context.Context, users []string) (map[string]Seq, error)
	// OldestSeq returns the seq of the user's oldest message still kept (0 if none):
	// older ones were removed by retention.
	OldestSeq(ctx context.Context, user string) (Seq, error)
	// Sweep removes the messages accepted before cutoff (retention) and returns
	// how many it removed.
	Sweep(ctx context.Context, cutoff time.Time) (int, error)
	// SaveAcks records acknowledgements; a stored ack never moves backwards.
	SaveAcks(ctx context.Context, acks []Ack) error
	// AckedSeq returns the last seq the device acknowledged, 0 if none.
	AckedSeq(ctx context.Context, user, device string) (Seq, error)
	// Ping checks that the store can be reached.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close(ctx context.Context) error
}

// Identity is who a token belongs to.
type Identity struct {
	User      string
	ExpiresAt time.Time
	IssuedAt  time.Time // zero when the token does not say
	// Topics the token allows its connection to subscribe to: names, or
	// prefixes ending in "*" (see TopicAllowed). From the token's "topics"
	// claim.
	Topics []string
}

// Authenticator turns a token into an identity: the first thing a push node
// asks of a new connection.
type Authenticator interface {
	// Verify returns ErrUnauthorized (wrapped) for a bad, expired or missing token.
	Verify(ctx context.Context, token string) (Identity, error)
}

// Dispatcher takes stored messages off the dispatch queue and routes them to
// push nodes (dispatch's per-node calls).
type Dispatcher interface {
	Dispatch(ctx context.Context, msgs []*Message) error
}

// Deliverer hands messages to the local WebSocket connections of their
// recipients, through the hub to each connection's writer. Messages may name
// users that have no connection here.
type Deliverer interface {
	Deliver(ctx context.Context, msgs []*Message) error
}

// Forwarder sends messages to one push node.
type Forwarder interface {
	Forward(ctx context.Context, node Node, msgs []*Message) error
}

// String is for logs.
func (d Delivery) String() string { return fmt.Sprintf("%s#%d(%s)", d.User, d.Seq, d.ID) }
