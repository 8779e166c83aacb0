package push

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/clientpb"
)

// The hand-appended msg and pub frames decode, with the generated code, to
// what went in, and so do the marshalled ones.
func TestProtoFrames(t *testing.T) {
	d := herald.Delivery{ID: "01a2", Seq: 300, Time: time.UnixMilli(1795652547147), Topic: "label", Payload: []byte(`{"text":"hé"}`)}
	var f clientpb.ServerFrame
	if err := proto.Unmarshal(protoMsg(d), &f); err != nil {
		t.Fatal(err)
	}
	m := f.GetMsg()
	if m.GetId() != "01a2" || m.GetSeq() != 300 || m.GetTs() != 1795652547147 || m.GetTopic() != "label" || string(m.GetPayload()) != `{"text":"hé"}` {
		t.Fatalf("msg: %v", m)
	}
	d.Topic, d.Seq = "", 0 // zero fields are left out, and still decode
	if err := proto.Unmarshal(protoMsg(d), &f); err != nil || f.GetMsg().GetTopic() != "" || f.GetMsg().GetSeq() != 0 {
		t.Fatalf("msg with zero fields: %v %v", f.GetMsg(), err)
	}
	if !proto.Equal(mustUnmarshal(t, protoMsg(d)), &clientpb.ServerFrame{Frame: &clientpb.ServerFrame_Msg{Msg: &clientpb.Msg{Id: d.ID, Ts: 1795652547147, Payload: d.Payload}}}) {
		t.Fatal("hand-appended msg differs from the generated one")
	}
	if err := proto.Unmarshal(protoPub("news", d), &f); err != nil {
		t.Fatal(err)
	}
	if p := f.GetPub(); p.GetTopic() != "news" || p.GetId() != "01a2" || string(p.GetPayload()) != `{"text":"hé"}` {
		t.Fatalf("pub: %v", p)
	}
	for name, c := range map[string]struct {
		frame []byte
		check func(*clientpb.ServerFrame) bool
	}{
		"pong":      {encProto.pong(), func(f *clientpb.ServerFrame) bool { return f.GetPong() != nil }},
		"refresh":   {encProto.expiry(false, 5e9), func(f *clientpb.ServerFrame) bool { return f.GetRefresh().GetExpires() == 5000 }},
		"refreshed": {encProto.expiry(true, 6e9), func(f *clientpb.ServerFrame) bool { return f.GetRefreshed().GetExpires() == 6000 }},
		"subscribed": {encProto.subscribed([]byte("7"), "news", 4, true, false, 0), func(f *clientpb.ServerFrame) bool {
			return f.GetSubscribed().GetId() == 7 && f.GetSubscribed().GetSeq() == 4 && f.GetSubscribed().GetAlready()
		}},
		"sub_refused": {encProto.subRefused(nil, "x", "forbidden", "no"), func(f *clientpb.ServerFrame) bool { return f.GetSubRefused().GetCode() == "forbidden" }},
		"unsubscribed": {encProto.unsubscribed([]byte("2"), []string{"a", "b"}), func(f *clientpb.ServerFrame) bool {
			return len(f.GetUnsubscribed().GetTopics()) == 2 && f.GetUnsubscribed().GetId() == 2
		}},
	} {
		if !c.check(mustUnmarshal(t, c.frame)) {
			t.Errorf("%s: %v", name, mustUnmarshal(t, c.frame))
		}
	}
}

