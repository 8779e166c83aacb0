package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// clientFrame builds a masked client frame as a browser would send it.
func clientFrame(fin bool, op Opcode, payload []byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	var b []byte
	switch n := len(payload); {
	case n <= 125:
		b = []byte{b0, 0x80 | byte(n)}
	case n <= 0xffff:
		b = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		b = binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, uint64(n))
	}
	mask := []byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, mask...)
	for i, c := range payload {
		b = append(b, c^mask[i&3])
	}
	return b
}

type got struct {
	op      Opcode
	payload string
}

func feedAll(t *testing.T, p *Parser, chunks [][]byte) ([]got, error) {
	t.Helper()
	var out []got
	for _, ch := range chunks {
		err := p.Feed(append([]byte(nil), ch...), func(op Opcode, b []byte) error {
			out = append(out, got{op, string(b)})
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// The same stream cut at every possible point, and into random pieces,
// parses to the same messages: a read may end anywhere in a frame.
func TestParserSplits(t *testing.T) {
	big := strings.Repeat("x", 300)
	huge := strings.Repeat("y", 70000)
	var stream []byte
	stream = append(stream, clientFrame(true, OpText, []byte(`{"type":"ping"}`))...)
	stream = append(stream, clientFrame(false, OpText, []byte(`{"type":`))...)
	stream = append(stream, clientFrame(true, OpPing, []byte("p"))...) // control inside a fragmented message
	stream = append(stream, clientFrame(true, OpContinuation, []byte(`"ack","seq":1}`))...)
	stream = append(stream, clientFrame(true, OpText, []byte(big))...)
	stream = append(stream, clientFrame(true, OpBinary, []byte(huge))...)
	stream = append(stream, clientFrame(true, OpClose, ClosePayload(1000, "bye"))...)
	want := []got{{OpText, `{"type":"ping"}`}, {OpPing, "p"}, {OpText, `{"type":"ack","seq":1}`}, {OpText, big}, {OpBinary, huge},
		{OpClose, string(ClosePayload(1000, "bye"))}}

	check := func(name string, chunks [][]byte) {
		p := &Parser{MaxMessage: 1 << 20}
		out, err := feedAll(t, p, chunks)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(out) != len(want) {
			t.Fatalf("%s: %d frames, want %d", name, len(out), len(want))
		}
		for i := range want {
			if out[i] != want[i] {
				t.Fatalf("%s: frame %d = %v %.20q, want %v %.20q", name, i, out[i].op, out[i].payload, want[i].op, want[i].payload)
			}
		}
		if p.partial != nil || p.msg != nil {
			t.Fatalf("%s: parser keeps %d+%d bytes when idle", name, len(p.partial), len(p.msg))
		}
	}
	check("whole", [][]byte{stream})
	for cut := 1; cut < 400; cut++ {
		check("cut", [][]byte{stream[:cut], stream[cut:]})
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var chunks [][]byte
		for rest := stream; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN(5000))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		check("random", chunks)
	}
}

func TestParserErrors(t *testing.T) {
	unmasked := AppendFrame(nil, OpText, []byte("hi"))
	cases := []struct {
		name  string
		input []byte
		code  int
	}{
		{"unmasked", unmasked, CloseProtocol},
		{"reserved bits", append([]byte{0xC1}, clientFrame(true, OpText, []byte("a"))[1:]...), CloseProtocol},
		{"unknown opcode", clientFrame(true, 0x3, []byte("a")), CloseProtocol},
		{"fragmented ping", clientFrame(false, OpPing, nil), CloseProtocol},
		{"long ping", clientFrame(true, OpPing, make([]byte, 126)), CloseProtocol},
		{"stray continuation", clientFrame(true, OpContinuation, []byte("a")), CloseProtocol},
		{"interleaved message", append(clientFrame(false, OpText, []byte("a")), clientFrame(true, OpText, []byte("b"))...), CloseProtocol},
		{"too big", clientFrame(true, OpText, make([]byte, 101)), CloseTooBig},
		{"too big in fragments", append(clientFrame(false, OpText, make([]byte, 60)), clientFrame(true, OpContinuation, make([]byte, 60))...), CloseTooBig},
		// The header alone is enough to refuse: the payload never arrives.
		{"huge length", []byte{0x81, 0x80 | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, CloseTooBig},
	}
	for _, tc := range cases {
		p := &Parser{MaxMessage: 100}
		_, err := feedAll(t, p, [][]byte{tc.input})
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Code != tc.code {
			t.Errorf("%s: err %v, want code %d", tc.name, err, tc.code)
		}
	}
}

func TestAppendFrameAndClose(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		f := AppendFrame(nil, OpText, bytes.Repeat([]byte("a"), n))
		hdr := map[bool]int{true: 2}[n <= 125] + map[bool]int{true: 4}[n > 125 && n <= 65535] + map[bool]int{true: 10}[n > 65535]
		if len(f) != hdr+n || f[0] != 0x81 {
			t.Errorf("frame of %d: %d bytes, first %#x", n, len(f), f[0])
		}
	}
	long := strings.Repeat("é", 100) // 200 bytes: cut to fit, on a character boundary
	code, reason := ParseClose(ClosePayload(4000, long))
	if code != 4000 || len(reason) > 123 || !strings.HasPrefix(long, reason) || len(reason)%2 != 0 {
		t.Errorf("close %d %q", code, reason)
	}
	if code, _ := ParseClose(nil); code != CloseNoStatus {
		t.Errorf("empty close: %d", code)
	}
}

// RFC 6455 sections 5.5.1, 7.4 and 8.1: what an incoming text message and
// close frame must be, and the close code each violation gets.
func TestParserChecksTextAndClose(t *testing.T) {
	closeBody := func(code int, reason string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
	}
	for _, c := range []struct {
		name   string
		frames [][]byte
		code   int // 0: accepted
	}{
		{"valid text", [][]byte{clientFrame(true, OpText, []byte("κόσμε"))}, 0},
		{"invalid text", [][]byte{clientFrame(true, OpText, []byte("caf\xff"))}, CloseInvalidData},
		{"binary is not checked", [][]byte{clientFrame(true, OpBinary, []byte{0xff})}, 0},
		{"fragmented valid, split in a character", [][]byte{clientFrame(false, OpText, []byte("κ\xcf")), clientFrame(true, OpContinuation, []byte("\x8cσμε"))}, 0},
		{"fragmented invalid, last fragment", [][]byte{clientFrame(false, OpText, []byte("ab")), clientFrame(true, OpContinuation, []byte("\xff"))}, CloseInvalidData},
		{"fragmented, cut off at the end", [][]byte{clientFrame(false, OpText, []byte("a\xce")), clientFrame(true, OpContinuation, nil)}, CloseInvalidData},
		{"close, empty", [][]byte{clientFrame(true, OpClose, nil)}, 0},
		{"close 1000 with a reason", [][]byte{clientFrame(true, OpClose, closeBody(1000, "bye κ"))}, 0},
		{"close 4001", [][]byte{clientFrame(true, OpClose, closeBody(4001, ""))}, 0},
		{"close, 1-byte body", [][]byte{clientFrame(true, OpClose, []byte{0x03})}, CloseProtocol},
		{"close 1005", [][]byte{clientFrame(true, OpClose, closeBody(1005, ""))}, CloseProtocol},
		{"close 999", [][]byte{clientFrame(true, OpClose, closeBody(999, ""))}, CloseProtocol},
		{"close 5000", [][]byte{clientFrame(true, OpClose, closeBody(5000, ""))}, CloseProtocol},
		{"close, reason not UTF-8", [][]byte{clientFrame(true, OpClose, closeBody(1000, "\xff"))}, CloseInvalidData},
	} {
		_, err := feedAll(t, &Parser{MaxMessage: 1 << 20}, c.frames)
		var pe *ProtocolError
		switch {
		case c.code == 0 && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.code != 0 && (!errors.As(err, &pe) || pe.Code != c.code):
			t.Errorf("%s: %v, want close %d", c.name, err, c.code)
		}
	}
	// Fail fast: a fragmented text is refused at the first fragment that
	// cannot become UTF-8, before its last has come.
	_, err := feedAll(t, &Parser{MaxMessage: 1 << 20}, [][]byte{clientFrame(false, OpText, []byte("a\xffb"))})
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Code != CloseInvalidData {
		t.Fatalf("first fragment: %v", err)
	}
}

func TestValidCloseCode(t *testing.T) {
	for code, want := range map[int]bool{0: false, 999: false, 1000: true, 1001: true, 1003: true, 1004: false,
		1005: false, 1006: false, 1007: true, 1011: true, 1012: true, 1014: true, 1015: false, 1016: false,
		2999: false, 3000: true, 4999: true, 5000: false, 65535: false} {
		if ValidCloseCode(code) != want {
			t.Errorf("%d: %v", code, !want)
		}
	}
}
