package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/heraldpush/herald/clientpb"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// An event stream's frames may be POSTed to any of three push nodes: the
// node that takes a POST for a stream it does not hold hands the frames to
// the node that does, so a load balancer needs no affinity. Acks, pings,
// subscriptions and a refused frame behave as on the holding node; another
// user's token and a stream whose node died are 404 from every node. And
// the protobuf subprotocol with permessage-deflate on a cluster node.
func TestSSEFramesFromAnyPushNode(t *testing.T) {
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 1, Dispatch: 1, Push: 3})
	api := c.API(0)
	auth := c.AuthAPI()
	tok := auth.TokenTopics(t, "sam", "news")
	dev := url.Values{"device": {"tab"}}
	s, err := probe.DialSSE(t, c.Push[0].URL(), tok, dev)
	if err != nil {
		t.Fatal(err)
	}
	post := func(node int, token, body string, want int) string {
		t.Helper()
		code, answer := s.Post(c.Push[node].URL(), token, body)
		if code != want {
			t.Fatalf("POST %s to push %d: %d %s, want %d", body, node, code, answer, want)
		}
		return answer
	}
	next := func(typ string) probe.Event {
		t.Helper()
		ev := s.MustNext(10 * time.Second)
		if ev.Frame.Type != typ {
			t.Fatalf("event %s, want a %s", ev.Data, typ)
		}
		return ev
	}

	post(1, tok, `[{"type":"ping"}]`, 204)
	next("pong")
	post(2, tok, `{"type":"sub","id":1,"topics":["news"]}`, 204)
	if ev := next("subscribed"); ev.Frame.Topic != "news" {
		t.Fatalf("subscribed: %s", ev.Data)
	}
	api.Send(t, []string{"sam"}, "one")
	if ev := next("msg"); ev.Frame.Seq != 1 {
		t.Fatalf("first message: %s", ev.Data)
	}
	post(1, tok, `{"type":"ack","seq":1}`, 204)
	for node := range 3 {
		post(node, auth.Token(t, "eve"), `{"type":"ping"}`, 404)
	}
	if answer := post(2, tok, `{"type":"nonsense"}`, 400); !strings.Contains(answer, "1008") {
		t.Fatalf("refused frame's answer: %s", answer)
	}
	if code, _ := s.MustNext(10 * time.Second).Close(); code != 1008 {
		t.Fatal("a frame refused through another node must close the stream with 1008")
	}
	post(1, tok, `{"type":"ping"}`, 404)

	// The ack went to the session on push 0, which saved it: the device's
	// next stream, on another node, starts after it.
	api.Send(t, []string{"sam"}, "two")
	testenv.CheckFor(t, 15*time.Second, 200*time.Millisecond, func() error {
		s2, err := probe.DialSSE(t, c.Push[2].URL(), tok, dev)
		if err != nil {
			return err
		}
		defer s2.Resp.Body.Close()
		ev, err := s2.Next(10 * time.Second)
		if err != nil {
			return err
		}
		if ev.Frame.Type != "msg" || ev.Frame.Seq != 2 {
			return fmt.Errorf("first event after the ack: %s", ev.Data)
		}
		return nil
	})

	// Protobuf frames, compressed, from a push node of the cluster: a
	// message sent through collect arrives whole.
	d := websocket.Dialer{Subprotocols: []string{"herald.v1.protobuf"}, EnableCompression: true}
	pc, resp, err := d.Dial(c.Push[2].WS()+"/ws?token="+tok+"&device=pb", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if resp.Header.Get("Sec-WebSocket-Protocol") != "herald.v1.protobuf" || resp.Header.Get("Sec-WebSocket-Extensions") == "" {
		t.Fatalf("handshake: %v", resp.Header)
	}
	long := strings.Repeat("compressed protobuf in a cluster ", 40)
	api.Send(t, []string{"sam"}, long)
	pc.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		op, b, err := pc.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var f clientpb.ServerFrame
		if op != websocket.BinaryMessage || proto.Unmarshal(b, &f) != nil {
			t.Fatalf("frame: op %d %q", op, b)
		}
		if m := f.GetMsg(); m != nil && strings.Contains(string(m.GetPayload()), long) {
			break
		}
	}

	// A stream whose node was killed: no node finds it once the node's
	// heartbeat has lapsed (503 before, while its route still names it).
	s3, err := probe.DialSSE(t, c.Push[1].URL(), tok, url.Values{"device": {"desk"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Push[1].Kill()
	testenv.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		if code, answer := s3.Post(c.Push[0].URL(), tok, `{"type":"ping"}`); code != 404 {
			return fmt.Errorf("POST for a dead node's stream: %d %s", code, answer)
		}
		return nil
	})
}
