package push

import (
	"testing"

	"github.com/heraldpush/herald/internal/ws"
)

// onPeek notes a read of pongs as a frame read, and leaves a pong to the
// parser while a message is half-read (ws.OnlyPongs has the frame checks).
func TestOnPeek(t *testing.T) {
	pong := []byte{0x8A, 0x80, 0, 0, 0, 0}
	c := &wsTransport{c: &session{}, parser: ws.Parser{MaxMessage: 1 << 10}}
	if !c.onPeek(pong) || c.c.lastRead.Load() == 0 {
		t.Fatal("a pong was not taken as a frame read")
	}
	if c.onPeek([]byte{0x81, 0x82, 0, 0, 0, 0, '{', '}'}) {
		t.Fatal("onPeek took a text frame")
	}
	// The first fragment of a text message, then a pong: the parser's.
	if err := c.parser.Feed([]byte{0x01, 0x83, 0, 0, 0, 0, 'p', 'a', 'r'}, func(ws.Opcode, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if c.onPeek(pong) {
		t.Fatal("onPeek took a pong in the middle of a message")
	}
}
