package push

import (
	"encoding/json"
	"testing"
)

// FuzzClientFrame: no input crashes the frame decoders (JSON, and protobuf
// for the same bytes), every refusal carries a close code and a reason, and
// an accepted frame is a known type with its fields.
func FuzzClientFrame(f *testing.F) {
	for _, s := range []string{`{"type":"ping"}`, `{"type":"ack","seq":3}`, `{"type":"ack"}`, `{"type":"x"}`,
		`not json`, `[]`, `{"type":"ack","seq":-1}`, `{"type":"ack","seq":1e400}`, "{\"type\":\"ping\xff\"}", `{}`} {
		f.Add([]byte(s))
	}
	f.Add([]byte{0x0a, 0x02, 0x08, 0x03}) // a protobuf ack of seq 3
	f.Fuzz(func(t *testing.T, data []byte) {
		// The same bytes as a protobuf frame: refused with a reason, or a
		// frame of a known type that passed the same checks.
		if pf, code, reason := parseProtoFrame(data); code != 0 && reason == "" ||
			code == 0 && !knownFrame[pf.Type] {
			t.Fatalf("protobuf: %+v %d %q", pf, code, reason)
		}
		fr, code, reason := parseClientFrame(data)
		if code != 0 {
			if reason == "" || code < 1000 || code > 4999 {
				t.Fatalf("refusal %d %q", code, reason)
			}
			return
		}
		switch fr.Type {
		case "ping", "refresh", "sub", "unsub", "presence":
		case "ack":
			if fr.Seq == nil {
				t.Fatal("ack accepted without a seq")
			}
		default:
			t.Fatalf("accepted unknown type %q", fr.Type)
		}
		if !json.Valid(data) {
			t.Fatal("accepted invalid JSON")
		}
	})
}

var knownFrame = map[string]bool{"ping": true, "ack": true, "refresh": true, "sub": true, "unsub": true, "presence": true}
