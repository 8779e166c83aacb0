package push

import (
	"encoding/json"
	"time"
)

// What a session does with each frame its client sends, whatever the
// transport brought it: ping, ack, refresh, sub and unsub.

// handleFrame acts on one client frame (JSON text, or protobuf binary on a
// session of that encoding); a non-zero code closes the connection.
func (c *session) handleFrame(data []byte) (int, string) {
	f, code, reason := c.enc.parse(data)
	if code != 0 {
		return code, reason
	}
	switch f.Type {
	case "ping":
		c.enqueue(outItem{frame: c.enc.pong()})
	case "refresh":
		return c.refresh(f.Token)
	case "sub":
		return c.subscribe(f)
	case "unsub":
		return c.unsubscribe(f)
	case "presence":
		c.answerPresence(f)
	case "push_register", "push_unregister":
		c.answerPushRegistration(f)
	case "ack":
		// An ack cannot cover what was never sent: clamping keeps a buggy
		// client from skipping messages on its next resume.
		seq := min(*f.Seq, c.lastSent.Load())
		if c.device != "" {
			c.s.acks.add(c.user, c.device, seq)
		}
		if c.s.receipts != nil {
			c.s.receipts.Ack(c.user, c.deviceKey(), seq, time.Now())
		}
	}
	return 0, ""
}

// parseClientFrame decodes and checks one client frame. A non-zero code is
// the close code for a frame the server will not accept, with its reason.
func parseClientFrame(data []byte) (clientFrame, int, string) {
	var f clientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return f, CloseInvalidPayload, "frame is not a JSON object"
	}
	code, reason := checkClientFrame(f)
	return f, code, reason
}

// checkClientFrame checks a decoded client frame, whatever its encoding.
func checkClientFrame(f clientFrame) (int, string) {
	switch f.Type {
	case "ping":
	case "ack":
		if f.Seq == nil {
			return ClosePolicy, "ack needs a seq"
		}
	case "refresh":
		if f.Token == "" {
			return ClosePolicy, "refresh needs a token"
		}
	case "presence":
		if f.Topic == "" {
			return ClosePolicy, "presence needs a topic"
		}
	case "sub", "unsub":
		if len(f.Topics) == 0 {
			return ClosePolicy, f.Type + " needs topics"
		}
	case "push_register":
		if f.Registration == nil {
			return ClosePolicy, "push_register needs a registration"
		}
	case "push_unregister":
	default:
		return ClosePolicy, "unknown frame type"
	}
	return 0, ""
}
