package e2e

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/testenv"
)

// permessage-deflate (RFC 7692) against a real push node, modelled on
// Autobahn's 12.x (compressed messages) and 13.x (negotiated parameters)
// groups, with the client's side written on the standard library's flate,
// not the server's compressor.

const rsv1Bit = 0x40

// deflateRaw compresses p as a client does: a sync flush, its tail removed.
func deflateRaw(p string) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	w.Write([]byte(p))
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// inflateFrame inflates a compressed server frame's payload.
func inflateFrame(t *testing.T, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff")))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("a compressed server frame does not inflate: %v", err)
	}
	return out
}

// zText is a compressed text message in one frame; zFrags the same in n
// fragments, RSV1 on the first only.
func zText(p string) wsFrame { return wsFrame{b0: finBit | rsv1Bit | opText, payload: deflateRaw(p)} }

func zFrags(p string, n int) []wsFrame {
	z := deflateRaw(p)
	step := (len(z) + n - 1) / n
	var fs []wsFrame
	for i := 0; i < len(z); i += step {
		b0 := byte(opCont)
		if i == 0 {
			b0 = rsv1Bit | opText
		}
		if i+step >= len(z) {
			b0 |= finBit
		}
		fs = append(fs, wsFrame{b0: b0, payload: z[i:min(i+step, len(z))]})
	}
	return fs
}

func deflateCases() []wsCase {
	var cs []wsCase
	const offer = "permessage-deflate; client_max_window_bits"
	add := func(id, name string, want expect, send ...wsFrame) {
		cs = append(cs, wsCase{id: id, name: name, send: send, want: want, offer: offer})
	}
	serves := expect{serve: true}
	closes := func(code int) expect { return expect{close: code} }
	pad := func(total int) string { return pingJSON(strings.Repeat("a", total-len(pingJSON("")))) }

	// 12.1 compressed messages of growing size, up to --max-frame inflated.
	for k, n := range []int{16, 64, 256, 1024, 4096} {
		add(fmt.Sprintf("12.1.%d", k+1), fmt.Sprintf("compressed text of %d bytes", n), serves, zText(pad(max(n, len(pingJSON(""))))))
	}
	// 12.2 fragmented compressed messages.
	add("12.2.1", "compressed text in 2 fragments", serves, zFrags(pad(2000), 2)...)
	add("12.2.2", "compressed text in 1-byte fragments", serves, zFrags(pad(300), 1000)...)
	add("12.2.3", "a ping between compressed fragments", expect{serve: true, pong: []byte("mid")},
		append(append(zFrags(pad(2000), 2)[:1:1], final(opPing, "mid")), zFrags(pad(2000), 2)[1])...)
	// 12.3 compressed and uncompressed messages mixed.
	add("12.3.1", "uncompressed, compressed, uncompressed", serves, text(pingJSON("a")), zText(pingJSON("b")), text(pingJSON("c")))
	add("12.3.2", "50 compressed messages at once", serves, func() []wsFrame {
		fs := make([]wsFrame, 50)
		for i := range fs {
			fs[i] = zText(pingJSON(fmt.Sprint(i)))
		}
		return fs
	}()...)
	// 12.4 what the server must refuse.
	add("12.4.1", "inflates to --max-frame + 1 bytes", closes(1009), zText(pad(4097)))
	add("12.4.2", "a bomb: 1 MiB of zeros in about 1 KiB", closes(1009), wsFrame{b0: finBit | rsv1Bit | opText, payload: deflateRaw(strings.Repeat("\x00", 1<<20))})
	add("12.4.3", "RSV1 with bytes that are not deflate", closes(1007), wsFrame{b0: finBit | rsv1Bit | opText, payload: []byte{0xff, 0xfe, 0xfd, 0xfc}})
	add("12.4.4", "inflates to invalid UTF-8", closes(1007), zText(`{"type":"ping","x":"caf`+"\xff"+`"}`))
	add("12.4.5", "RSV1 on a continuation frame", closes(1002),
		wsFrame{b0: rsv1Bit | opText, payload: deflateRaw(pingJSON("x"))[:3]}, wsFrame{b0: finBit | rsv1Bit | opCont, payload: deflateRaw(pingJSON("x"))[3:]})
	add("12.4.6", "RSV1 on a ping", closes(1002), wsFrame{b0: finBit | rsv1Bit | opPing})
	add("12.4.7", "RSV2 on a text frame", closes(1002), wsFrame{b0: finBit | 0x20 | opText, payload: []byte(pingJSON("x"))})
	// Without the extension agreed, RSV1 is a protocol error.
	cs = append(cs, wsCase{id: "12.5.1", name: "RSV1 when no extension was agreed", send: []wsFrame{zText(pingJSON("x"))}, want: closes(1002)})
	cs = append(cs, wsCase{id: "12.5.2", name: "RSV1 after the server declined the offer", offer: "permessage-deflate; server_max_window_bits=10",
		send: []wsFrame{zText(pingJSON("x"))}, want: closes(1002)})
	return cs
}

