package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// Recall on a real herald all: a connected device that asked is told; a
// device that comes later never gets the message; the receipt says
// recalled for the recipient no device got it to; a scheduled message is
// cancelled and never goes out; an unknown ID is a 404.
func TestRecall(t *testing.T) {
	n := startAll(t, filepath.Join(t.TempDir(), "data"), testenv.FreePort(t, "127.0.0.1"))
	api := n.api
	ann, err := probe.DialWSQuery(t, n.ws, api.Token(t, "ann"), url.Values{"device": {"phone"}, "recall": {"true"}})
	if err != nil {
		t.Fatal(err)
	}
	id := api.Send(t, []string{"ann", "bob"}, "oops")
	if m := ann.Msgs(1, 5*time.Second)[0]; m.ID != id {
		t.Fatalf("ann: %+v", m)
	}
	recall := func(id string) (int, map[string]any) {
		code, body := api.Do(t, "DELETE", "/v1/messages/"+id, nil)
		var out map[string]any
		json.Unmarshal(body, &out)
		return code, out
	}
	code, out := recall(id)
	if code != 200 || out["status"] != "recalled" || out["recalled_at"] == nil {
		t.Fatalf("recall: %d %v", code, out)
	}
	for {
		f, err := ann.Next(5 * time.Second)
		if err != nil {
			t.Fatalf("no recall frame: %v", err)
		}
		if f.Type == "recall" {
			if f.ID != id || f.Seq != 1 {
				t.Fatalf("recall frame: %+v", f)
			}
			break
		}
	}
	if code, again := recall(id); code != 200 || again["recalled_at"] != out["recalled_at"] {
		t.Fatalf("recalled again: %d %v (the first time stays)", code, again)
	}
	// bob comes later: the next he gets is the next message, not the recalled one.
	since := uint64(0)
	bob := probe.MustDialWS(t, n.ws, api.Token(t, "bob"), "laptop", &since)
	next := api.Send(t, []string{"bob"}, "next")
	if m := bob.Msgs(1, 5*time.Second)[0]; m.ID != next || m.Seq != 2 {
		t.Fatalf("bob: %+v", m)
	}
	testenv.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		code, body := api.Do(t, "GET", "/v1/messages/"+id, nil)
		var st struct {
			RecalledAt int64 `json:"recalled_at"`
			Recipients []struct{ User, Status string }
		}
		json.Unmarshal(body, &st)
		if code != 200 || st.RecalledAt == 0 || len(st.Recipients) != 2 || st.Recipients[0].Status != "delivered" || st.Recipients[1].Status != "recalled" {
			return fmt.Errorf("receipt: %d %s", code, body)
		}
		return nil
	})
	_, body := api.Do(t, "GET", "/v1/users/bob/messages", nil)
	var h struct{ Messages []struct{ ID string } }
	json.Unmarshal(body, &h)
	if len(h.Messages) != 1 || h.Messages[0].ID != next {
		t.Fatalf("bob's history: %s", body)
	}

	// A scheduled message, cancelled: it never goes out.
	due := time.Now().Add(time.Second)
	code, body = api.Do(t, "POST", "/v1/messages", map[string]any{"users": []string{"ann"}, "payload": "never", "deliver_at": due.UnixMilli()})
	var r struct{ ID string }
	json.Unmarshal(body, &r)
	if code != 202 {
		t.Fatalf("schedule: %d %s", code, body)
	}
	if code, out := recall(r.ID); code != 200 || out["status"] != "cancelled" {
		t.Fatalf("cancel: %d %v", code, out)
	}
	// Two scheduler rounds past its time, the next message to ann takes
	// seq 2: the cancelled one took none.
	testenv.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		if time.Since(due) < 2500*time.Millisecond {
			return fmt.Errorf("not yet two rounds past its deliver_at")
		}
		return nil
	})
	later := api.Send(t, []string{"ann"}, "after")
	if code, _ := api.Do(t, "GET", "/v1/messages/"+r.ID, nil); code != 404 {
		t.Fatalf("the cancelled message: %d", code)
	}
	if m := ann.Msgs(1, 5*time.Second)[0]; m.ID != later || m.Seq != 2 {
		t.Fatalf("after the cancel: %+v", m)
	}
	if code, _ := recall("0123456789abcdef0123456789abcdef"); code != 404 {
		t.Fatalf("an unknown ID: %d", code)
	}
}
