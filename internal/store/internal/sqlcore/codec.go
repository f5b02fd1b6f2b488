package sqlcore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// chainFormat is the first byte of an encoded certificate chain.
const chainFormat = 1

// EncodeChain encodes a list of DER certificates as a format byte followed
// by (uvarint length, bytes) per certificate. A nil list is SQL NULL; an
// empty one is the format byte alone, so it stays distinct.
func EncodeChain(chain [][]byte) []byte {
	if chain == nil {
		return nil
	}
	n := 1
	for _, c := range chain {
		n += binary.MaxVarintLen64 + len(c)
	}
	b := make([]byte, 1, n)
	b[0] = chainFormat
	for _, c := range chain {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

var errChain = errors.New("stored certificate chain is malformed")

// DecodeChain reverses EncodeChain; every element is non-nil.
func DecodeChain(b []byte) ([][]byte, error) {
	if b == nil {
		return nil, nil
	}
	if len(b) == 0 || b[0] != chainFormat {
		return nil, fmt.Errorf("%w: unknown format", errChain)
	}
	b = b[1:]
	chain := [][]byte{}
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errChain
		}
		chain = append(chain, bytes.Clone(b[k:k+int(n)]))
		b = b[k+int(n):]
	}
	return chain, nil
}

// encodeDetails is the canonical JSON of a details map: keys sorted (as
// encoding/json sorts map keys), no HTML escaping, no whitespace. Callers
// have checked that every string is valid UTF-8, so nothing is replaced.
func encodeDetails(m map[string]string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		panic(err) // a map[string]string always encodes
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// appendDetails appends encodeDetails(m) to dst without encoding/json
// when no key or value needs escaping (the usual case), and through it
// otherwise: the result is always encodeDetails(m).
func appendDetails(dst []byte, m map[string]string) []byte {
	var stack [16]string // no allocation for the usual few details
	keys := stack[:0]
	for k, v := range m {
		if !plainJSON(k) || !plainJSON(v) {
			return append(dst, encodeDetails(m)...)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(append(append(dst, '"'), k...), `":"`...)
		dst = append(append(dst, m[k]...), '"')
	}
	return append(dst, '}')
}

// plainJSON reports whether encoding/json writes s between quotes as it
// is: valid UTF-8 without '"', '\\', control characters, U+2028 or U+2029
// (which it escapes even with HTML escaping off).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return utf8.ValidString(s) && !strings.ContainsAny(s, "\"\\\u2028\u2029") && !hasControl(s)
		}
	}
	return true
}

// hasControl reports whether s holds a byte below 0x20.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return true
		}
	}
	return false
}

// decodeDetails parses a details object; "{}" gives an empty, non-nil map.
// The canonical form encodeDetails writes is decoded by a fast path whose
// keys and values share s's memory; anything else (escapes, white space,
// keys out of order, malformed input) goes to encoding/json, so the result
// is always what json.Unmarshal gives.
func decodeDetails(s string) (map[string]string, error) {
	if m, ok := decodeCanonicalDetails(s); ok {
		return m, nil
	}
	m := map[string]string{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("stored details are malformed: %w", err)
	}
	return m, nil
}

// decodeCanonicalDetails decodes {"k":"v",...} with strictly ascending
// keys and strings that need no unescaping; ok is false for anything else.
func decodeCanonicalDetails(s string) (m map[string]string, ok bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	s = s[1 : len(s)-1]
	m = make(map[string]string, strings.Count(s, `":"`))
	prev := ""
	for i := 0; s != ""; i++ {
		k, rest, ok := plainJSONString(s)
		if !ok || (i > 0 && k <= prev) || !strings.HasPrefix(rest, ":") {
			return nil, false
		}
		v, rest, ok := plainJSONString(rest[1:])
		if !ok {
			return nil, false
		}
		m[k], prev = v, k
		if rest == "" {
			break
		}
		if rest[0] != ',' || len(rest) == 1 {
			return nil, false
		}
		s = rest[1:]
	}
	return m, true
}

// plainJSONString reads a JSON string at the start of s that holds no
// escape and no control character and is valid UTF-8, so that its contents
// are its value; it returns the value and the rest of s.
func plainJSONString(s string) (v, rest string, ok bool) {
	if s == "" || s[0] != '"' {
		return "", "", false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			v = s[1:i]
			return v, s[i+1:], utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", "", false
		}
	}
	return "", "", false
}
