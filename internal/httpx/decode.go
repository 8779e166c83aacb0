package httpx

import (
	"bytes"
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/utf8x"
)

// strict is encoding/json's (v1) decoding, names matched as v1 matches
// them, with unknown fields refused. Joined once: options built per call
// were a tenth of a send request's garbage.
var strict = jsonv2.JoinOptions(json.DefaultOptionsV1(), jsonv2.RejectUnknownMembers(true))

// Decode reads a JSON body of at most limit bytes into v. Unknown fields are
// refused, so a typo in a field name is an error instead of a silent default,
// and so is anything but white space after the value.
//
// The body is read whole and decoded from memory (a streaming json.Decoder
// per request was a quarter of a send request's garbage). The decoded value
// does not keep the bytes: json.RawMessage and strings are copies.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return herald.Errorf(herald.EUnsupported, "Content-Type must be application/json")
		}
	}
	data, release, err := readBody(w, r, limit)
	defer release()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return herald.Errorf(herald.ETooLarge, "request body over %d bytes", limit)
		}
		return herald.Errorf(herald.EInvalid, "malformed JSON: reading the body: %v", err)
	}
	if i := utf8x.FirstInvalid(data); i >= 0 {
		// JSON is UTF-8 (RFC 8259), and what Herald stores goes out in
		// WebSocket text frames that must be (RFC 6455 section 8.1).
		// encoding/json would quietly make each bad byte U+FFFD, or keep it
		// in a json.RawMessage; refused instead, naming where it is.
		return herald.Errorf(herald.EInvalid, "%s: not valid UTF-8 (byte %d of the body)", fieldAt(data, i), i)
	}
	if err := jsonv2.Unmarshal(data, v, strict); err != nil {
		return herald.Errorf(herald.EInvalid, "malformed JSON: %v", err)
	}
	return nil
}

// fieldAt names the JSON value of data that holds byte i, the way the other
// 400s name fields: "messages[1].payload.text". It is "body" when the value
// cannot be found (the JSON is malformed before it).
func fieldAt(data []byte, i int) string {
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowInvalidUTF8(true))
	for {
		if _, err := dec.ReadToken(); err != nil {
			return "body"
		}
		if dec.InputOffset() > int64(i) {
			break
		}
	}
	var b strings.Builder
	for tok := range dec.StackPointer().Tokens() {
		if n, err := strconv.Atoi(tok); err == nil && n >= 0 {
			fmt.Fprintf(&b, "[%d]", n)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strings.ToValidUTF8(tok, "\ufffd"))
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

// Buffered is a request body already in memory (the send lane's): Decode
// reads it in place.
type Buffered interface {
	Bytes() []byte // the unread body
}

// bodies recycles the buffers net/http's bodies are read into.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// keepBody is the largest body buffer put back for reuse, so that one large
// batch does not pin its megabytes in the pool.
const keepBody = 64 << 10

// readBody returns r's body, at most limit bytes, and a function that frees
// it once decoded.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, func(), error) {
	if b, ok := r.Body.(Buffered); ok {
		data := b.Bytes()
		if int64(len(data)) > limit {
			return nil, func() {}, &http.MaxBytesError{Limit: limit}
		}
		return data, func() {}, nil
	}
	buf := bodies.Get().(*bytes.Buffer)
	buf.Reset()
	release := func() {
		if buf.Cap() <= keepBody {
			bodies.Put(buf)
		}
	}
	if r.ContentLength > 0 && r.ContentLength <= limit {
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	return buf.Bytes(), release, err
}
