package client

import (
	"encoding/json"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/heraldpush/herald/clientpb"
)

// Encoding is how frames travel: JSON text (the default) or Protocol
// Buffers (the subprotocol herald.v1.protobuf, docs/protocol.md "Protobuf"),
// which makes every frame but its payload smaller.
type Encoding string

const (
	JSON     Encoding = "json"
	Protobuf Encoding = "protobuf"
)

// protobufProtocol is the subprotocol asked for with Protobuf.
const protobufProtocol = "herald.v1.protobuf"

// inFrame is a server frame, whatever its encoding.
type inFrame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"` // msg and pub; the SDK's sub frames carry no id to echo
	Seq     uint64          `json:"seq"`
	TS      int64           `json:"ts"`
	Topic   string          `json:"topic"`
	Payload json.RawMessage `json:"payload"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Already bool            `json:"already"`
	Users   []string        `json:"users"`  // presence
	More    bool            `json:"more"`   // presence
	User    string          `json:"user"`   // join, leave
	Device  string          `json:"device"` // join, leave
	Joins   []who           `json:"joins"`  // presence_changes
	Leaves  []who           `json:"leaves"` // presence_changes
	hello   Hello
}

// outFrame is a client frame, whatever its encoding.
type outFrame struct {
	Type   string            `json:"type"`
	Seq    *uint64           `json:"seq,omitempty"`
	Token  string            `json:"token,omitempty"`
	Topics []string          `json:"topics,omitempty"`
	Since  map[string]uint64 `json:"since,omitempty"`
	ID     string            `json:"id,omitempty"`    // presence
	Topic  string            `json:"topic,omitempty"` // presence
}

// codec reads and writes the frames of one connection: protobuf when the
// server agreed to the subprotocol, else JSON.
type codec bool

const (
	jsonCodec  codec = false
	protoCodec codec = true
)

func codecOf(ws *websocket.Conn) codec {
	return codec(ws.Subprotocol() == protobufProtocol)
}

// decode reads a frame; false for one this version does not understand.
func (k codec) decode(op int, data []byte) (inFrame, bool) {
	var f inFrame
	if k == jsonCodec {
		if op != websocket.TextMessage || json.Unmarshal(data, &f) != nil {
			return f, false
		}
		if f.Type == "hello" {
			json.Unmarshal(data, &f.hello)
		}
		return f, true
	}
	var pf clientpb.ServerFrame
	if op != websocket.BinaryMessage || proto.Unmarshal(data, &pf) != nil {
		return f, false
	}
	switch x := pf.Frame.(type) {
	case *clientpb.ServerFrame_Hello:
		h := x.Hello
		f.Type, f.hello = "hello", Hello{User: h.GetUser(), Conn: h.GetConn(), Node: h.GetNode(), Seq: h.GetSeq(), Epoch: h.GetEpoch(),
			Gap: h.GetGap(), Oldest: h.GetOldest(), BroadcastSeq: h.GetBroadcastSeq()}
	case *clientpb.ServerFrame_Msg:
		m := x.Msg
		f = inFrame{Type: "msg", ID: m.GetId(), Seq: m.GetSeq(), TS: m.GetTs(), Topic: m.GetTopic(), Payload: m.GetPayload()}
	case *clientpb.ServerFrame_Pub:
		p := x.Pub
		f = inFrame{Type: "pub", ID: p.GetId(), Seq: p.GetSeq(), TS: p.GetTs(), Topic: p.GetTopic(), Payload: p.GetPayload()}
	case *clientpb.ServerFrame_Subscribed:
		s := x.Subscribed
		f = inFrame{Type: "subscribed", Topic: s.GetTopic(), Seq: s.GetSeq(), Already: s.GetAlready()}
	case *clientpb.ServerFrame_SubRefused:
		r := x.SubRefused
		f = inFrame{Type: "sub_refused", Topic: r.GetTopic(), Code: r.GetCode(), Message: r.GetMessage()}
	case *clientpb.ServerFrame_Refresh:
		f.Type = "refresh"
	case *clientpb.ServerFrame_Pong:
		f.Type = "pong"
	default:
		return decodePresence(&pf)
	}
	return f, true
}

// encode writes a frame: its WebSocket message type and bytes.
func (k codec) encode(f outFrame) (int, []byte) {
	if k == jsonCodec {
		b, _ := json.Marshal(f)
		return websocket.TextMessage, b
	}
	var pf clientpb.ClientFrame
	switch f.Type {
	case "ack":
		pf.Frame = &clientpb.ClientFrame_Ack{Ack: &clientpb.Ack{Seq: *f.Seq}}
	case "ping":
		pf.Frame = &clientpb.ClientFrame_Ping{Ping: &clientpb.Ping{}}
	case "refresh":
		pf.Frame = &clientpb.ClientFrame_Refresh{Refresh: &clientpb.Refresh{Token: f.Token}}
	case "sub":
		pf.Frame = &clientpb.ClientFrame_Sub{Sub: &clientpb.Sub{Topics: f.Topics, Since: f.Since}}
	case "unsub":
		pf.Frame = &clientpb.ClientFrame_Unsub{Unsub: &clientpb.Unsub{Topics: f.Topics}}
	case "presence":
		pf.Frame = presenceQuery(f).Frame
	}
	b, _ := proto.Marshal(&pf)
	return websocket.BinaryMessage, b
}

// message and pub are a decoded msg and pub frame as the caller sees them.
func (f inFrame) message() Message {
	return Message{ID: f.ID, Seq: f.Seq, Time: time.UnixMilli(f.TS), Topic: f.Topic, Payload: f.Payload}
}

func (f inFrame) pub() Pub {
	return Pub{Topic: f.Topic, ID: f.ID, Seq: f.Seq, Time: time.UnixMilli(f.TS), Payload: f.Payload}
}
