package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/testenv"
)

// A body whose payload is not UTF-8 is refused by every send endpoint with
// 400 invalid_request naming the field (and, in a batch, the message), and
// nothing is stored: stored, it would go out in a text frame that browsers
// drop the connection over, on every resume.
func TestSendRefusesInvalidUTF8(t *testing.T) {
	n := startAll(t, t.TempDir(), testenv.FreePort(t, "127.0.0.1"))
	bad := "\"caf\xff\xfe\""
	for _, c := range []struct {
		path, body, field string
	}{
		{"/v1/messages", `{"users":["alice"],"payload":` + bad + `}`, "payload"},
		{"/v1/messages", `{"users":["alice"],"payload":{"text":` + bad + `}}`, "payload.text"},
		{"/v1/messages/batch", `{"messages":[{"users":["alice"],"payload":1},{"users":["alice"],"payload":` + bad + `}]}`, "messages[1].payload"},
		{"/v1/topics/news/messages", `{"payload":` + bad + `}`, "payload"},
		{"/v1/broadcast", `{"payload":` + bad + `}`, "payload"},
		{"/v1/users/alice/disconnect", `{"reason":` + bad + `}`, "reason"},
	} {
		status, body := n.api.Do(t, "POST", c.path, []byte(c.body))
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(body, &e)
		if status != 400 || e.Error.Code != "invalid_request" || !strings.HasPrefix(e.Error.Message, c.field) || !strings.Contains(e.Error.Message, "UTF-8") {
			t.Errorf("%s: %d %s, want 400 invalid_request naming %q", c.path, status, body, c.field)
		}
	}
	for _, path := range []string{"/v1/users/alice/messages", "/v1/topics/news/messages", "/v1/topics/*/messages"} {
		status, body := n.api.Do(t, "GET", path, nil)
		var h struct{ Messages []json.RawMessage }
		if json.Unmarshal(body, &h); status != 200 || len(h.Messages) != 0 {
			t.Errorf("%s: %d %s: something was stored", path, status, body)
		}
	}
}
