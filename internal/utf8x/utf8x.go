// Package utf8x holds the UTF-8 checks Herald's edge needs beyond
// unicode/utf8: where the first invalid byte is (to name it in a 400), a
// repair that replaces each invalid byte with U+FFFD the way encoding/json
// does when it marshals a string, and a check of a text message that
// arrives in fragments, which must fail as soon as its bytes can no longer
// become valid UTF-8 (RFC 6455 section 8.1).
package utf8x

import "unicode/utf8"

// FirstInvalid returns the offset of the first byte of b that is not part of
// a valid UTF-8 sequence, or -1 when b is valid.
func FirstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// Repair returns b with each byte that is not part of a valid UTF-8
// sequence replaced by U+FFFD, as encoding/json replaces them; b itself when
// it is valid.
func Repair(b []byte) []byte {
	i := FirstInvalid(b)
	if i < 0 {
		return b
	}
	out := make([]byte, 0, len(b)+8)
	out = append(out, b[:i]...)
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
			i++
			continue
		}
		out = append(out, b[i:i+n]...)
		i += n
	}
	return out
}

// ValidPrefix reports whether b can still begin a valid UTF-8 text: every
// complete sequence is valid, and a sequence cut off at the end is one that
// more bytes could complete. A fragmented text message is checked with it
// as each fragment arrives, and with utf8.Valid once the last has.
func ValidPrefix(b []byte) bool {
	// Only the last 3 bytes can hold a sequence cut off at the end: find
	// the last byte that starts one.
	start := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			start = i
			break
		}
	}
	// b[start:] is the last sequence's start (if any is cut off).
	if start < len(b) && !utf8.FullRune(b[start:]) {
		return utf8.Valid(b[:start]) && completable(b[start:])
	}
	return utf8.Valid(b)
}

// completable reports whether an incomplete sequence can still be
// completed: its lead byte starts a multi-byte sequence and each byte after
// it is in the range the lead byte allows (so an overlong or surrogate
// encoding fails at its second byte, as a strict decoder does).
func completable(p []byte) bool {
	lo, hi := byte(0x80), byte(0xBF)
	switch c := p[0]; {
	case c >= 0xC2 && c <= 0xDF:
	case c == 0xE0:
		lo = 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
	case c == 0xED:
		hi = 0x9F
	case c == 0xF0:
		lo = 0x90
	case c >= 0xF1 && c <= 0xF3:
	case c == 0xF4:
		hi = 0x8F
	default:
		return false
	}
	for i, c := range p[1:] {
		if i == 0 && (c < lo || c > hi) || i > 0 && (c < 0x80 || c > 0xBF) {
			return false
		}
	}
	return true
}
