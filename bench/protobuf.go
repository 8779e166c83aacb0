package bench

import (
	"bytes"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protowire"
)

// Herald's protobuf frames (clientpb/client.proto, subprotocol
// herald.v1.protobuf), read and written with protowire: the load generator
// picks out the few fields it needs, as it does from JSON.

const protobufProtocol = "herald.v1.protobuf"

// ServerFrame's oneof fields the generator looks at.
const (
	pbMsg        = 2
	pbPub        = 3
	pbSubscribed = 7
	pbSubRefused = 8
)

// protoFrame is the number and body of a ServerFrame's one field.
func protoFrame(b []byte) (protowire.Number, []byte, bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || typ != protowire.BytesType {
		return 0, nil, false
	}
	body, m := protowire.ConsumeBytes(b[n:])
	return num, body, m >= 0
}

// parseProtoMsg pulls seq and the payload's send time out of a Msg or Pub
// frame, as parseMsg does out of JSON.
func parseProtoMsg(b []byte) (seq uint64, sent int64, ok bool) {
	num, body, ok := protoFrame(b)
	if !ok || (num != pbMsg && num != pbPub) {
		return 0, 0, false
	}
	seqField, payloadField := protowire.Number(2), protowire.Number(5) // Msg
	if num == pbPub {
		seqField = 3
	}
	var payload []byte
	for len(body) > 0 {
		f, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			return 0, 0, false
		}
		body = body[n:]
		m := protowire.ConsumeFieldValue(f, typ, body)
		if m < 0 {
			return 0, 0, false
		}
		switch {
		case f == seqField && typ == protowire.VarintType:
			seq, _ = protowire.ConsumeVarint(body)
		case f == payloadField && typ == protowire.BytesType:
			payload, _ = protowire.ConsumeBytes(body)
		}
		body = body[m:]
	}
	t, ok := uintAfter(payload, []byte(`"t":`))
	return seq, int64(t), ok && seq > 0
}

// protoAck is a ClientFrame holding an Ack of seq.
func protoAck(b []byte, seq uint64) []byte {
	inner := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), seq)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, inner)
}

// protoSub is a ClientFrame holding a Sub of one topic.
func protoSub(topic string) []byte {
	inner := protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), topic)
	b := protowire.AppendTag(nil, 4, protowire.BytesType)
	return protowire.AppendBytes(b, inner)
}

// subAnswer reads a subscription's answer out of a frame: done is false
// for any other frame.
func subAnswer(b []byte, protobuf bool) (refused, done bool) {
	if protobuf {
		num, _, ok := protoFrame(b)
		return num == pbSubRefused, ok && (num == pbSubscribed || num == pbSubRefused)
	}
	switch {
	case bytes.HasPrefix(b, []byte(`{"type":"subscribed"`)):
		return false, true
	case bytes.HasPrefix(b, []byte(`{"type":"sub_refused"`)):
		return true, true
	}
	return false, false
}

// dataType is the WebSocket message type of the client's frames.
func dataType(protobuf bool) int {
	if protobuf {
		return websocket.BinaryMessage
	}
	return websocket.TextMessage
}
