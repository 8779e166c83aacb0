package rpc

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

type sink struct {
	mu     sync.Mutex
	msgs   []*herald.Message
	err    error
	frames []herald.ClientFrames
}

// TakeFrames finds only user u's stream "p1-1-1", and refuses a body "bad".
func (s *sink) TakeFrames(_ context.Context, f herald.ClientFrames) (herald.FramesResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, f)
	switch {
	case f.User != "u" || f.Conn != "p1-1-1":
		return herald.FramesResult{}, nil
	case string(f.Body) == "bad":
		return herald.FramesResult{Found: true, Code: 1007, Reason: "not JSON"}, nil
	}
	return herald.FramesResult{Found: true}, nil
}

func (s *sink) Dispatch(_ context.Context, m []*herald.Message) error { return s.take(m) }
func (s *sink) Deliver(_ context.Context, m []*herald.Message) error  { return s.take(m) }

func (s *sink) take(m []*herald.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.msgs = append(s.msgs, m...)
	return nil
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// servePush serves got as a push node's gRPC and returns its address.
func servePush(t *testing.T, got *sink) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Cluster{Secret: testSecret})
	RegisterPush(s, got, got)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func serveDispatch(t *testing.T, d herald.Dispatcher) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Cluster{Secret: testSecret})
	RegisterDispatch(s, d)
	go s.Serve(ln)
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func TestDispatchClientRoundTripAndFailover(t *testing.T) {
	ok := &sink{}
	broken := &sink{err: errors.New("redis down")}
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()

	c, err := NewDispatchClient([]string{deadAddr, serveDispatch(t, broken), serveDispatch(t, ok)}, Cluster{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	big := strings.Repeat("x", 1<<20)
	var msgs []*herald.Message
	for i := range 20 { // 20 MiB: split into several gRPC messages
		msgs = append(msgs, &herald.Message{ID: string(rune('a' + i)), Time: time.UnixMilli(1234), Topic: "t",
			Payload: []byte(`"` + big + `"`), Users: []string{"u1", "u2"}, Seqs: []herald.Seq{1, uint64(i + 1)}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 3 { // each call starts at the next instance; all must reach "ok"
		if err := c.Dispatch(ctx, msgs[:2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Dispatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if ok.count() != 26 {
		t.Fatalf("ok instance got %d messages, want 26", ok.count())
	}
	m := ok.msgs[25]
	if m.ID != "t" || m.Topic != "t" || m.Time.UnixMilli() != 1234 || len(m.Users) != 2 || m.Seqs[1] != 20 || len(m.Payload) != len(big)+2 {
		t.Fatalf("message did not survive the trip: %+v", m.Users)
	}
}

func TestPushForwarder(t *testing.T) {
	got := &sink{}
	n := herald.Node{ID: "p1", Addr: servePush(t, got)}
	f := NewPushForwarder(Cluster{Secret: testSecret})
	defer f.Close()
	msg := &herald.Message{ID: "m", Payload: []byte(`1`), Users: []string{"u"}, Seqs: []herald.Seq{3}}
	if err := f.Forward(context.Background(), n, []*herald.Message{msg}); err != nil {
		t.Fatal(err)
	}
	if got.count() != 1 {
		t.Fatal("not delivered")
	}
	bad := &herald.Message{ID: "m", Payload: []byte(`1`), Users: []string{"u"}}
	if err := f.Forward(context.Background(), n, []*herald.Message{bad}); err == nil {
		t.Fatal("a message with users and seqs of different lengths must be refused")
	}
}

func TestRelayFrames(t *testing.T) {
	got := &sink{}
	n := herald.Node{ID: "p1", Addr: servePush(t, got)}
	f := NewPushForwarder(Cluster{Secret: testSecret})
	defer f.Close()
	for _, c := range []struct {
		user, conn, body string
		want             herald.FramesResult
	}{
		{"u", "p1-1-1", `{"type":"ack","seq":1}`, herald.FramesResult{Found: true}},
		{"v", "p1-1-1", `{"type":"ack","seq":1}`, herald.FramesResult{}},
		{"u", "p1-1-2", `{"type":"ack","seq":1}`, herald.FramesResult{}},
		{"u", "p1-1-1", "bad", herald.FramesResult{Found: true, Code: 1007, Reason: "not JSON"}},
	} {
		r, err := f.RelayFrames(context.Background(), n, herald.ClientFrames{User: c.user, Conn: c.conn, Body: []byte(c.body)})
		if err != nil || r != c.want {
			t.Errorf("%s %s %s: %+v %v, want %+v", c.user, c.conn, c.body, r, err, c.want)
		}
	}
	if len(got.frames) != 4 || string(got.frames[0].Body) != `{"type":"ack","seq":1}` {
		t.Fatalf("frames did not survive the trip: %+v", got.frames)
	}
}

const testSecret = "cluster-secret-for-tests"

func TestWrongClusterSecretIsRefused(t *testing.T) {
	got := &sink{}
	addr := serveDispatch(t, got)
	for _, secret := range []string{"", "another-secret-entirely"} {
		c, err := NewDispatchClient([]string{addr}, Cluster{Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Dispatch(context.Background(), []*herald.Message{{ID: "m", Payload: []byte("1"), Users: []string{"u"}, Seqs: []herald.Seq{1}}})
		c.Close()
		if err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
			t.Errorf("secret %q: %v, want Unauthenticated", secret, err)
		}
	}
	if got.count() != 0 {
		t.Fatal("a call without the cluster secret got through")
	}
}
