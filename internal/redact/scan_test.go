package redact_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"sealkeep/internal/redact"
)

// colonHex is openssl's "ab:cd:..." form, wrapped every 15 bytes.
func colonHex(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
			if i%15 == 0 {
				sb.WriteString("\n    ")
			}
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}

func TestScanForSecret(t *testing.T) {
	secret := testSecret("scan")
	filler := bytes.Repeat(testSecret("filler"), 4)
	der := func(offset int, s []byte) []byte { // s inside a larger structure
		return append(append(bytes.Clone(filler[:offset+20]), s...), filler[:7]...)
	}
	cases := []struct {
		name, form string
		encode     func([]byte) []byte
	}{
		{"raw", "raw", func(s []byte) []byte { return append([]byte("key="), s...) }},
		{"hex", "hex", func(s []byte) []byte { return []byte("k " + hex.EncodeToString(s) + " end") }},
		{"HEX", "HEX", func(s []byte) []byte { return []byte(strings.ToUpper(hex.EncodeToString(s))) }},
		{"colon hex", "hex", func(s []byte) []byte { return []byte("priv:\n    " + colonHex(s)) }},
		{"%x", "hex", func(s []byte) []byte { return []byte(fmt.Sprintf("err: %x", s)) }},
		{"% X", "HEX", func(s []byte) []byte { return []byte(fmt.Sprintf("% X", s)) }},
		{"base64", "base64", func(s []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(s)) }},
		{"raw base64", "base64", func(s []byte) []byte { return []byte(base64.RawStdEncoding.EncodeToString(s)) }},
		{"base64url", "base64url", func(s []byte) []byte { return []byte(base64.URLEncoding.EncodeToString(s)) }},
		{"raw base64url", "base64url", func(s []byte) []byte { return []byte(base64.RawURLEncoding.EncodeToString(s)) }},
		{"JSON []byte", "base64", func(s []byte) []byte { b, _ := json.Marshal(map[string][]byte{"k": s}); return b }},
		{"PEM", "base64", func(s []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "KEY", Bytes: s}) }},
		{"%v", "go %v", func(s []byte) []byte { return []byte(fmt.Sprintf("bad key %v", s)) }},
		{"%#v", "go %#v", func(s []byte) []byte { return []byte(fmt.Sprintf("%#v", struct{ K []byte }{s})) }},
		{"%q", "go %q", func(s []byte) []byte { return []byte(fmt.Sprintf("%q", s)) }},
	}
	for off := range 3 {
		cases = append(cases,
			struct {
				name, form string
				encode     func([]byte) []byte
			}{fmt.Sprintf("inside PEM-encoded DER at offset %d", off), "base64", func(s []byte) []byte {
				return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der(off, s)})
			}},
			struct {
				name, form string
				encode     func([]byte) []byte
			}{fmt.Sprintf("inside base64url DER at offset %d", off), "base64url", func(s []byte) []byte {
				return []byte(base64.RawURLEncoding.EncodeToString(der(off, s)))
			}})
	}
	for _, c := range cases {
		if form, found := redact.ScanForSecret(c.encode(secret), secret); !found || form != c.form {
			t.Errorf("%s: ScanForSecret = %q, %v; want %q, true", c.name, form, found, c.form)
		}
		// A secret that differs in its first, middle or last byte must not
		// be found: the scanner does not match loosely. (An unaligned base64
		// match ignores the outer 2 or 4 bits at each end; 0x3c avoids them.)
		for _, i := range []int{0, len(secret) / 2, len(secret) - 1} {
			other := bytes.Clone(secret)
			other[i] ^= 0x3c
			if form, found := redact.ScanForSecret(c.encode(other), secret); found {
				t.Errorf("%s: found %s form of a different secret (byte %d)", c.name, form, i)
			}
		}
	}
	if _, found := redact.ScanForSecret([]byte("anything"), nil); found {
		t.Errorf("an empty secret was found")
	}
}
