package bench

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/heraldpush/herald/clientpb"
)

// The generator's protowire reading and writing agrees with the generated code.
func TestProtobufFrames(t *testing.T) {
	payload := Config{Payload: 300}.appendPayload(nil, time.Unix(0, 42))
	for _, f := range []*clientpb.ServerFrame{
		{Frame: &clientpb.ServerFrame_Msg{Msg: &clientpb.Msg{Id: "x", Seq: 7, Ts: 1, Payload: payload}}},
		{Frame: &clientpb.ServerFrame_Pub{Pub: &clientpb.Pub{Topic: "news", Id: "x", Seq: 7, Ts: 1, Payload: payload}}},
	} {
		b, _ := proto.Marshal(f)
		if seq, sent, ok := parseProtoMsg(b); !ok || seq != 7 || sent != 42 {
			t.Fatalf("%v: %d %d %v", f, seq, sent, ok)
		}
	}
	b, _ := proto.Marshal(&clientpb.ServerFrame{Frame: &clientpb.ServerFrame_Pong{Pong: &clientpb.Pong{}}})
	if _, _, ok := parseProtoMsg(b); ok {
		t.Fatal("a pong read as a message")
	}
	var cf clientpb.ClientFrame
	if proto.Unmarshal(protoAck(nil, 9), &cf) != nil || cf.GetAck().GetSeq() != 9 {
		t.Fatalf("ack: %v", &cf)
	}
	if proto.Unmarshal(protoSub("news"), &cf) != nil || len(cf.GetSub().GetTopics()) != 1 || cf.GetSub().GetTopics()[0] != "news" {
		t.Fatalf("sub: %v", &cf)
	}
	for num, want := range map[int]bool{7: false, 8: true} {
		b := []byte{byte(num<<3 | 2), 0}
		if refused, done := subAnswer(b, true); !done || refused != want {
			t.Fatalf("sub answer %d: %v %v", num, refused, done)
		}
	}
}
