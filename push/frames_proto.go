package push

import (
	"encoding/json"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/clientpb"
)

// Frames of the protobuf encoding (clientpb/client.proto): each is a
// clientpb.ServerFrame. msg and pub frames, once per recipient or topic
// message on the hot path, are appended by hand (protowire), as the JSON
// ones are; the rest go through proto.Marshal. TestProtoFrames checks the
// hand-written ones against the generated code.

// Field numbers of ServerFrame's oneof and of Msg and Pub.
const (
	sfMsg = 2
	sfPub = 3

	msgID, msgSeq, msgTS, msgTopic, msgPayload = 1, 2, 3, 4, 5
	pubTopic, pubID, pubSeq, pubTS, pubPayload = 1, 2, 3, 4, 5
)

func protoMsg(d herald.Delivery) []byte {
	ts := uint64(d.Time.UnixMilli())
	n := sizeString(msgID, d.ID) + sizeVarint(msgSeq, d.Seq) + sizeVarint(msgTS, ts) +
		sizeString(msgTopic, d.Topic) + sizeString(msgPayload, string(d.Payload))
	b := make([]byte, 0, protowire.SizeTag(sfMsg)+protowire.SizeBytes(n))
	b = protowire.AppendTag(b, sfMsg, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	b = appendString(b, msgID, d.ID)
	b = appendVarint(b, msgSeq, d.Seq)
	b = appendVarint(b, msgTS, ts)
	b = appendString(b, msgTopic, d.Topic)
	return appendBytes(b, msgPayload, d.Payload)
}

func protoPub(topic string, d herald.Delivery) []byte {
	ts := uint64(d.Time.UnixMilli())
	n := sizeString(pubTopic, topic) + sizeString(pubID, d.ID) + sizeVarint(pubSeq, d.Seq) +
		sizeVarint(pubTS, ts) + sizeString(pubPayload, string(d.Payload))
	b := make([]byte, 0, protowire.SizeTag(sfPub)+protowire.SizeBytes(n))
	b = protowire.AppendTag(b, sfPub, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	b = appendString(b, pubTopic, topic)
	b = appendString(b, pubID, d.ID)
	b = appendVarint(b, pubSeq, d.Seq)
	b = appendVarint(b, pubTS, ts)
	return appendBytes(b, pubPayload, d.Payload)
}

// proto3 leaves out a field at its zero value: so do these.

func sizeString(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

func sizeVarint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

func appendBytes(b []byte, num protowire.Number, p []byte) []byte {
	if len(p) == 0 {
		return b
	}
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), p)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func marshal(f *clientpb.ServerFrame) []byte {
	b, _ := proto.Marshal(f) // every field is a plain value: it cannot fail
	return b
}

var protoPongFrame = marshal(&clientpb.ServerFrame{Frame: &clientpb.ServerFrame_Pong{Pong: &clientpb.Pong{}}})

func protoHello(h helloFrame) []byte {
	return marshal(&clientpb.ServerFrame{Frame: &clientpb.ServerFrame_Hello{Hello: &clientpb.Hello{
		User: h.User, Conn: h.Conn, Node: h.Node, Seq: h.Seq, Epoch: h.Epoch, Gap: h.Gap, Oldest: h.Oldest,
		Expires: h.Expires, BroadcastSeq: h.BroadcastSeq,
	}}})
}

func protoExpiry(refreshed bool, exp int64) []byte {
	e := &clientpb.Expiry{Expires: exp / int64(time.Millisecond)}
	if refreshed {
		return marshal(&clientpb.ServerFrame{Frame: &clientpb.ServerFrame_Refreshed{Refreshed: e}})
	}
	return marshal(&clientpb.ServerFrame{Frame: &clientpb.ServerFrame_Refresh{Refresh: e}})
}

func protoSubscribed(id uint64, topic string, seq herald.Seq, already, gap bool, oldest herald.Seq) []byte {
	return marshal(&clientpb.ServerFrame{Frame: &clientpb.ServerFrame_Subscribed{Subscribed: &clientpb.Subscribed{
		Id: id, Topic: topic, Seq: seq, Already: already, Gap: gap, Oldest: oldest,
	}}})
}

func protoSubRefused(id uint64, topic, code, msg string) []byte {
	return marshal(&clientpb.ServerFrame{Frame: &clientpb.ServerFrame_SubRefused{SubRefused: &clientpb.SubRefused{
		Id: id, Topic: topic, Code: code, Message: msg,
	}}})
}

func protoUnsubscribed(id uint64, topics []string) []byte {
	return marshal(&clientpb.ServerFrame{Frame: &clientpb.ServerFrame_Unsubscribed{Unsubscribed: &clientpb.Unsubscribed{
		Id: id, Topics: topics,
	}}})
}

// parseProtoFrame decodes a binary client frame into the frame the JSON
// one would be, and checks it the same way.
func parseProtoFrame(data []byte) (clientFrame, int, string) {
	var pf clientpb.ClientFrame
	if err := proto.Unmarshal(data, &pf); err != nil {
		return clientFrame{}, CloseInvalidPayload, "frame is not a herald.client.v1.ClientFrame"
	}
	var f clientFrame
	id := func(n uint64) json.RawMessage {
		if n == 0 {
			return nil
		}
		return json.RawMessage(strconv.FormatUint(n, 10))
	}
	switch x := pf.Frame.(type) {
	case *clientpb.ClientFrame_Ping:
		f.Type = "ping"
	case *clientpb.ClientFrame_Ack:
		seq := x.Ack.GetSeq()
		f.Type, f.Seq = "ack", &seq
	case *clientpb.ClientFrame_Refresh:
		f.Type, f.Token = "refresh", x.Refresh.GetToken()
	case *clientpb.ClientFrame_Sub:
		f.Type, f.ID, f.Topics = "sub", id(x.Sub.GetId()), x.Sub.GetTopics()
		if since := x.Sub.GetSince(); len(since) > 0 {
			f.Since = since
		}
	case *clientpb.ClientFrame_Unsub:
		f.Type, f.ID, f.Topics = "unsub", id(x.Unsub.GetId()), x.Unsub.GetTopics()
	case *clientpb.ClientFrame_Presence:
		f.Type, f.ID, f.Topic = "presence", id(x.Presence.GetId()), x.Presence.GetTopic()
	}
	code, reason := checkClientFrame(f)
	return f, code, reason
}

func protoPresence(id uint64, a presenceAnswer) []byte {
	return marshal(&clientpb.ServerFrame{Frame: &clientpb.ServerFrame_Presence{Presence: &clientpb.PresenceAnswer{
		Id: id, Topic: a.Topic, Users: a.Users, More: a.More, Code: a.Code, Message: a.Message,
	}}})
}
