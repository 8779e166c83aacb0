package ws

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The answers to Sec-WebSocket-Extensions offers (RFC 7692 section 7.1;
// Autobahn's 13.x groups vary these parameters).
func TestNegotiateDeflate(t *testing.T) {
	const ok = DeflateResponse
	for _, c := range []struct{ offer, want string }{
		{"", ""},
		{"permessage-deflate", ok},
		{"Permessage-Deflate", ok},
		{"permessage-deflate; client_max_window_bits", ok},
		{"permessage-deflate; client_max_window_bits=8", ok},
		{"permessage-deflate; client_max_window_bits=15", ok},
		{`permessage-deflate; client_max_window_bits="10"`, ok},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", ok},
		{"permessage-deflate; server_max_window_bits=15", ok + "; server_max_window_bits=15"},
		{"permessage-deflate;server_max_window_bits=15;client_max_window_bits", ok + "; server_max_window_bits=15"},
		{"x-webkit-deflate-frame, permessage-deflate", ok},
		{"permessage-deflate; server_max_window_bits=9, permessage-deflate; client_max_window_bits", ok},
		// Declined: a window under 32 KiB for the server, invalid values,
		// unknown or repeated parameters.
		{"permessage-deflate; server_max_window_bits=10", ""},
		{"permessage-deflate; server_max_window_bits", ""},
		{"permessage-deflate; client_max_window_bits=7", ""},
		{"permessage-deflate; client_max_window_bits=16", ""},
		{"permessage-deflate; client_max_window_bits=010", ""},
		{"permessage-deflate; client_max_window_bits=", ""},
		{"permessage-deflate; server_no_context_takeover=1", ""},
		{"permessage-deflate; client_no_context_takeover; client_no_context_takeover", ""},
		{"permessage-deflate; mystery", ""},
		{"deflate-frame", ""},
	} {
		h := http.Header{}
		if c.offer != "" {
			h.Set("Sec-WebSocket-Extensions", c.offer)
		}
		if got := NegotiateDeflate(h); got != c.want {
			t.Errorf("offer %q: %q, want %q", c.offer, got, c.want)
		}
	}
	h := http.Header{}
	h.Add("Sec-WebSocket-Extensions", "foo")
	h.Add("Sec-WebSocket-Extensions", "permessage-deflate")
	if NegotiateDeflate(h) != ok {
		t.Error("an offer on a second header line must count")
	}
}

// deflated compresses p as a client would (the standard library's flate,
// not the server's), without the sync flush's tail.
func deflated(p string) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write([]byte(p))
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte(deflateTail))
}

