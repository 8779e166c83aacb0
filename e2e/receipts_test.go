package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/collect"
	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// status reads GET /v1/messages/{id}.
func status(t *testing.T, api probe.API, id string) collect.MessageStatus {
	t.Helper()
	code, body := api.Do(t, "GET", "/v1/messages/"+id, nil)
	if code != 200 {
		t.Fatalf("status of %s: %d %s", id, code, body)
	}
	var s collect.MessageStatus
	json.Unmarshal(body, &s)
	return s
}

// waitReceipt polls until cond holds for the message's status (receipts are
// written in batches, a moment after the fact).
func waitReceipt(t *testing.T, api probe.API, id string, what string, cond func(collect.MessageStatus) bool) collect.MessageStatus {
	t.Helper()
	var s collect.MessageStatus
	testenv.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if s = status(t, api, id); !cond(s) {
			return fmt.Errorf("%s: status %+v", what, s)
		}
		return nil
	})
	return s
}

func recipient(s collect.MessageStatus, user string) collect.RecipientStatus {
	for _, r := range s.Recipients {
		if r.User == user {
			return r
		}
	}
	return collect.RecipientStatus{}
}

// Receipts through a disconnect and a resume, on a real herald all: a
// message acked before the disconnect stays acked; one delivered but not
// acked is delivered again on resume, keeps its first delivery time and
// becomes acked; one sent while the device was away is delivered and acked
// after the resume; a recipient who never connected stays "stored".
func TestReceiptsAcrossDisconnectAndResume(t *testing.T) {
	n := startAll(t, t.TempDir(), testenv.FreePort(t, "127.0.0.1"))
	tok := n.api.Token(t, "alice")
	phone := probe.MustDialWS(t, n.ws, tok, "phone", nil)
	m1 := n.api.Send(t, []string{"alice", "bob"}, "one")
	m2 := n.api.Send(t, []string{"alice"}, "two")
	phone.Msgs(2, 5*time.Second)
	if err := phone.Ack(1); err != nil {
		t.Fatal(err)
	}
	s1 := waitReceipt(t, n.api, m1, "m1 acked", func(s collect.MessageStatus) bool { return recipient(s, "alice").Status == "acked" })
	if b := recipient(s1, "bob"); b.Status != "stored" || len(b.Devices) != 0 || b.Seq != 1 {
		t.Fatalf("bob never connected: %+v", b)
	}
	if d := recipient(s1, "alice").Devices; len(d) != 1 || d[0].Device != "phone" || d[0].AckedAt < d[0].DeliveredAt {
		t.Fatalf("alice's devices for m1: %+v", d)
	}
	s2 := waitReceipt(t, n.api, m2, "m2 delivered", func(s collect.MessageStatus) bool { return recipient(s, "alice").Status == "delivered" })
	firstDelivery := recipient(s2, "alice").Devices[0].DeliveredAt

	// The phone goes away without acking m2; m3 is sent meanwhile.
	phone.Conn.Close()
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if open := metric(t, n.api.Base, "herald_connections"); open != 0 {
			return fmt.Errorf("%v connections open", open)
		}
		return nil
	})
	m3 := n.api.Send(t, []string{"alice"}, "three") // stored, with nothing to deliver it to
	if got := recipient(status(t, n.api, m3), "alice"); got.Status != "stored" {
		t.Fatalf("m3 while away: %+v", got)
	}
	// It comes back: the resume (from its last ack saved, 1, or 0 when
	// the phone left within the second acks take to be saved) sends m2 and m3.
	back := probe.MustDialWS(t, n.ws, tok, "phone", nil)
	var ids []string
	for len(ids) == 0 || ids[len(ids)-1] != m3 {
		f := back.Msgs(1, 5*time.Second)[0]
		ids = append(ids, f.ID)
		if len(ids) > 3 {
			t.Fatalf("resume sent %v", ids)
		}
	}
	if len(ids) < 2 || ids[len(ids)-2] != m2 {
		t.Fatalf("resume sent %v, want ... m2 m3", ids)
	}
	if err := back.Ack(3); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{m2, m3} {
		s := waitReceipt(t, n.api, id, id+" acked after the resume", func(s collect.MessageStatus) bool { return recipient(s, "alice").Status == "acked" })
		if d := recipient(s, "alice").Devices; len(d) != 1 || d[0].Status != "acked" {
			t.Fatalf("%s: devices %+v (one device, however often it was sent)", id, d)
		}
	}
	if d := recipient(status(t, n.api, m2), "alice").Devices[0]; d.DeliveredAt != firstDelivery {
		t.Fatalf("m2's delivery time moved from %d to %d on the resume", firstDelivery, d.DeliveredAt)
	}
	// A topic message has no per-subscriber receipts; an unknown ID is 404.
	code, body := n.api.Do(t, "POST", "/v1/broadcast", map[string]any{"payload": 1})
	var b struct{ ID string }
	json.Unmarshal(body, &b)
	if s := status(t, n.api, b.ID); code != 202 || s.Kind != "broadcast" || len(s.Recipients) != 0 {
		t.Fatalf("broadcast status: %+v", s)
	}
	if code, body := n.api.Do(t, "GET", "/v1/messages/"+fmt.Sprintf("%032x", 1), nil); code != 404 {
		t.Fatalf("unknown id: %d %s", code, body)
	}
}

// The same on a cluster (MongoDB-wire store): delivered on one node, the
// device moves to another node, and the receipts follow it.
func TestClusterReceipts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster")
	}
	c := testenv.StartCluster(t, testenv.ClusterSize{Collect: 1, Dispatch: 1, Push: 2})
	api := c.API(0)
	tok := c.AuthAPI().Token(t, "alice")
	phone := probe.MustDialWS(t, c.Push[0].WS(), tok, "phone", nil)
	m1 := api.Send(t, []string{"alice"}, "one")
	phone.Msgs(1, 10*time.Second)
	phone.Ack(1)
	waitReceipt(t, api, m1, "m1 acked", func(s collect.MessageStatus) bool { return recipient(s, "alice").Status == "acked" })
	// The device's ack is saved (every second, or as the device leaves):
	// the other node reads it from the store.
	testenv.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if n := metric(t, c.Push[0].URL(), "herald_acks_saved_total"); n < 1 {
			return fmt.Errorf("the phone's ack is not saved yet")
		}
		return nil
	})
	phone.Conn.Close()
	m2 := api.Send(t, []string{"alice"}, "two")
	back := probe.MustDialWS(t, c.Push[1].WS(), tok, "phone", nil)
	if f := back.Msgs(1, 10*time.Second)[0]; f.ID != m2 {
		t.Fatalf("resume on the other node sent %s, want m2", f.ID)
	}
	back.Ack(2)
	s := waitReceipt(t, api, m2, "m2 acked on the second node", func(s collect.MessageStatus) bool { return recipient(s, "alice").Status == "acked" })
	if d := recipient(s, "alice").Devices; len(d) != 1 || d[0].Device != "phone" {
		t.Fatalf("m2 devices: %+v", d)
	}
	if d := recipient(status(t, api, m1), "alice").Devices; len(d) != 1 || d[0].Status != "acked" {
		t.Fatalf("m1 after the move: %+v", d)
	}
}
