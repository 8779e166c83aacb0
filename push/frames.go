package push

import (
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/utf8x"
)

// Frames of the WebSocket protocol (docs/protocol.md). All are JSON text.

type helloFrame struct {
	Type string     `json:"type"`
	User string     `json:"user"`
	Conn string     `json:"conn"`
	Node string     `json:"node"`
	Seq  herald.Seq `json:"seq"`
	// Epoch names the stream Seq counts in (herald.StreamPos): when it is
	// not the one a client knew, the store was wiped and the client's last
	// seq means nothing now.
	Epoch string `json:"epoch,omitempty"`
	// Gap says the resume asked for messages already removed by retention;
	// Oldest is the oldest seq still kept. Both are absent otherwise.
	Gap    bool       `json:"gap,omitempty"`
	Oldest herald.Seq `json:"oldest,omitempty"`
	// Expires is when the connection's token expires (Unix ms); before
	// then the server sends a refresh frame.
	Expires int64 `json:"expires,omitempty"`
	// BroadcastSeq is the broadcast stream's newest seq.
	BroadcastSeq herald.Seq `json:"broadcast_seq"`
}

// clientFrame is any frame a client sends; Type selects the meaning.
type clientFrame struct {
	Type      string      `json:"type"`
	Seq       *herald.Seq `json:"seq,omitempty"`
	Token     string      `json:"token,omitempty"` // refresh
	Topic     string      `json:"topic,omitempty"` // presence
	clientSub             // sub, unsub; presence and push_(un)register use its ID
	// push_register: the device's registration, as PUT
	// /v1/users/{user}/devices/{device}/push takes it.
	Registration *herald.PushRegistrationRequest `json:"registration,omitempty"`
}

var pongFrame = []byte(`{"type":"pong"}`)

// closeFrame tells a client of a transport without close frames (an event
// stream) the code and reason a WebSocket client gets in its close frame.
func closeFrame(code int, reason string) []byte {
	b := append([]byte(`{"type":"close","code":`), strconv.Itoa(code)...)
	b = append(b, `,"reason":`...)
	b = herald.AppendJSONString(b, reason)
	return append(b, '}')
}

// encodeMsg builds a msg frame by hand: it runs once per recipient per message
// on the hot path, and the payload is already JSON, so it is copied in as is.
func encodeMsg(d herald.Delivery) []byte {
	b := make([]byte, 0, 96+len(d.ID)+len(d.Topic)+len(d.Payload))
	b = append(b, `{"type":"msg","id":`...)
	b = herald.AppendJSONString(b, d.ID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, d.Seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, d.Time.UnixMilli(), 10)
	if d.Topic != "" {
		b = append(b, `,"topic":`...)
		b = herald.AppendJSONString(b, d.Topic)
	}
	b = append(b, `,"payload":`...)
	b = append(b, d.Payload...)
	return append(b, '}')
}

// repairedPayloads counts payloads sent with invalid UTF-8 replaced
// (herald_payloads_repaired_total): once per live message, whatever its
// recipients, and once per replayed delivery.
var repairedPayloads atomic.Uint64

// textPayload is a stored payload as it may go out in a text frame. Collect
// refuses a payload that is not UTF-8, but one stored by an older version,
// or restored from a backup, may not be: a browser drops a connection over a
// text frame that is not UTF-8 (RFC 6455 section 8.1), and the device would
// be sent the same message again on every resume. So each invalid byte
// becomes U+FFFD, as encoding/json would make it. Frames are encoded from
// payloads that went through it: a live message's once in Deliver, before
// it fans out; a replayed one's in writeAll.
func textPayload(p []byte) []byte {
	if utf8.Valid(p) {
		return p
	}
	repairedPayloads.Add(1)
	return utf8x.Repair(p)
}
