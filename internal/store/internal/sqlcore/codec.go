package sqlcore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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

// detailsEqual reports whether s is the canonical JSON of m, as
// encodeDetails writes it when no string needs escaping (keys ascending,
// no white space), without building a map; false means "decode s and
// compare" (it may still hold m in another form).
func detailsEqual(s string, m map[string]string) bool {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return false
	}
	s = s[1 : len(s)-1]
	n, prev := 0, ""
	for s != "" {
		k, rest, ok := plainJSONString(s)
		if !ok || (n > 0 && k <= prev) || !strings.HasPrefix(rest, ":") {
			return false
		}
		v, rest, ok := plainJSONString(rest[1:])
		if !ok {
			return false
		}
		if mv, ok := m[k]; !ok || mv != v {
			return false
		}
		n, prev = n+1, k
		if rest == "" {
			break
		}
		if rest[0] != ',' || len(rest) == 1 {
			return false
		}
		s = rest[1:]
	}
	return n == len(m)
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
