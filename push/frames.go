package push

import (
	"strconv"

	"github.com/heraldpush/herald"
)

// Frames of the WebSocket protocol (docs/protocol.md). All are JSON text.

type helloFrame struct {
	Type string     `json:"type"`
	User string     `json:"user"`
	Conn string     `json:"conn"`
	Node string     `json:"node"`
	Seq  herald.Seq `json:"seq"`
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
	clientSub             // sub, unsub
}

var pongFrame = []byte(`{"type":"pong"}`)

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
