package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// UnmarshalJSON decodes a token's claims with the types RFC 7519 gives them,
// which encoding/json alone does not enforce: a NumericDate (exp, nbf, iat)
// is a JSON number, not a string holding one; sub, iss and jti are strings;
// aud is a string or an array of strings; Herald's topics is an array of
// strings. A claim of another type refuses the token, in every token mode,
// rather than being read loosely (an exp of "9999999999" was accepted).
func (c *claims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	for name, v := range raw {
		want, ok := claimTypes[name]
		if ok && !want.is(v) {
			return fmt.Errorf("claim %q must be %s", name, want.name)
		}
	}
	type plain claims // without this method
	return json.Unmarshal(b, (*plain)(c))
}

// claimType is the JSON type a claim must have.
type claimType struct {
	name string
	is   func(v json.RawMessage) bool
}

var (
	numberClaim = claimType{"a number (NumericDate)", func(v json.RawMessage) bool { return kind(v) == 'n' }}
	stringClaim = claimType{"a string", func(v json.RawMessage) bool { return kind(v) == 's' }}
	listClaim   = claimType{"an array of strings", isStringArray}
	audClaim    = claimType{"a string or an array of strings", func(v json.RawMessage) bool { return kind(v) == 's' || isStringArray(v) }}
	claimTypes  = map[string]claimType{
		"exp": numberClaim, "nbf": numberClaim, "iat": numberClaim,
		"sub": stringClaim, "iss": stringClaim, "jti": stringClaim,
		"aud": audClaim, "topics": listClaim,
	}
)

// kind is a JSON value's type by its first byte: 'n' number, 's' string,
// 'a' array, 'o' object, 'l' literal (true, false, null).
func kind(v json.RawMessage) byte {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return 0
	}
	switch c := v[0]; {
	case c == '"':
		return 's'
	case c == '[':
		return 'a'
	case c == '{':
		return 'o'
	case c == '-' || (c >= '0' && c <= '9'):
		return 'n'
	}
	return 'l'
}

func isStringArray(v json.RawMessage) bool {
	var items []json.RawMessage
	if kind(v) != 'a' || json.Unmarshal(v, &items) != nil {
		return false
	}
	for _, it := range items {
		if kind(it) != 's' {
			return false
		}
	}
	return true
}
