package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldpush/herald/internal/testenv"
)

// The WebSocket conformance suite: RFC 6455 case by case against a real push
// node (herald all, as a process), modelled on the Autobahn TestSuite's case
// groups (its runner needs Python 2, which this machine cannot install).
// Each case says what the client sends and what the RFC requires of the
// server: a close with a given code, a pong echoing a ping, or that it keeps
// serving (answered by a JSON ping's pong afterwards). Herald's session
// speaks JSON text frames: a text message is sent as {"type":"ping",...}
// (with the bytes under test in a string), so a server that keeps serving
// answers {"type":"pong"}.

const (
	opCont  = 0x0
	opText  = 0x1
	opBin   = 0x2
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
	finBit  = 0x80
)

// wsFrame is a client frame: masked unless unmasked is set.
type wsFrame struct {
	b0       byte // FIN, RSV and opcode
	payload  []byte
	unmasked bool
	raw      []byte // sent as is, when set
}

func text(p string) wsFrame           { return wsFrame{b0: finBit | opText, payload: []byte(p)} }
func frag(op byte, p string) wsFrame  { return wsFrame{b0: op, payload: []byte(p)} }
func final(op byte, p string) wsFrame { return wsFrame{b0: finBit | op, payload: []byte(p)} }

func (f wsFrame) bytes() []byte {
	if f.raw != nil {
		return f.raw
	}
	n := len(f.payload)
	b := []byte{f.b0}
	mask := byte(0x80)
	if f.unmasked {
		mask = 0
	}
	switch {
	case n <= 125:
		b = append(b, mask|byte(n))
	case n <= 0xffff:
		b = append(b, mask|126, byte(n>>8), byte(n))
	default:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if f.unmasked {
		return append(b, f.payload...)
	}
	key := []byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key...)
	for i, c := range f.payload {
		b = append(b, c^key[i&3])
	}
	return b
}

// pingJSON is a text message the session answers with a pong: the bytes
// under test go in a string.
func pingJSON(s string) string { return `{"type":"ping","x":"` + s + `"}` }

// closeBody is a close frame's body: code, then reason.
func closeBody(code int, reason string) string {
	return string(binary.BigEndian.AppendUint16(nil, uint16(code))) + reason
}

// expect is what the server must do.
type expect struct {
	close int    // close with this code
	pong  []byte // answer with a pong of these bytes (nil: no pong expected)
	pongs int    // this many pongs (with pong)
	serve bool   // keep serving: a JSON ping afterwards is answered
}

type wsCase struct {
	id, name string
	send     []wsFrame
	want     expect
	offer    string // Sec-WebSocket-Extensions the client sends; empty: none
}

func TestWebSocketConformance(t *testing.T) {
	n := startAll(t, t.TempDir(), testenv.FreePort(t, "127.0.0.1"), "--max-frame", "4096", "--max-frame-rate", "100")
	token := n.api.Token(t, "conformance")
	cases := conformanceCases()
	groups := map[string]int{}
	for _, c := range cases {
		groups[strings.SplitN(c.id, ".", 2)[0]]++
		t.Run(c.id+" "+c.name, func(t *testing.T) { runCase(t, n.addr, token, c) })
	}
	var b strings.Builder
	for g := 1; g <= 9; g++ {
		if k := groups[fmt.Sprint(g)]; k > 0 {
			fmt.Fprintf(&b, " %d.x: %d", g, k)
		}
	}
	t.Logf("%d cases:%s", len(cases), b.String())
}

