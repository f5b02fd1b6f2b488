// Package redact keeps secrets out of logs, errors and output.
//
// A [Secret] holds secret bytes (a key, a passphrase, a PIN). Its bytes are
// read only by an explicit call to [Secret.Bytes]; every other way of
// looking at it prints [Redacted]:
//
//   - fmt, with every verb (%v %+v %#v %s %q %x %X %d ...), at the top level
//     and inside structs, slices, maps and wrapped errors;
//   - log/slog, through [Secret.LogValue];
//   - encoding/json and every encoding.TextMarshaler user.
//
// A Secret's only field is a pointer to a pointer. Where fmt prints a value
// by reflection instead of calling its methods (a Secret in an unexported
// struct field, or after a verb that does not fit, "%!s(...)"), it follows at
// most one pointer, so it prints an address, never the bytes.
//
// # Logging
//
// [NewHandler] wraps a [log/slog.Handler] and replaces, recursively in
// groups, the value of every attribute whose key names a secret and every
// []byte or byte-array value, whatever its key. See [SecretKey] for the
// exact rule.
//
// # Reading
//
// [ReadSecret] reads a secret file (a keyring, a key, a passphrase) into
// one buffer sized up front, so that no stale partial copy is left in
// memory for the caller's zeroing to miss.
//
// # Scanning
//
// [ScanForSecret] looks for a secret in bytes in every encoding a leak
// usually takes (raw, hex, base64 in all its variants including PEM bodies,
// and Go's own %v, %#v and %q forms of a byte slice). It is for tests and
// audits: tests of other packages run it over logs, errors and outputs.
package redact

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what every formatting path of a secret prints.
const Redacted = "[REDACTED]"

// Secret holds secret bytes. The zero value holds none.
//
// The formatting methods have value receivers, so that a Secret held by
// value (in a struct field, a slice or a map) redacts as well as a *Secret;
// Bytes, Len, Zero and Equal have pointer receivers and accept nil.
type Secret struct {
	p **[]byte
}

// NewSecret returns a Secret holding b. It takes ownership of b: the caller
// must not use b afterwards except through the Secret, and [Secret.Zero]
// overwrites it.
func NewSecret(b []byte) *Secret {
	pb := &b
	return &Secret{p: &pb}
}

// Bytes returns the secret bytes themselves, not a copy. The slice is
// valid until [Secret.Zero]; callers must not retain or modify it.
func (s *Secret) Bytes() []byte {
	if s == nil || s.p == nil {
		return nil
	}
	return **s.p
}

// Len returns the number of secret bytes.
func (s *Secret) Len() int {
	return len(s.Bytes())
}

// Zero overwrites the secret bytes with zeros and empties the Secret:
// afterwards Bytes returns nil and Len 0, for s and for every copy of the
// Secret value, so that a zeroed key cannot be used by mistake.
func (s *Secret) Zero() {
	if s == nil || s.p == nil {
		return
	}
	clear(**s.p)
	**s.p = nil
}

// Equal reports whether s and o hold the same bytes, in time that depends
// only on their lengths.
func (s *Secret) Equal(o *Secret) bool {
	return subtle.ConstantTimeCompare(s.Bytes(), o.Bytes()) == 1
}

// String returns [Redacted].
func (Secret) String() string { return Redacted }

// GoString returns [Redacted] (the %#v form).
func (Secret) GoString() string { return Redacted }

// Format prints [Redacted] for every verb.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue returns [Redacted] as a string value for log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON returns the JSON string "[REDACTED]".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns [Redacted].
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// UnmarshalJSON reads a JSON string into the secret (for request bodies
// that carry a password or a code). A string without escapes is copied
// straight from the input, so no Go string copy of it is left to the
// garbage collector; one with escapes is decoded by encoding/json. null
// leaves the secret empty.
func (s *Secret) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var b []byte
	if n := len(data); n >= 2 && data[0] == '"' && data[n-1] == '"' && !bytes.ContainsAny(data[1:n-1], "\\\"") {
		b = append([]byte(nil), data[1:n-1]...)
	} else {
		var str string
		if err := json.Unmarshal(data, &str); err != nil {
			return fmt.Errorf("a secret must be a JSON string")
		}
		b = []byte(str)
	}
	*s = *NewSecret(b)
	return nil
}
