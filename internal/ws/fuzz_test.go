package ws

import (
	"bytes"
	"testing"
)

// FuzzParser feeds arbitrary bytes, cut at an arbitrary point, to the frame
// parser, with and without permessage-deflate: it must never panic, never
// hand out a message over MaxMessage (inflated or not), and parse the same
// frames however the bytes are split across reads.
func FuzzParser(f *testing.F) {
	f.Add(clientFrame(true, OpText, []byte(`{"type":"ack","seq":1}`)), uint8(3))
	f.Add(append(clientFrame(false, OpText, []byte("ab")), clientFrame(true, OpContinuation, []byte("cd"))...), uint8(7))
	f.Add(clientFrame(true, OpClose, ClosePayload(1000, "bye")), uint8(1))
	f.Add(append(clientFrame(true, OpPong, nil), clientFrame(true, OpPong, []byte("x"))...), uint8(6))
	f.Add([]byte{0x81, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(2))
	f.Add(clientFrame(true, OpText|rsv1, deflated(`{"type":"ack","seq":1}`)), uint8(0x84))
	f.Add(clientFrame(true, OpText|rsv1, deflated(string(make([]byte, 4000)))), uint8(0x89))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		// The first byte of the cut picks the extension, so the corpus
		// covers both.
		deflate := cut&0x80 != 0
		run := func(chunks ...[]byte) (out [][]byte, err error) {
			p := &Parser{MaxMessage: 256, Deflate: deflate}
			for _, ch := range chunks {
				err = p.Feed(bytes.Clone(ch), func(op Opcode, b []byte) error {
					if len(b) > 256 {
						t.Fatalf("message of %d bytes over the limit", len(b))
					}
					out = append(out, append([]byte{byte(op)}, b...))
					return nil
				})
				if err != nil {
					return out, err
				}
			}
			return out, nil
		}
		whole, err1 := run(data)
		c := min(int(cut&0x7f), len(data))
		split, err2 := run(data[:c], data[c:])
		if (err1 == nil) != (err2 == nil) || len(whole) != len(split) {
			t.Fatalf("whole: %d frames, %v; split at %d: %d frames, %v", len(whole), err1, c, len(split), err2)
		}
		for i := range whole {
			if !bytes.Equal(whole[i], split[i]) {
				t.Fatalf("frame %d differs when split", i)
			}
		}
		// What OnlyPongs lets a reader skip parsing must parse as pongs
		// and nothing else, leaving the parser idle.
		if OnlyPongs(data) {
			p := &Parser{MaxMessage: 256}
			err := p.Feed(bytes.Clone(data), func(op Opcode, _ []byte) error {
				if op != OpPong {
					t.Fatalf("OnlyPongs took a frame the parser reads as opcode %d", op)
				}
				return nil
			})
			if err != nil || !p.Idle() {
				t.Fatalf("OnlyPongs took bytes the parser refuses (%v) or leaves part-read", err)
			}
		}
	})
}
