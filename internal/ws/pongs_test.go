package ws

import "testing"

// maskedFrame builds a masked client frame (mask 0: the payload as is).
func maskedFrame(b0 byte, payload string) []byte {
	return append([]byte{b0, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}

// OnlyPongs takes whole, well-formed client pongs and nothing else.
func TestOnlyPongs(t *testing.T) {
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
		{"an unmasked pong", []byte{0x8A, 0x00}, false},
		{"a pong with RSV bits", maskedFrame(0xCA, ""), false},
		{"a pong with a 126-byte length", append([]byte{0x8A, 0x80 | 126, 0, 126, 0, 0, 0, 0}, make([]byte, 126)...), false},
	}
	for _, tc := range cases {
		if got := OnlyPongs(tc.b); got != tc.want {
			t.Errorf("%s: OnlyPongs = %v, want %v", tc.name, got, tc.want)
		}
		// Whatever OnlyPongs takes, the parser reads as pongs alone.
		if tc.want {
			p := Parser{MaxMessage: 1 << 10}
			err := p.Feed(tc.b, func(op Opcode, _ []byte) error {
				if op != OpPong {
					t.Errorf("%s: parser saw opcode %d", tc.name, op)
				}
				return nil
			})
			if err != nil || !p.Idle() {
				t.Errorf("%s: parser: %v, idle %v", tc.name, err, p.Idle())
			}
		}
	}
}