func TestParserInflates(t *testing.T) {
	text := `{"type":"ack","seq":12}` + strings.Repeat(" ", 1000)
	z := deflated(text)
	half := len(z) / 2
	var final bytes.Buffer // a stream that ends with a final block instead of a sync flush
	fw, _ := flate.NewWriter(&final, 5)
	fw.Write([]byte("héllo"))
	fw.Close()
	for _, c := range []struct {
		name   string
		frames [][]byte
		want   []got
		code   int
	}{
		{"one frame", [][]byte{clientFrame(true, OpText|rsv1, z)}, []got{{OpText, text}}, 0},
		{"fragmented, RSV1 on the first only", [][]byte{clientFrame(false, OpText|rsv1, z[:half]), clientFrame(true, OpContinuation, z[half:])}, []got{{OpText, text}}, 0},
		{"a ping between fragments", [][]byte{clientFrame(false, OpText|rsv1, z[:half]), clientFrame(true, OpPing, []byte("p")), clientFrame(true, OpContinuation, z[half:])}, []got{{OpPing, "p"}, {OpText, text}}, 0},
		{"uncompressed next to compressed", [][]byte{clientFrame(true, OpText, []byte("plain")), clientFrame(true, OpText|rsv1, deflated("zipped"))}, []got{{OpText, "plain"}, {OpText, "zipped"}}, 0},
		{"binary", [][]byte{clientFrame(true, OpBinary|rsv1, deflated("\x00\xff"))}, []got{{OpBinary, "\x00\xff"}}, 0},
		{"empty", [][]byte{clientFrame(true, OpText|rsv1, []byte{0x00})}, []got{{OpText, ""}}, 0},
		{"ends with a final block", [][]byte{clientFrame(true, OpText|rsv1, final.Bytes())}, []got{{OpText, "héllo"}}, 0},
		{"exactly MaxMessage inflated", [][]byte{clientFrame(true, OpText|rsv1, deflated(strings.Repeat("a", 4096)))}, []got{{OpText, strings.Repeat("a", 4096)}}, 0},
		{"MaxMessage + 1 inflated", [][]byte{clientFrame(true, OpText|rsv1, deflated(strings.Repeat("a", 4097)))}, nil, CloseTooBig},
		{"a bomb: 1 MiB of zeros", [][]byte{clientFrame(true, OpText|rsv1, deflated(strings.Repeat("\x00", 1<<20)))}, nil, CloseTooBig},
		{"not deflate", [][]byte{clientFrame(true, OpText|rsv1, []byte{0xff, 0xff, 0xff, 0xff})}, nil, CloseInvalidData},
		{"inflates to invalid UTF-8", [][]byte{clientFrame(true, OpText|rsv1, deflated("caf\xff"))}, nil, CloseInvalidData},
		{"RSV1 on a continuation", [][]byte{clientFrame(false, OpText|rsv1, z[:half]), clientFrame(true, OpContinuation|rsv1, z[half:])}, nil, CloseProtocol},
		{"RSV1 on a ping", [][]byte{clientFrame(true, OpPing|rsv1, nil)}, nil, CloseProtocol},
		{"RSV2", [][]byte{clientFrame(true, OpText|0x20, []byte("x"))}, nil, CloseProtocol},
		{"RSV3", [][]byte{clientFrame(true, OpText|0x10, []byte("x"))}, nil, CloseProtocol},
	} {
		p := &Parser{MaxMessage: 4096, Deflate: true}
		out, err := feedAll(t, p, c.frames)
		var pe *ProtocolError
		switch {
		case c.code != 0 && (!errors.As(err, &pe) || pe.Code != c.code):
			t.Errorf("%s: %v, want close %d", c.name, err, c.code)
		case c.code == 0 && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.code == 0 && !equalGot(out, c.want):
			t.Errorf("%s: %q, want %q", c.name, out, c.want)
		}
	}
	// Without the extension, RSV1 is a protocol error.
	p := &Parser{MaxMessage: 4096}
	_, err := feedAll(t, p, [][]byte{clientFrame(true, OpText|rsv1, z)})
	if pe := (*ProtocolError)(nil); !errors.As(err, &pe) || pe.Code != CloseProtocol {
		t.Errorf("RSV1 without the extension: %v, want 1002", err)
	}
}

func equalGot(a, b []got) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A server frame from AppendDeflated inflates, with the standard library,
// to what went in.
func TestAppendDeflated(t *testing.T) {
	for _, p := range []string{"", "x", `{"type":"msg","payload":"` + strings.Repeat("hello ", 500) + `"}`, strings.Repeat("z", 70000)} {
		f := AppendDeflated([]byte("head"), OpText, []byte(p))
		if string(f[:4]) != "head" {
			t.Fatal("dst was not kept")
		}
		f = f[4:]
		if f[0] != 0x80|rsv1|byte(OpText) {
			t.Fatalf("first byte %08b", f[0])
		}
		n, hdr := int(f[1]&0x7f), 2
		switch n {
		case 126:
			n, hdr = int(f[2])<<8|int(f[3]), 4
		case 127:
			t.Fatal("compressed frame this large")
		}
		body := f[hdr:]
		if len(body) != n {
			t.Fatalf("length %d, header says %d", len(body), n)
		}
		r := flate.NewReader(io.MultiReader(bytes.NewReader(body), strings.NewReader(inflateEnd)))
		out, err := io.ReadAll(r)
		if err != nil || string(out) != p {
			t.Fatalf("%d bytes in: %d out, %v", len(p), len(out), err)
		}
	}
}
