package push

import (
	"encoding/json"
	"strconv"
	"sync"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/ws"
)

// ProtobufProtocol is the WebSocket subprotocol (Sec-WebSocket-Protocol)
// whose frames are binary Protocol Buffers (clientpb) instead of JSON text.
const ProtobufProtocol = "herald.v1.protobuf"

// encoding is how a session's frames are written and its client's frames
// read: JSON text (the default, and the only one on an event stream), or
// protobuf binary (frames_proto.go) on a WebSocket that chose it. Frames
// shared by many sessions (a message to a user's devices, a topic's, a
// broadcast) are encoded once per encoding in use (frameSet).
type encoding uint8

const (
	encJSON encoding = iota
	encProto
	encodings // how many there are
)

func (e encoding) msg(d herald.Delivery) []byte {
	if e == encProto {
		return protoMsg(d)
	}
	return encodeMsg(d)
}

func (e encoding) pub(topic string, d herald.Delivery) []byte {
	if e == encProto {
		return protoPub(topic, d)
	}
	return encodePub(topic, d)
}

func (e encoding) hello(h helloFrame) []byte {
	if e == encProto {
		return protoHello(h)
	}
	b, _ := json.Marshal(h)
	return b
}

func (e encoding) pong() []byte {
	if e == encProto {
		return protoPongFrame
	}
	return pongFrame
}

// expiry is a refresh (refreshed false) or refreshed frame with a token's
// expiry, exp in Unix nanoseconds.
func (e encoding) expiry(refreshed bool, exp int64) []byte {
	if e == encProto {
		return protoExpiry(refreshed, exp)
	}
	typ := "refresh"
	if refreshed {
		typ = "refreshed"
	}
	return expiryFrame(typ, exp)
}

func (e encoding) subscribed(id json.RawMessage, topic string, seq herald.Seq, already, gap bool, oldest herald.Seq) []byte {
	if e == encProto {
		return protoSubscribed(reqID(id), topic, seq, already, gap, oldest)
	}
	return subscribedFrame(id, topic, seq, already, gap, oldest)
}

func (e encoding) subRefused(id json.RawMessage, topic, code, msg string) []byte {
	if e == encProto {
		return protoSubRefused(reqID(id), topic, code, msg)
	}
	return subRefusedFrame(id, topic, code, msg)
}

func (e encoding) unsubscribed(id json.RawMessage, topics []string) []byte {
	if e == encProto {
		return protoUnsubscribed(reqID(id), topics)
	}
	return unsubscribedFrame(id, topics)
}

func (e encoding) presence(id json.RawMessage, a presenceAnswer) []byte {
	if e == encProto {
		return protoPresence(reqID(id), a)
	}
	a.Type, a.ID = "presence", id
	b, _ := json.Marshal(a)
	return b
}

// parse decodes and checks one client frame; a non-zero code closes the
// connection with its reason.
func (e encoding) parse(data []byte) (clientFrame, int, string) {
	if e == encProto {
		return parseProtoFrame(data)
	}
	return parseClientFrame(data)
}

// reqID is a sub or unsub frame's id as a protobuf frame carries it: the
// number a protobuf client sent (its id became JSON only to be echoed).
func reqID(id json.RawMessage) uint64 {
	n, _ := strconv.ParseUint(string(id), 10, 64)
	return n
}

// frameSet encodes one shared frame at most once per encoding, and
// compresses it at most once per encoding (sharedFrame) when it is at
// least zmin bytes: a shorter one goes uncompressed, and needs none.
type frameSet struct {
	frames [encodings][]byte
	zs     [encodings]*sharedFrame
	encode func(encoding) []byte
	zmin   int
}

func (f *frameSet) get(e encoding) ([]byte, *sharedFrame) {
	if f.frames[e] == nil {
		f.frames[e] = f.encode(e)
		if len(f.frames[e]) >= f.zmin {
			f.zs[e] = new(sharedFrame)
		}
	}
	return f.frames[e], f.zs[e]
}

// sharedFrame is the compressed WebSocket frame of a frame many sessions
// send (a user's devices, a topic's subscribers, a broadcast's every
// connection): the first writer that needs it compresses it, the others
// copy it. permessage-deflate with no context takeover makes a message's
// compressed bytes the same on every connection.
type sharedFrame struct {
	once sync.Once
	z    []byte
}

func (s *sharedFrame) deflated(op ws.Opcode, frame []byte) []byte {
	s.once.Do(func() { s.z = ws.AppendDeflated(nil, op, frame) })
	return s.z
}
