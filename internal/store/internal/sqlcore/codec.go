package sqlcore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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

// decodeDetails parses a details object; "{}" gives an empty, non-nil map.
func decodeDetails(s string) (map[string]string, error) {
	m := map[string]string{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("stored details are malformed: %w", err)
	}
	return m, nil
}
