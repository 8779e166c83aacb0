package pebble

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

// A record written by hand reads back as the record json.Marshal wrote,
// with the payload byte for byte as collect kept it.
func TestAppendRecord(t *testing.T) {
	at := time.UnixMilli(1790000000123)
	msgs := []*herald.Message{
		{Time: at, Payload: json.RawMessage(`{"t":1}`), Users: []string{"u1"}, Seqs: []herald.Seq{1}},
		{Time: at, Topic: "news", Payload: json.RawMessage(`"<b>&amp;</b> é \u2028"`), Users: []string{"a", "b.c@d:e"}, Seqs: []herald.Seq{7, 18446744073709551615}},
		{Time: at, Topic: `odd "topic" \ é`, Payload: json.RawMessage(`[1,2,{"x":null}]`), Users: []string{`#topic:"q"`}, Seqs: []herald.Seq{3}},
		{Time: at, Payload: nil, Users: nil, Seqs: nil},
	}
	for _, m := range msgs {
		raw := appendRecord(nil, m)
		if !json.Valid(raw) {
			t.Fatalf("not JSON: %s", raw)
		}
		var got record
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		want := record{TS: at.UnixMilli(), Topic: m.Topic, Payload: m.Payload, Users: m.Users, Seqs: m.Seqs}
		if m.Payload == nil {
			want.Payload = json.RawMessage("null")
		}
		if want.Users == nil {
			want.Users = []string{}
		}
		if want.Seqs == nil {
			want.Seqs = []herald.Seq{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s read back as %+v, want %+v", raw, got, want)
		}
		if m.Payload != nil && !bytes.Equal(got.Payload, m.Payload) {
			t.Errorf("payload %s stored as %s", m.Payload, got.Payload)
		}
	}
}

func BenchmarkAppendRecord(b *testing.B) {
	m := &herald.Message{Time: time.Now(), Payload: json.RawMessage(`{"t":1790000000000000000}`), Users: []string{"bench-u1234"}, Seqs: []herald.Seq{42}}
	var raw []byte
	b.ReportAllocs()
	for b.Loop() {
		raw = appendRecord(raw[:0], m)
	}
}
