package utf8x

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestFirstInvalidAndRepair(t *testing.T) {
	for _, c := range []struct {
		in   string
		at   int
		want string
	}{
		{"café", -1, "café"},
		{"caf\xff\xfe", 3, "caf\uFFFD\uFFFD"},
		{"\xc3", 0, "\uFFFD"},                         // cut off
		{"a\xed\xa0\x80b", 1, "a\uFFFD\uFFFD\uFFFDb"}, // a surrogate
		{"\xc0\xaf", 0, "\uFFFD\uFFFD"},               // overlong
		{"", -1, ""},
	} {
		if got := FirstInvalid([]byte(c.in)); got != c.at {
			t.Errorf("FirstInvalid(%q) = %d, want %d", c.in, got, c.at)
		}
		if got := string(Repair([]byte(c.in))); got != c.want {
			t.Errorf("Repair(%q) = %q, want %q", c.in, got, c.want)
		}
		// The same replacement encoding/json makes.
		j, _ := json.Marshal(c.in)
		var back string
		json.Unmarshal(j, &back)
		if back != c.want {
			t.Errorf("encoding/json makes %q of %q; Repair %q", back, c.in, c.want)
		}
	}
}

func TestValidPrefix(t *testing.T) {
	for in, want := range map[string]bool{
		"":                 true,
		"abc":              true,
		"\xce":             true, // the first byte of κ
		"\xce\xba\xe1":     true, // κ, then the first of ό
		"\xce\xba\xe1\xbd": true,
		"\xf4\x8f\xbf":     true,  // U+10FFFF, cut off
		"\xf4\x90":         false, // over U+10FFFF
		"\xed\xa0":         false, // a surrogate, at its second byte
		"\xe0\x80":         false, // overlong, at its second byte
		"\xc0":             false, // never a lead byte
		"\xff":             false,
		"\x80":             false,
		"a\xffb\xce":       false,
		"\xce\xba\xce\xba": true,
	} {
		if got := ValidPrefix([]byte(in)); got != want {
			t.Errorf("ValidPrefix(%q) = %v, want %v", in, got, want)
		}
	}
	// Every cut of a valid text is a valid prefix.
	s := []byte("κόσμε 𝄞 ü ab")
	for i := range len(s) + 1 {
		if !ValidPrefix(s[:i]) {
			t.Fatalf("cut at %d (%q) refused", i, s[:i])
		}
	}
	if !utf8.Valid(s) {
		t.Fatal("test text")
	}
}

func FuzzValidPrefix(f *testing.F) {
	f.Add([]byte("κόσμε"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// A valid text's every prefix passes; and what passes, completed
		// with the right bytes, is valid: checked as "valid implies prefix".
		if utf8.Valid(b) {
			for i := range len(b) + 1 {
				if !ValidPrefix(b[:i]) {
					t.Fatalf("valid %q: prefix %d refused", b, i)
				}
			}
		}
		if ValidPrefix(b) && FirstInvalid(b) >= 0 && FirstInvalid(b) < len(b)-3 {
			t.Fatalf("%q passes with an invalid byte at %d", b, FirstInvalid(b))
		}
	})
}