func conformanceCases() []wsCase {
	var cs []wsCase
	add := func(id, name string, want expect, send ...wsFrame) {
		cs = append(cs, wsCase{id: id, name: name, send: send, want: want})
	}
	serves := expect{serve: true}
	closes := func(code int) expect { return expect{close: code} }
	pad := func(total int) string { // a JSON ping of exactly total bytes
		return pingJSON(strings.Repeat("a", total-len(pingJSON(""))))
	}

	// 1.x Framing: text messages of each length encoding; binary (which the
	// session does not take: 1003, unsupported data); an unmasked frame.
	for i, size := range []int{22, 125, 126, 127, 128, 1000, 4096} {
		add(fmt.Sprintf("1.1.%d", i+1), fmt.Sprintf("text message of %d bytes", size), serves, text(pad(size)))
	}
	add("1.1.8", "text split across TCP writes (one frame)", serves, text(pad(300)))
	for i, size := range []int{0, 125, 126, 4096} {
		add(fmt.Sprintf("1.2.%d", i+1), fmt.Sprintf("binary message of %d bytes", size), closes(1003), wsFrame{b0: finBit | opBin, payload: make([]byte, size)})
	}
	add("1.3.1", "unmasked client frame", closes(1002), wsFrame{b0: finBit | opText, payload: []byte(pingJSON("")), unmasked: true})

	// 2.x Pings and pongs.
	add("2.1", "ping without payload", expect{pong: []byte{}, serve: true}, final(opPing, ""))
	add("2.2", "ping with text payload", expect{pong: []byte("Hello, world!"), serve: true}, final(opPing, "Hello, world!"))
	add("2.3", "ping with binary payload", expect{pong: []byte{0, 0xff, 0xfe, 0x80}, serve: true}, wsFrame{b0: finBit | opPing, payload: []byte{0, 0xff, 0xfe, 0x80}})
	add("2.4", "ping with 125-byte payload", expect{pong: bytes.Repeat([]byte{0xfe}, 125), serve: true}, wsFrame{b0: finBit | opPing, payload: bytes.Repeat([]byte{0xfe}, 125)})
	add("2.5", "ping with 126-byte payload", closes(1002), wsFrame{b0: finBit | opPing, payload: bytes.Repeat([]byte{0xfe}, 126)})
	add("2.6", "ping fragmented", closes(1002), frag(opPing, "ab"), final(opCont, "cd"))
	add("2.7", "unsolicited pong without payload", serves, final(opPong, ""))
	add("2.8", "unsolicited pong with payload", serves, final(opPong, "unsolicited"))
	add("2.9", "unsolicited pong, then ping", expect{pong: []byte("ping"), serve: true}, final(opPong, "pong"), final(opPing, "ping"))
	tenPings := make([]wsFrame, 10)
	for i := range tenPings {
		tenPings[i] = final(opPing, "p")
	}
	add("2.10", "10 pings", expect{pong: []byte("p"), pongs: 10, serve: true}, tenPings...)

	// 3.x Reserved bits: no extension is negotiated, so any set is a
	// protocol error, on data and control frames alike.
	for i, rsv := range []byte{0x40, 0x20, 0x10, 0x60, 0x50, 0x30, 0x70} {
		add(fmt.Sprintf("3.%d", i+1), fmt.Sprintf("text with RSV bits %03b", rsv>>4), closes(1002), wsFrame{b0: finBit | rsv | opText, payload: []byte(pingJSON(""))})
	}
	add("3.8", "ping with RSV1", closes(1002), wsFrame{b0: finBit | 0x40 | opPing, payload: []byte("x")})
	add("3.9", "close with RSV1", closes(1002), wsFrame{b0: finBit | 0x40 | opClose, payload: []byte(closeBody(1000, ""))})
	add("3.10", "valid text, then text with RSV2", closes(1002), text(pingJSON("")), wsFrame{b0: finBit | 0x20 | opText, payload: []byte(pingJSON(""))})

	// 4.x Opcodes: reserved non-control (3-7) and control (0xB-0xF) opcodes.
	for i, op := range []byte{3, 4, 5, 6, 7} {
		add(fmt.Sprintf("4.1.%d", i+1), fmt.Sprintf("reserved data opcode %d", op), closes(1002), wsFrame{b0: finBit | op, payload: []byte("x")})
	}
	for i, op := range []byte{0xB, 0xC, 0xD, 0xE, 0xF} {
		add(fmt.Sprintf("4.2.%d", i+1), fmt.Sprintf("reserved control opcode %d", op), closes(1002), wsFrame{b0: finBit | op, payload: []byte("x")})
	}
	add("4.2.6", "valid text, then reserved opcode", closes(1002), text(pingJSON("")), wsFrame{b0: finBit | 0xB})

	// 5.x Fragmentation.
	msg := pingJSON("fragmented")
	add("5.1", "ping fragmented into 2", closes(1002), frag(opPing, "a"), final(opCont, "b"))
	add("5.2", "pong fragmented into 2", closes(1002), frag(opPong, "a"), final(opCont, "b"))
	add("5.3", "text in 2 fragments", serves, frag(opText, msg[:5]), final(opCont, msg[5:]))
	add("5.4", "text in 3 fragments, the middle empty", serves, frag(opText, msg[:5]), frag(opCont, ""), final(opCont, msg[5:]))
	one := []wsFrame{frag(opText, msg[:1])}
	for i := 1; i < len(msg)-1; i++ {
		one = append(one, frag(opCont, msg[i:i+1]))
	}
	one = append(one, final(opCont, msg[len(msg)-1:]))
	add("5.5", "text in 1-byte fragments", serves, one...)
	add("5.6", "text in 2 fragments with a ping between", expect{pong: []byte("between"), serve: true}, frag(opText, msg[:5]), final(opPing, "between"), final(opCont, msg[5:]))
	add("5.7", "text in 2 fragments with a pong between", serves, frag(opText, msg[:5]), final(opPong, "x"), final(opCont, msg[5:]))
	add("5.8", "continuation with nothing to continue (FIN)", closes(1002), final(opCont, msg))
	add("5.9", "continuation with nothing to continue (not FIN)", closes(1002), frag(opCont, msg))
	add("5.10", "text fragments, then a new text before the last", closes(1002), frag(opText, msg[:5]), text(msg))
	add("5.11", "text fragments, then a binary start", closes(1002), frag(opText, msg[:5]), frag(opBin, "x"))
	add("5.12", "close fragmented", closes(1002), frag(opClose, ""), final(opCont, ""))
	add("5.13", "binary in 2 fragments", closes(1003), frag(opBin, "ab"), final(opCont, "cd"))
	add("5.14", "text, fragments together over the limit", closes(1009), frag(opText, strings.Repeat("a", 3000)), final(opCont, strings.Repeat("a", 3000)))

	// 6.x UTF-8: each valid text as a whole message and in 1-byte fragments
	// (served); each invalid one likewise (1007, and for fragments as soon as
	// the bytes cannot become UTF-8: "fail fast").
	valid := map[string]string{
		"Greek kosme":           "κόσμε",
		"U+0080":                "\u0080",
		"U+07FF":                "\u07ff",
		"U+0800":                "\u0800",
		"U+FFFD":                "\ufffd",
		"U+FFFF (noncharacter)": "\uffff",
		"U+10000":               "\U00010000",
		"U+10FFFF":              "\U0010ffff",
		"U+D7FF":                "\ud7ff",
		"U+E000":                "\ue000",
		"mixed scripts":         "Hello-µ@ßöäüàá-UTF-8!! 日本語 𝄞",
	}
	invalid := map[string]string{
		"0xFF":                           "\xff",
		"0xFE":                           "\xfe",
		"lone continuation 0x80":         "\x80",
		"lone continuation 0xBF":         "\xbf",
		"2-byte lead, no continuation":   "\xc3 ",
		"3-byte lead, one continuation":  "\xe2\x82 ",
		"4-byte lead, two continuations": "\xf0\x9f\x98 ",
		"cut off at the end":             "κόσμ\xce",
		"overlong /, 2 bytes":            "\xc0\xaf",
		"overlong /, 3 bytes":            "\xe0\x80\xaf",
		"overlong /, 4 bytes":            "\xf0\x80\x80\xaf",
		"overlong U+007F":                "\xc1\xbf",
		"overlong U+07FF":                "\xe0\x9f\xbf",
		"overlong U+FFFF":                "\xf0\x8f\xbf\xbf",
		"surrogate U+D800":               "\xed\xa0\x80",
		"surrogate U+DFFF":               "\xed\xbf\xbf",
		"surrogate pair U+D800 U+DC00":   "\xed\xa0\x80\xed\xb0\x80",
		"above U+10FFFF":                 "\xf4\x90\x80\x80",
		"5-byte sequence":                "\xf8\x88\x80\x80\x80",
		"6-byte sequence":                "\xfc\x84\x80\x80\x80\x80",
		"valid then 0xFF":                "κόσμε\xff",
		"invalid in the middle":          "κό\xedσμε",
		"continuation after ASCII":       "a\x80b",
	}
	i := 0
	for _, name := range slices.Sorted(maps.Keys(valid)) {
		i++
		p := pingJSON(valid[name])
		add(fmt.Sprintf("6.1.%d", i), "valid "+name+", whole", serves, text(p))
		add(fmt.Sprintf("6.2.%d", i), "valid "+name+", 1-byte fragments", serves, bytewise(p)...)
	}
	i = 0
	for _, name := range slices.Sorted(maps.Keys(invalid)) {
		i++
		p := pingJSON(invalid[name])
		add(fmt.Sprintf("6.3.%d", i), "invalid: "+name+", whole", closes(1007), text(p))
		add(fmt.Sprintf("6.4.%d", i), "invalid: "+name+", 1-byte fragments", closes(1007), bytewise(p)...)
	}
	add("6.5.1", "invalid UTF-8 in a first fragment, the last never sent (fail fast)", closes(1007), frag(opText, `{"type":"ping","x":"`+"\xff"))

	// 7.x Close handling.
	add("7.1.1", "close without body", closes(1000), final(opClose, ""))
	add("7.1.2", "close 1000 with a reason", closes(1000), final(opClose, closeBody(1000, "bye")))
	add("7.1.3", "close with a 123-byte reason", closes(1000), final(opClose, closeBody(1000, strings.Repeat("r", 123))))
	add("7.1.4", "close, then text: not acted on", closes(1000), final(opClose, ""), text(pingJSON("")))
	add("7.1.5", "text, then close", closes(1000), text(pingJSON("")), final(opClose, ""))
	add("7.2.1", "close with a 1-byte body", closes(1002), final(opClose, "\x03"))
	add("7.2.2", "close reason not UTF-8", closes(1007), final(opClose, closeBody(1000, "\xce\xba\xff")))
	for k, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		add(fmt.Sprintf("7.3.%d", k+1), fmt.Sprintf("close with valid code %d", code), closes(1000), final(opClose, closeBody(code, "")))
	}
	for k, code := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		add(fmt.Sprintf("7.4.%d", k+1), fmt.Sprintf("close with invalid code %d", code), closes(1002), final(opClose, closeBody(code, "")))
	}

	// 9.x Limits: --max-frame (4096) and --max-frame-rate (100 a second,
	// a second's burst).
	add("9.1.1", "text of exactly --max-frame bytes", serves, text(pad(4096)))
	add("9.1.2", "text of --max-frame + 1 bytes", closes(1009), text(pad(4097)))
	add("9.1.3", "a frame header announcing 2^62 bytes", closes(1009), wsFrame{b0: finBit | opText, payload: nil}.withLength(1<<62))
	many := make([]wsFrame, 90)
	for k := range many {
		many[k] = text(pingJSON(""))
	}
	add("9.2.1", "90 small messages at once (within the rate's burst)", serves, many...)
	flood := make([]wsFrame, 300)
	for k := range flood {
		flood[k] = text(pingJSON(""))
	}
	add("9.2.2", "300 small messages at once (over --max-frame-rate)", closes(1008), flood...)
	return cs
}

