package ws

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"

	"github.com/heraldpush/herald/internal/utf8x"
)

// Opcode is a frame's type.
type Opcode byte

// Opcodes of RFC 6455 section 5.2.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// Close codes of RFC 6455 section 7.4.1 that the parser itself produces.
const (
	CloseNormal      = 1000
	CloseProtocol    = 1002
	CloseNoStatus    = 1005
	CloseInvalidData = 1007
	CloseTooBig      = 1009
)

// ProtocolError is a violation of the framing by the peer: the connection
// must be closed with Code and Reason.
type ProtocolError struct {
	Code   int
	Reason string
}

func (e *ProtocolError) Error() string {
	return "websocket: " + e.Reason + " (" + strconv.Itoa(e.Code) + ")"
}

// Parser turns the byte stream of one client connection into messages and
// control frames. It is fed what each read returns and keeps only an
// incomplete frame (or fragmented message) between reads: nil when idle.
type Parser struct {
	// MaxMessage bounds a message's payload (all its fragments, and again
	// once inflated); a larger one is refused with 1009 as soon as its
	// header (or the inflater) says so.
	MaxMessage int64

	partial     []byte // bytes of a frame not yet complete
	msg         []byte // fragments so far of a message not yet complete
	msgOp       Opcode // its opcode; 0 when no message is in progress
	msgDeflated bool   // the message in progress is compressed

	// Deflate: permessage-deflate was negotiated (NegotiateDeflate), so a
	// message's first frame may have RSV1 set: its payload is compressed.
	// (Last, beside the other small fields: a parser is in every connection.)
	Deflate bool
}

// rsv1 is the first header byte's bit that marks a compressed message.
const rsv1 = 0x40

// Idle reports whether the parser holds nothing between reads: no partial
// frame and no message in progress, so the next byte starts a frame.
func (p *Parser) Idle() bool { return len(p.partial) == 0 && p.msgOp == 0 }

// OnlyPongs reports whether b is nothing but whole, well-formed client
// pongs (FIN, no RSV bits, masked as a client frame must be, under 126
// bytes): what a connection that answers pings and says nothing else
// sends, which a reader can note without parsing. Anything else, including
// a pong cut across two reads, is false and is the Parser's.
func OnlyPongs(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 6 || b[0] != 0x80|byte(OpPong) || b[1]&0x80 == 0 || b[1]&0x7f > 125 {
			return false
		}
		n := 6 + int(b[1]&0x7f)
		if len(b) < n {
			return false
		}
		b = b[n:]
	}
	return true
}

// Feed parses data and calls fn with each complete message (text or binary,
// fragments joined) and each control frame, in order. The payload is valid
// only during the call. A framing violation returns a *ProtocolError; an
// error from fn stops parsing and is returned as is.
func (p *Parser) Feed(data []byte, fn func(op Opcode, payload []byte) error) error {
	if len(p.partial) > 0 {
		p.partial = append(p.partial, data...)
		data, p.partial = p.partial, nil
	}
	for len(data) > 0 {
		n, err := p.frame(data, fn)
		if err != nil {
			return err
		}
		if n == 0 { // incomplete: keep it for the next read
			p.partial = append(make([]byte, 0, len(data)), data...)
			return nil
		}
		data = data[n:]
	}
	return nil
}

// frame handles the frame at the start of b and returns its length, or 0
// when b does not yet hold all of it.
func (p *Parser) frame(b []byte, fn func(Opcode, []byte) error) (int, error) {
	if len(b) < 2 {
		return 0, nil
	}
	fin := b[0]&0x80 != 0
	op := Opcode(b[0] & 0x0f)
	deflated := b[0]&rsv1 != 0
	switch {
	case b[0]&0x30 != 0, deflated && !p.Deflate:
		return 0, &ProtocolError{CloseProtocol, "reserved bits set (no extension was negotiated that uses them)"}
	case deflated && op != OpText && op != OpBinary:
		return 0, &ProtocolError{CloseProtocol, "RSV1 set on a control or continuation frame"}
	}
	if b[1]&0x80 == 0 {
		return 0, &ProtocolError{CloseProtocol, "client frames must be masked"}
	}
	hdr, size := 2, uint64(b[1]&0x7f)
	switch size {
	case 126:
		if len(b) < 4 {
			return 0, nil
		}
		hdr, size = 4, uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return 0, nil
		}
		hdr, size = 10, binary.BigEndian.Uint64(b[2:])
	}
	switch op {
	case OpClose, OpPing, OpPong:
		if !fin || size > 125 {
			return 0, &ProtocolError{CloseProtocol, "control frames must be whole and at most 125 bytes"}
		}
	case OpText, OpBinary:
		if p.msgOp != 0 {
			return 0, &ProtocolError{CloseProtocol, "new message before the previous one's last fragment"}
		}
	case OpContinuation:
		if p.msgOp == 0 {
			return 0, &ProtocolError{CloseProtocol, "continuation frame with no message to continue"}
		}
	default:
		return 0, &ProtocolError{CloseProtocol, "unknown opcode " + strconv.Itoa(int(op))}
	}
	if op < OpClose && (size > uint64(p.MaxMessage) || uint64(len(p.msg))+size > uint64(p.MaxMessage)) {
		return 0, &ProtocolError{CloseTooBig, "frame over " + strconv.FormatInt(p.MaxMessage, 10) + " bytes"}
	}
	total := uint64(hdr) + 4 + size
	if uint64(len(b)) < total {
		return 0, nil
	}
	mask := b[hdr : hdr+4]
	payload := b[hdr+4 : total]
	for i := range payload {
		payload[i] ^= mask[i&3]
	}
	n := int(total)
	switch {
	case op == OpClose:
		if err := checkClose(payload); err != nil {
			return 0, err
		}
		return n, fn(op, payload)
	case op > OpClose:
		return n, fn(op, payload)
	case fin && op != OpContinuation:
		return n, p.deliver(op, deflated, payload, fn)
	case op != OpContinuation: // first fragment
		p.msgOp, p.msgDeflated = op, deflated
		p.msg = append(p.msg[:0], payload...)
		return n, p.checkFragment()
	case !fin:
		p.msg = append(p.msg, payload...)
		return n, p.checkFragment()
	default: // last fragment
		msg, mop, deflated := append(p.msg, payload...), p.msgOp, p.msgDeflated
		p.msg, p.msgOp, p.msgDeflated = nil, 0, false
		return n, p.deliver(mop, deflated, msg, fn)
	}
}