func mustUnmarshal(t *testing.T, b []byte) *clientpb.ServerFrame {
	t.Helper()
	var f clientpb.ServerFrame
	if err := proto.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func TestParseProtoFrame(t *testing.T) {
	enc := func(f *clientpb.ClientFrame) []byte { b, _ := proto.Marshal(f); return b }
	f, code, _ := parseProtoFrame(enc(&clientpb.ClientFrame{Frame: &clientpb.ClientFrame_Sub{Sub: &clientpb.Sub{Id: 3, Topics: []string{"a"}, Since: map[string]uint64{"a": 9}}}}))
	if code != 0 || f.Type != "sub" || string(f.ID) != "3" || f.Since["a"] != 9 {
		t.Fatalf("sub: %+v %d", f, code)
	}
	f, code, _ = parseProtoFrame(enc(&clientpb.ClientFrame{Frame: &clientpb.ClientFrame_Ack{Ack: &clientpb.Ack{Seq: 0}}}))
	if code != 0 || f.Type != "ack" || f.Seq == nil || *f.Seq != 0 {
		t.Fatalf("ack 0: %+v %d", f, code)
	}
	for name, c := range map[string]struct {
		data []byte
		code int
	}{
		"not protobuf":        {[]byte{0xff, 0xff, 0xff}, CloseInvalidPayload},
		"no frame in it":      {nil, ClosePolicy},
		"sub without topics":  {enc(&clientpb.ClientFrame{Frame: &clientpb.ClientFrame_Sub{Sub: &clientpb.Sub{Id: 1}}}), ClosePolicy},
		"refresh, no token":   {enc(&clientpb.ClientFrame{Frame: &clientpb.ClientFrame_Refresh{Refresh: &clientpb.Refresh{}}}), ClosePolicy},
		"a token not UTF-8":   {[]byte{0x1a, 0x03, 0x0a, 0x01, 0xff}, CloseInvalidPayload},
		"unknown field alone": {[]byte{0x50, 0x01}, ClosePolicy},
	} {
		if _, code, reason := parseProtoFrame(c.data); code != c.code {
			t.Errorf("%s: %d %q, want %d", name, code, reason, c.code)
		}
	}
}

// A session on the herald.v1.protobuf subprotocol: binary frames both
// ways, the same stream as JSON (hello, replay, live, pong, topics), text
// frames refused with 1003.
func TestProtobufSession(t *testing.T) {
	f := newFixture(t, nil)
	f.storeMsg(t, `{"n":1}`, "pb")
	d := websocket.Dialer{Subprotocols: []string{"something-else", ProtobufProtocol}}
	c, resp, err := d.Dial(f.ws+"/?token="+f.topicToken(t, "pb", "news")+"&since=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp.Header.Get("Sec-WebSocket-Protocol") != ProtobufProtocol {
		t.Fatalf("subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	next := func() *clientpb.ServerFrame {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		op, b, err := c.ReadMessage()
		if err != nil || op != websocket.BinaryMessage {
			t.Fatalf("frame: op %d, %v", op, err)
		}
		return mustUnmarshal(t, b)
	}
	send := func(fr *clientpb.ClientFrame) {
		t.Helper()
		b, _ := proto.Marshal(fr)
		if err := c.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
	}
	if h := next().GetHello(); h.GetUser() != "pb" || h.GetSeq() != 1 {
		t.Fatalf("hello: %v", h)
	}
	if m := next().GetMsg(); m.GetSeq() != 1 || string(m.GetPayload()) != `{"n":1}` {
		t.Fatalf("replayed: %v", m)
	}
	f.svc.Deliver(t.Context(), []*herald.Message{f.storeMsg(t, `"live"`, "pb")})
	if m := next().GetMsg(); m.GetSeq() != 2 || string(m.GetPayload()) != `"live"` {
		t.Fatalf("live: %v", m)
	}
	send(&clientpb.ClientFrame{Frame: &clientpb.ClientFrame_Ping{Ping: &clientpb.Ping{}}})
	if next().GetPong() == nil {
		t.Fatal("no pong")
	}
	send(&clientpb.ClientFrame{Frame: &clientpb.ClientFrame_Sub{Sub: &clientpb.Sub{Id: 5, Topics: []string{"news", "sport"}}}})
	got := map[string]bool{}
	for range 2 {
		fr := next()
		if s := fr.GetSubscribed(); s != nil && s.GetId() == 5 {
			got["subscribed "+s.GetTopic()] = true
		}
		if r := fr.GetSubRefused(); r != nil && r.GetId() == 5 {
			got["refused "+r.GetTopic()] = true
		}
	}
	if !got["subscribed news"] || !got["refused sport"] {
		t.Fatalf("sub answers: %v", got)
	}
	send(&clientpb.ClientFrame{Frame: &clientpb.ClientFrame_Ack{Ack: &clientpb.Ack{Seq: 2}}})
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if !asClose(err, &ce) || ce.Code != CloseUnsupported || !strings.Contains(ce.Text, "binary") {
		t.Fatalf("a text frame on a protobuf connection: %v", err)
	}
}

func asClose(err error, ce **websocket.CloseError) bool {
	e, ok := err.(*websocket.CloseError)
	*ce = e
	return ok
}

// Without the subprotocol, JSON as ever, and no Sec-WebSocket-Protocol.
func TestNoSubprotocolIsJSON(t *testing.T) {
	f := newFixture(t, nil)
	c, resp, err := websocket.DefaultDialer.Dial(f.ws+"/?token="+f.token(t, "js"), http.Header{"Sec-WebSocket-Protocol": {"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp.Header.Get("Sec-WebSocket-Protocol") != "" {
		t.Fatalf("subprotocol %q agreed", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	if op, b, _ := c.ReadMessage(); op != websocket.TextMessage || !strings.Contains(string(b), `"type":"hello"`) {
		t.Fatalf("hello: %d %s", op, b)
	}
}