// withLength is a frame whose header announces n bytes but carries none
// (the server must refuse it from the header).
func (f wsFrame) withLength(n uint64) wsFrame {
	b := []byte{f.b0, 0x80 | 127}
	b = binary.BigEndian.AppendUint64(b, n)
	return wsFrame{raw: append(b, 1, 2, 3, 4)} // and the mask
}

// bytewise is a text message in 1-byte fragments.
func bytewise(p string) []wsFrame {
	fs := []wsFrame{frag(opText, p[:1])}
	for i := 1; i < len(p)-1; i++ {
		fs = append(fs, frag(opCont, p[i:i+1]))
	}
	return append(fs, final(opCont, p[len(p)-1:]))
}

// wsConn is the suite's raw client.
type wsConn struct {
	t       *testing.T
	c       net.Conn
	br      *bufio.Reader
	deflate bool // permessage-deflate was agreed: server frames may have RSV1
}

// dialOffer connects with offer as Sec-WebSocket-Extensions (none if
// empty) and returns the server's answer to it.
func dialOffer(t *testing.T, addr, token, offer string) (*wsConn, string) {
	t.Helper()
	ext := ""
	if offer != "" {
		ext = "Sec-WebSocket-Extensions: " + offer + "\r\n"
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(c, "GET /ws?token=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", token, addr, ext)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %d %v", resp.StatusCode, resp.Header)
	}
	answer := resp.Header.Get("Sec-WebSocket-Extensions")
	w := &wsConn{t: t, c: c, br: br, deflate: answer != ""}
	if op, p := w.read(); op != opText || !bytes.Contains(p, []byte(`"type":"hello"`)) {
		t.Fatalf("first frame: op %d %s", op, p)
	}
	return w, answer
}