// deliver hands a whole message to fn: inflated if it came compressed,
// and checked as UTF-8 if it is text.
func (p *Parser) deliver(op Opcode, deflated bool, msg []byte, fn func(Opcode, []byte) error) error {
	if deflated {
		out, err := inflate(msg, p.MaxMessage)
		if err != nil {
			return err
		}
		defer inflatedBufs.Put(out)
		msg = *out
	}
	if op == OpText && !utf8.Valid(msg) {
		return errInvalidText
	}
	return fn(op, msg)
}

var errInvalidText = &ProtocolError{CloseInvalidData, "text message is not valid UTF-8"}

// checkFragment fails a fragmented text message as soon as its bytes so far
// can no longer become valid UTF-8 (RFC 6455 section 8.1: fail fast, as
// Autobahn's cases 6.x expect), rather than after its last fragment.
// A compressed message's bytes say nothing until inflated.
func (p *Parser) checkFragment() error {
	if p.msgOp == OpText && !p.msgDeflated && !utf8x.ValidPrefix(p.msg) {
		return errInvalidText
	}
	return nil
}

// checkClose checks a close frame's body (RFC 6455 sections 5.5.1 and
// 7.4): empty, or a status code that may be sent on the wire followed by a
// UTF-8 reason.
func checkClose(payload []byte) error {
	switch {
	case len(payload) == 0:
		return nil
	case len(payload) == 1:
		return &ProtocolError{CloseProtocol, "close frame with a 1-byte body (a status code is 2 bytes)"}
	}
	if code := int(binary.BigEndian.Uint16(payload)); !ValidCloseCode(code) {
		return &ProtocolError{CloseProtocol, "close code " + strconv.Itoa(code) + " may not be sent"}
	}
	if !utf8.Valid(payload[2:]) {
		return &ProtocolError{CloseInvalidData, "close reason is not valid UTF-8"}
	}
	return nil
}

// ValidCloseCode reports whether a close frame may carry code (RFC 6455
// section 7.4 and IANA's registry): 1000-1003 and 1007-1014 of the protocol's
// own, 3000-3999 registered for libraries and frameworks, 4000-4999 private.
// 1004 is reserved, 1005, 1006 and 1015 must never be sent, and 0-999,
// 1016-2999 and 5000 up are not assigned.
func ValidCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// AppendFrame appends one unmasked, unfragmented server frame to dst.
func AppendFrame(dst []byte, op Opcode, payload []byte) []byte {
	return append(appendHeader(dst, 0x80|byte(op), len(payload)), payload...)
}

// appendHeader appends a server frame's header: its first byte (FIN, RSV
// bits, opcode) and the length of a payload of n bytes.
func appendHeader(dst []byte, first byte, n int) []byte {
	switch {
	case n <= 125:
		return append(dst, first, byte(n))
	case n <= 0xffff:
		return append(dst, first, 126, byte(n>>8), byte(n))
	}
	dst = append(dst, first, 127)
	return binary.BigEndian.AppendUint64(dst, uint64(n))
}

// ClosePayload is a close frame's body: the code, then the reason cut to
// fit the 125-byte control frame limit without splitting a character.
func ClosePayload(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	return append(b, reason...)
}

// ParseClose reads a close frame's body; an empty one is 1005 (no status).
func ParseClose(payload []byte) (code int, reason string) {
	if len(payload) < 2 {
		return CloseNoStatus, ""
	}
	return int(binary.BigEndian.Uint16(payload)), string(payload[2:])
}
