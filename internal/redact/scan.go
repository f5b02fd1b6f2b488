package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// ScanForSecret reports whether haystack contains secret in a form a leak
// usually takes, and names the first form found. It is meant for tests and
// audits (run it over log output, error strings, HTTP responses, files),
// not for production paths.
//
// The forms, in the order they are tried:
//
//	raw          the bytes themselves
//	hex          lower-case hex, also with ':' or whitespace between bytes
//	HEX          upper-case hex, likewise
//	base64       standard alphabet, padded or not, at any byte alignment
//	base64url    URL alphabet, likewise
//	go %v        fmt's "[1 2 3]" form of a []byte, without the brackets
//	go %#v       fmt's "0x1, 0x2" form inside []byte{...}
//	go %q        strconv.Quote of the bytes, without the quotes
//
// Base64 and hex are matched after removing whitespace (and ':' for hex)
// from haystack, so a secret inside a line-wrapped PEM body, or a secret
// embedded at any offset of a larger DER structure that is PEM-encoded, is
// found. Alignment-shifted base64 matches need at least 8 stable
// characters, so for secrets shorter than 8 bytes only the aligned form is
// tried. An empty secret is never found.
func ScanForSecret(haystack, secret []byte) (form string, found bool) {
	if len(secret) == 0 {
		return "", false
	}
	if bytes.Contains(haystack, secret) {
		return "raw", true
	}
	hexHay := strip(haystack, " \t\r\n:")
	lower := hex.EncodeToString(secret)
	if bytes.Contains(hexHay, []byte(lower)) {
		return "hex", true
	}
	if bytes.Contains(hexHay, []byte(strings.ToUpper(lower))) {
		return "HEX", true
	}
	b64Hay := strip(haystack, " \t\r\n")
	for _, e := range []struct {
		form string
		enc  *base64.Encoding
	}{{"base64", base64.RawStdEncoding}, {"base64url", base64.RawURLEncoding}} {
		for _, s := range base64Forms(e.enc, secret) {
			if bytes.Contains(b64Hay, []byte(s)) {
				return e.form, true
			}
		}
	}
	goV := fmt.Sprint(secret)
	if bytes.Contains(haystack, []byte(goV[1:len(goV)-1])) {
		return "go %v", true
	}
	goSharp := fmt.Sprintf("%#v", secret)
	if bytes.Contains(haystack, []byte(goSharp[len("[]byte{"):len(goSharp)-1])) {
		return "go %#v", true
	}
	q := strconv.Quote(string(secret))
	if bytes.Contains(haystack, []byte(q[1:len(q)-1])) {
		return "go %q", true
	}
	return "", false
}

// base64Forms returns the characters of enc's encoding of secret that do
// not depend on the bytes around it, for each of the three alignments the
// secret can have inside a longer encoded message.
func base64Forms(enc *base64.Encoding, secret []byte) []string {
	forms := []string{enc.EncodeToString(secret)[:len(secret)*8/6]}
	if len(secret) < 8 {
		return forms
	}
	for k := 1; k <= 2; k++ {
		s := enc.EncodeToString(append(make([]byte, k), secret...))
		first := (8*k + 5) / 6            // characters that touch the k leading bytes
		last := 8 * (k + len(secret)) / 6 // characters made of whole bits
		forms = append(forms, s[first:last])
	}
	return forms
}

// strip returns b without any of the bytes in cut.
func strip(b []byte, cut string) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if strings.IndexByte(cut, c) < 0 {
			out = append(out, c)
		}
	}
	return out
}