// read returns the next server frame, inflated if it came compressed.
// Server frames must be unmasked, FIN (Herald does not fragment) and
// without RSV bits, but for RSV1 on a data frame once permessage-deflate
// was agreed.
func (w *wsConn) read() (byte, []byte) {
	w.t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return 0, nil // closed
	}
	compressed := h[0]&0x40 != 0 && w.deflate && h[0]&0x0f < opClose
	if h[0]&0x70 != 0 && !compressed || h[0]&0x30 != 0 || h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		w.t.Fatalf("server frame header %08b %08b: RSV set, not FIN, or masked", h[0], h[1])
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		io.ReadFull(w.br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		io.ReadFull(w.br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(w.br, p); err != nil {
		w.t.Fatalf("frame body: %v", err)
	}
	if compressed {
		p = inflateFrame(w.t, p)
	}
	return h[0] & 0x0f, p
}

func runCase(t *testing.T, addr, token string, c wsCase) {
	w, _ := dialOffer(t, addr, token, c.offer)
	var out []byte
	texts := 0 // whole text messages sent: each is answered with a JSON pong
	for _, f := range c.send {
		out = append(out, f.bytes()...)
		if f.raw == nil && f.b0&finBit != 0 && (f.b0&0x0f == opText || f.b0&0x0f == opCont) {
			texts++
		}
	}
	if c.id == "1.1.8" { // the same frame, in three writes
		for _, part := range [][]byte{out[:1], out[1:7], out[7:]} {
			w.c.Write(part)
		}
	} else if _, err := w.c.Write(out); err != nil && c.want.close == 0 {
		t.Fatal(err)
	}
	if c.want.serve {
		w.c.Write(text(`{"type":"ping"}`).bytes()) // the last answer says it still serves
		texts++
	}
	wantPongs := 0
	if c.want.pong != nil {
		wantPongs = max(c.want.pongs, 1)
	}
	pongs, textPongs := 0, 0
	for {
		if c.want.close == 0 && pongs == wantPongs && textPongs == texts {
			return // everything answered, and still serving
		}
		op, p := w.read()
		switch op {
		case opPong:
			if c.want.pong == nil || !bytes.Equal(p, c.want.pong) {
				t.Fatalf("pong %q, want %q", p, c.want.pong)
			}
			pongs++
		case opText:
			if string(p) != `{"type":"pong"}` {
				t.Fatalf("unexpected text frame %q", p)
			}
			textPongs++
		case opClose:
			if c.want.close == 0 {
				t.Fatalf("closed %q, want it to keep serving", p)
			}
			if len(p) < 2 {
				t.Fatalf("close without a code, want %d", c.want.close)
			}
			if code := int(binary.BigEndian.Uint16(p)); code != c.want.close {
				t.Fatalf("closed with %d %q, want %d", code, p[2:], c.want.close)
			}
			if !utf8.Valid(p[2:]) {
				t.Fatalf("the server's close reason %q is not UTF-8", p[2:])
			}
			if pongs != wantPongs {
				t.Fatalf("%d pongs before the close, want %d", pongs, wantPongs)
			}
			w.c.Write(final(opClose, closeBody(1000, "")).bytes())
			return
		case 0:
			t.Fatalf("connection ended without a close frame (want %+v)", c.want)
		default:
			t.Fatalf("unexpected frame op %d %q", op, p)
		}
	}
}