func TestWebSocketDeflateConformance(t *testing.T) {
	n := startAll(t, t.TempDir(), testenv.FreePort(t, "127.0.0.1"), "--max-frame", "4096", "--max-frame-rate", "100")
	token := n.api.Token(t, "deflate")
	cases := deflateCases()
	for _, c := range cases {
		t.Run(c.id+" "+c.name, func(t *testing.T) { runCase(t, n.addr, token, c) })
	}

	// 13.x the answers to offers, as the client reads them.
	const ok = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	offers := []struct{ offer, want string }{
		{"permessage-deflate", ok},
		{"permessage-deflate; client_max_window_bits", ok},
		{"permessage-deflate; client_max_window_bits=9", ok},
		{"permessage-deflate; client_no_context_takeover; server_no_context_takeover", ok},
		{"permessage-deflate; server_max_window_bits=15", ok + "; server_max_window_bits=15"},
		{"permessage-deflate; server_max_window_bits=8, permessage-deflate", ok},
		{"x-webkit-deflate-frame", ""},
		{"permessage-deflate; server_max_window_bits=12", ""},
		{"permessage-deflate; unknown_parameter", ""},
	}
	for k, o := range offers {
		t.Run(fmt.Sprintf("13.1.%d offer %s", k+1, o.offer), func(t *testing.T) {
			w, answer := dialOffer(t, n.addr, token, o.offer)
			if answer != o.want {
				t.Fatalf("answer %q, want %q", answer, o.want)
			}
			w.c.Write(zText(`{"type":"ping"}`).bytes()) // 1002 if declined, a pong if agreed
			op, p := w.read()
			if o.want != "" && (op != opText || string(p) != `{"type":"pong"}`) || o.want == "" && op != opClose {
				t.Fatalf("after a compressed ping: op %d %q", op, p)
			}
		})
	}

	// Server frames: a message over --compression-threshold comes
	// compressed, a short one (the pong above) does not.
	t.Run("13.2.1 a 1 KiB message arrives compressed", func(t *testing.T) {
		w, _ := dialOffer(t, n.addr, n.api.Token(t, "deflate-msg"), "permessage-deflate")
		payload := map[string]string{"text": strings.Repeat("the same words again ", 50)}
		id := n.api.Send(t, []string{"deflate-msg"}, payload)
		var h [1]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil || h[0] != finBit|rsv1Bit|opText {
			t.Fatalf("first byte %08b, %v: want a compressed text frame", h[0], err)
		}
		w.br.UnreadByte()
		_, p := w.read()
		var f struct{ Type, ID string }
		if json.Unmarshal(p, &f) != nil || f.Type != "msg" || f.ID != id {
			t.Fatalf("inflated frame %q", p)
		}
	})
	t.Logf("%d cases: 12.x: %d, 13.x: %d", len(cases)+len(offers)+1, len(cases), len(offers)+1)
}

// --compression=false: no extension is agreed, whatever the client offers.
func TestWebSocketCompressionOff(t *testing.T) {
	n := startAll(t, t.TempDir(), testenv.FreePort(t, "127.0.0.1"), "--compression=false")
	_, answer := dialOffer(t, n.addr, n.api.Token(t, "plain"), "permessage-deflate")
	if answer != "" {
		t.Fatalf("answer %q with --compression=false", answer)
	}
}
