package push

import (
	"testing"

	"github.com/heraldpush/herald/internal/ws"
)

// maskedFrame builds a masked client frame (mask 0: the payload as is).
func maskedFrame(b0 byte, payload string) []byte {
	return append([]byte{b0, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}

// onPeek takes reads of whole pongs only; anything else goes to the parser.
func TestOnPeekTakesOnlyWholePongs(t *testing.T) {
	pong := maskedFrame(0x8A, "")
	pongWith := maskedFrame(0x8A, "hi")
	cases := []struct {
		name string
		b    []byte
		want bool
	}{
		{"one pong", pong, true},
		{"pongs back to back", append(append([]byte{}, pong...), pongWith...), true},
		{"a ping", maskedFrame(0x89, ""), false},
		{"a text frame", maskedFrame(0x81, `{"type":"ping"}`), false},
		{"a pong then a text frame", append(append([]byte{}, pong...), maskedFrame(0x81, "{}")...), false},
		{"half a pong", pongWith[:5], false},
		{"an unmasked pong (the parser refuses it)", []byte{0x8A, 0x00}, false},
		{"a pong with RSV bits (the parser refuses it)", maskedFrame(0xCA, ""), false},
	}
	for _, tc := range cases {
		c := &conn{}
		if got := c.onPeek(tc.b); got != tc.want {
			t.Errorf("%s: onPeek = %v, want %v", tc.name, got, tc.want)
		}
		if tc.want && c.lastRead.Load() == 0 {
			t.Errorf("%s: a pong must count as a frame read", tc.name)
		}
	}
	// A pong while a fragmented message is half-read is the parser's.
	c := &conn{parser: ws.Parser{MaxMessage: 1 << 10}}
	if err := c.parser.Feed(maskedFrame(0x01, "par"), func(op ws.Opcode, b []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if c.onPeek(pong) {
		t.Error("onPeek took a pong in the middle of a message")
	}
}
