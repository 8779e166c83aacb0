package ws

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
)

// permessage-deflate (RFC 7692), with no context takeover in either
// direction: each message is compressed and inflated on its own, so a
// connection keeps no compressor or window between messages and an idle
// one costs what it costs without compression. The compressor is
// klauspost/compress's stateless deflate (no writer to pool at all); the
// inflaters are pooled readers.

// deflateTail is what a sync flush ends with; RFC 7692 section 7.2.1 has
// the sender remove it and the receiver add it back.
const deflateTail = "\x00\x00\xff\xff"

// inflateEnd is the tail plus an empty final block, so the inflater ends
// cleanly at the message's end (anything it reports then is bad data).
const inflateEnd = deflateTail + "\x01\x00\x00\xff\xff"

// DeflateResponse is the Sec-WebSocket-Extensions answer to an accepted
// offer: no context takeover either way, which a server may ask for
// whether or not the client offered it (RFC 7692 section 7.1.1).
const DeflateResponse = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

// NegotiateDeflate reads the permessage-deflate offers of a handshake's
// Sec-WebSocket-Extensions, in order, and returns the answer to the first
// one this server accepts, or "" for none. An offer with an unknown or
// repeated parameter, or an invalid value, is declined (section 7.1); so
// is one that limits the server's window below 15 bits, since a message
// compressed on its own may still refer back up to 32 KiB.
func NegotiateDeflate(h http.Header) string {
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		for offer := range strings.SplitSeq(v, ",") {
			if answer, ok := acceptDeflate(offer); ok {
				return answer
			}
		}
	}
	return ""
}

func acceptDeflate(offer string) (string, bool) {
	parts := strings.Split(offer, ";")
	if !strings.EqualFold(strings.TrimSpace(parts[0]), "permessage-deflate") {
		return "", false
	}
	seen := map[string]bool{}
	answer := DeflateResponse
	for _, p := range parts[1:] {
		name, value, hasValue := strings.Cut(strings.TrimSpace(p), "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if seen[name] {
			return "", false
		}
		seen[name] = true
		value = strings.Trim(strings.TrimSpace(value), `"`)
		switch name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasValue {
				return "", false
			}
		case "server_max_window_bits":
			if !hasValue || windowBits(value) != 15 {
				return "", false
			}
			answer += "; server_max_window_bits=15"
		case "client_max_window_bits":
			// Any window the client likes: the inflater takes every size.
			if hasValue && windowBits(value) == 0 {
				return "", false
			}
		default:
			return "", false
		}
	}
	return answer, true
}

// windowBits reads a window size parameter: 8 to 15, or 0 if invalid.
func windowBits(v string) int {
	if len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 {
		return 0
	}
	return n
}

var deflateBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// AppendDeflated appends payload as one compressed, unfragmented server
// frame (RSV1 set) to dst.
func AppendDeflated(dst []byte, op Opcode, payload []byte) []byte {
	buf := deflateBufs.Get().(*bytes.Buffer)
	buf.Reset()
	_ = flate.StatelessDeflate(buf, payload, false, nil) // a bytes.Buffer takes every write
	b := bytes.TrimSuffix(buf.Bytes(), []byte(deflateTail))
	dst = appendHeader(dst, 0x80|rsv1|byte(op), len(b))
	dst = append(dst, b...)
	deflateBufs.Put(buf)
	return dst
}

// inflaters are pooled, as a flate reader holds a 32 KiB window.
var inflaters sync.Pool

var inflatedBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// inflate decompresses a message's payload into a pooled buffer, which the
// caller returns with inflatedBufs.Put; at most max bytes, else 1009, and
// data that is not deflate is 1007.
func inflate(payload []byte, max int64) (*[]byte, error) {
	src := io.MultiReader(bytes.NewReader(payload), strings.NewReader(inflateEnd))
	var r io.ReadCloser
	if v := inflaters.Get(); v != nil {
		r = v.(io.ReadCloser)
		_ = r.(flate.Resetter).Reset(src, nil)
	} else {
		r = flate.NewReader(src)
	}
	defer inflaters.Put(r)
	out := inflatedBufs.Get().(*[]byte)
	b := (*out)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > max {
			*out = b[:0]
			inflatedBufs.Put(out)
			return nil, &ProtocolError{CloseTooBig, "message over " + strconv.FormatInt(max, 10) + " bytes once inflated"}
		}
		if err == io.EOF {
			*out = b
			return out, nil
		}
		if err != nil {
			*out = b[:0]
			inflatedBufs.Put(out)
			return nil, &ProtocolError{CloseInvalidData, "compressed message is not valid deflate data"}
		}
	}
}
