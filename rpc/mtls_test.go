package rpc

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv/certs"
)

// Cluster mTLS: a peer with a certificate from the cluster CA gets through;
// one without a certificate, with another CA's, or speaking plaintext does
// not, even with the right secret.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	f := func(n string) string { return filepath.Join(dir, n) }
	ca := certs.NewCA(t, f("ca.pem"), "herald cluster")
	ca.Issue(t, f("push.pem"), f("push.key"), "push-1")
	ca.Issue(t, f("dispatch.pem"), f("dispatch.key"), "dispatch-1")
	other := certs.NewCA(t, f("other-ca.pem"), "someone else")
	other.Issue(t, f("rogue.pem"), f("rogue.key"), "rogue")

	load := func(cert, key, caFile string) *MTLS {
		m, err := LoadMTLS(f(cert), f(key), f(caFile))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	got := &sink{}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	s := NewServer(Cluster{Secret: testSecret, TLS: load("push.pem", "push.key", "ca.pem")})
	RegisterPush(s, got, got)
	go s.Serve(ln)
	defer s.Stop()
	node := herald.Node{ID: "p1", Addr: ln.Addr().String()}
	msg := []*herald.Message{{ID: "m", Payload: []byte(`1`), Users: []string{"u"}, Seqs: []herald.Seq{1}}}
	forward := func(c Cluster) error {
		fw := NewPushForwarder(c)
		defer fw.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return fw.Forward(ctx, node, msg)
	}

	if err := forward(Cluster{Secret: testSecret, TLS: load("dispatch.pem", "dispatch.key", "ca.pem")}); err != nil {
		t.Fatalf("a cluster peer: %v", err)
	}
	for name, c := range map[string]Cluster{
		"plaintext":         {Secret: testSecret},
		"another CA's cert": {Secret: testSecret, TLS: load("rogue.pem", "rogue.key", "ca.pem")},
	} {
		if err := forward(c); err == nil {
			t.Errorf("%s got through", name)
		}
	}
	// The client refuses a server outside the cluster too.
	if err := forward(Cluster{Secret: testSecret, TLS: load("dispatch.pem", "dispatch.key", "other-ca.pem")}); err == nil {
		t.Error("a client trusting another CA accepted the server")
	}
	if got.count() != 1 {
		t.Fatalf("%d deliveries, want the one from the cluster peer", got.count())
	}
	if _, err := LoadMTLS(f("push.pem"), "", f("ca.pem")); err == nil {
		t.Error("half an mTLS configuration was accepted")
	}
}
